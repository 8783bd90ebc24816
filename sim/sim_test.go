package sim

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/contract/payment"
)

var (
	long      = flag.Bool("sim.long", false, "also run telecom-day.yaml (and the consumer-count variant of -sim.consumers) and log the wall time")
	consumers = flag.Int("sim.consumers", 10_000, "consumers of the telecom-day variant run with -sim.long (0: skip it)")
	variantH  = flag.Duration("sim.hours", 2*time.Hour, "simulated duration of that variant")
)

func loadBuiltin(t testing.TB, name string) *Scenario {
	t.Helper()
	sc, err := Builtin(name)
	require.NoError(t, err)
	return sc
}

// quiet is the small scenario without revocations, downtime or cheats: a
// planted fault then is the only thing that can break an invariant.
func quiet(t testing.TB) *Scenario {
	sc := loadBuiltin(t, "small")
	sc.Duration = Duration(3 * time.Hour)
	sc.Revocations, sc.Downtime, sc.Cheaters = Revocations{}, nil, Cheaters{}
	return sc
}

func run(t testing.TB, sc *Scenario, opts Options) (*Report, error) {
	t.Helper()
	start := time.Now()
	rep, err := Run(context.Background(), sc, opts)
	t.Logf("scenario %s (seed %d): %s wall", sc.Name, sc.Seed, time.Since(start).Round(time.Millisecond))
	return rep, err
}

func TestSmallScenarioHoldsEveryInvariant(t *testing.T) {
	sc := loadBuiltin(t, "small")
	rep, err := run(t, sc, Options{})
	require.NoError(t, err)
	t.Log("\n" + rep.String())
	require.True(t, rep.OK())
	require.Empty(t, rep.Violations())
	require.Len(t, rep.Invariants, 5)
	for _, inv := range rep.Invariants {
		require.True(t, inv.OK, inv.Name)
		require.Positive(t, inv.Checked, inv.Name)
	}

	p := rep.Payments
	require.Equal(t, p.Attempted, p.Accepted+p.Rejected)
	require.Greater(t, p.Accepted, 1000)
	require.Positive(t, p.HonestRejectedByReason[reasonProviderDown], "provider 1 is down for 90 minutes")
	require.Equal(t, 5, rep.Activity.Revoked, "a quarter of 20 consumers")
	for _, c := range rep.Cheats {
		require.Equal(t, 1, c.Attempted, c.Kind)
		require.Equal(t, 1, c.AsExpected, c.Kind)
	}
	require.Positive(t, rep.Settlements.Landed)
	require.Zero(t, rep.Settlements.Rejected)
	for _, l := range rep.Losses {
		require.True(t, l.Explained, l.Cause)
	}
	require.Len(t, rep.PerProvider, 2)
	for _, pr := range rep.PerProvider {
		require.Len(t, pr.Hours, 6)
		require.Positive(t, pr.Settled)
		require.Positive(t, pr.MaxExposure)
		require.Equal(t, int64(pr.Funded)+int64(pr.Settled)-int64(pr.GasFees), int64(pr.Final))
	}
	require.Equal(t, rep.Chain.L2TotalFunded, rep.Chain.L2TotalAfter+rep.Chain.RevokeDepositsInFlight)

	// JSON: every section is there, durations as strings.
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"payments", "cheats", "settlements", "gas", "perProvider", "losses", "invariants", "chain", "wall"} {
		require.Contains(t, m, k)
	}
	require.Equal(t, "6h", m["duration"])
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, rep.Payments, back.Payments)

	text := rep.String()
	for _, want := range []string{"payments:", "cheats:", "settlements:", "per simulated hour", "invariants:", "[ok  ] funds conserved"} {
		require.Contains(t, text, want)
	}
}

// The view cache and the shared blocks are optimisations: turning them off
// must not change a single figure, and two runs of a seed agree.
func TestRunsAreDeterministicAndOptimisationsChangeNothing(t *testing.T) {
	sc := loadBuiltin(t, "small")
	base, err := run(t, sc, Options{})
	require.NoError(t, err)
	again, err := run(t, sc, Options{})
	require.NoError(t, err)
	plain, err := run(t, sc, Options{NoViewCache: true, NoSharedBlocks: true})
	require.NoError(t, err)
	require.Zero(t, plain.Chain.ViewCacheHits)

	norm := func(r *Report) string {
		c := *r
		c.Wall = WallStats{}
		c.Chain.Blocks, c.Chain.ViewCacheHits, c.Chain.ViewCacheMisses = 0, 0, 0
		// Solvency is checked once per sync, and shared blocks change how many.
		c.Invariants = append([]Invariant(nil), c.Invariants...)
		for i := range c.Invariants {
			if c.Invariants[i].Name == InvContractSolvent {
				c.Invariants[i].Checked = 0
			}
		}
		b, err := json.MarshalIndent(c, "", " ")
		require.NoError(t, err)
		return string(b)
	}
	require.Equal(t, norm(base), norm(again), "same seed, same report")
	require.Equal(t, norm(base), norm(plain), "no cache, no shared blocks: same report")
	require.GreaterOrEqual(t, plain.Chain.Blocks, base.Chain.Blocks)

	sc.Seed++
	other, err := run(t, sc, Options{})
	require.NoError(t, err)
	require.NotEqual(t, norm(base), norm(other), "another seed, another run")
}

func TestCheatersAndFaultsScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("about 10 s")
	}
	sc := loadBuiltin(t, "cheaters-and-faults")
	rep, err := run(t, sc, Options{})
	require.NoError(t, err)
	t.Log("\n" + rep.String())
	for _, c := range rep.Cheats {
		require.Positive(t, c.AsExpected, c.Kind)
		require.Empty(t, c.Unexpected, c.Kind)
	}
	require.NotEmpty(t, rep.Losses, "revoke deadlines pass while providers are down")
	for _, l := range rep.Losses {
		require.True(t, l.Explained)
		require.Contains(t, l.Cause, "passed during the downtime")
		require.Equal(t, l.Acknowledged-l.Paid, l.Lost)
	}
	require.Equal(t, len(rep.Losses), rep.Settlements.Missed)
	require.Positive(t, rep.Activity.TopUps)
	require.Positive(t, rep.Payments.HonestRejectedByReason["exposure_cap"], "the exposure cap turns payments away until settled")
}

// violations returns the report's violations of the named invariant.
func violationsOf(rep *Report, name string) []string {
	for _, inv := range rep.Invariants {
		if inv.Name == name {
			return inv.Violations
		}
	}
	return nil
}

func requireViolation(t *testing.T, rep *Report, err error, inv string, contains ...string) {
	t.Helper()
	require.Error(t, err)
	require.NotNil(t, rep, "a failed check still returns the report")
	require.False(t, rep.OK())
	v := violationsOf(rep, inv)
	require.NotEmpty(t, v, "invariant %q must fail; violations: %v", inv, rep.Violations())
	for _, c := range contains {
		require.Contains(t, strings.Join(v, "\n"), c)
	}
	require.Contains(t, err.Error(), inv)
	t.Logf("caught: %s", v[0])
}

// (a) A broken provider: its chain seam drops every settle request while
// reporting success, so what it acknowledged is never paid. Check 3.
func TestCatchesProviderThatDropsSettlements(t *testing.T) {
	sc := quiet(t)
	rep, err := run(t, sc, Options{faults: faults{dropSettles: []int{0}}})
	requireViolation(t, rep, err, InvAcknowledgedPaid, "provider 0 acknowledged", "recorded no missed settlement")
	require.Empty(t, violationsOf(rep, InvFundsConserved), "the books still balance: nothing moved")
	for _, v := range violationsOf(rep, InvAcknowledgedPaid) {
		require.Contains(t, v, "provider 0", "provider 1 is healthy")
	}
}

// (a') A provider that acknowledges payments without storing them: from
// 2h on, consumer 3's payments are acknowledged but never reach the
// provider's intake, so it settles less than it acknowledged. Check 3.
func TestCatchesProviderThatAcknowledgesWithoutStoring(t *testing.T) {
	sc := quiet(t)
	rep, err := run(t, sc, Options{faults: faults{ackUnstored: 3 + 1, ackUnstoredAfter: 2 * time.Hour}})
	requireViolation(t, rep, err, InvAcknowledgedPaid, "consumer 3 epoch 1", "recorded no missed settlement")
	require.Len(t, violationsOf(rep, InvAcknowledgedPaid), 1)
}

// (b) A broken contract call: after the run the simulation settles
// consumer 0's warrant with a payment for more than the consumer ever
// signed, forged with the payer's key. Check 2 (and 3: more than
// acknowledged).
func TestCatchesSettlementAboveWhatWasSigned(t *testing.T) {
	sc := quiet(t)
	rep, err := run(t, sc, Options{faults: faults{overSettle: 5_000}})
	requireViolation(t, rep, err, InvChargedAsSigned, "consumer 0 epoch 1", "highest total the consumer signed")
	requireViolation(t, rep, err, InvAcknowledgedPaid, "more than the")
	require.Empty(t, violationsOf(rep, InvFundsConserved), "the money that moved is accounted for")
}

// (b') A mis-accounted fee: one base token of consumer 0's gas fees
// booked wrong. Check 1, to the token.
func TestCatchesMisaccountedFee(t *testing.T) {
	sc := quiet(t)
	rep, err := run(t, sc, Options{faults: faults{feeSkew: 1}})
	requireViolation(t, rep, err, InvFundsConserved, "consumer 0: funded", "off by +1", "consumer 0: the sim booked")
	require.Len(t, violationsOf(rep, InvFundsConserved), 2)
	require.Empty(t, violationsOf(rep, InvChargedAsSigned))
	require.Empty(t, violationsOf(rep, InvAcknowledgedPaid))
}

func TestBuiltinScenarios(t *testing.T) {
	names := Builtins()
	require.Equal(t, []string{"cheaters-and-faults.yaml", "small.yaml", "telecom-day-10k.yaml", "telecom-day.yaml"}, names)
	for _, n := range names {
		sc, err := Load("scenarios/" + n)
		require.NoError(t, err, n)
		b, err := Builtin(strings.TrimSuffix(n, ".yaml"))
		require.NoError(t, err)
		require.Equal(t, sc, b)
	}
	day := loadBuiltin(t, "telecom-day")
	pieces := time.Duration(day.Duration) / time.Duration(day.Pieces.Interval)
	require.Equal(t, 288_000, day.Consumers*int(pieces), "1,000 consumers × 24 h × a piece every 5 min")
	big := loadBuiltin(t, "telecom-day-10k")
	pieces = time.Duration(big.Duration) / time.Duration(big.Pieces.Interval)
	require.Equal(t, 2_880_000, big.Consumers*int(pieces), "10,000 consumers × 24 h × a piece every 5 min")
	_, err := Load("nope.yaml")
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestScenarioDefaults(t *testing.T) {
	sc, err := Parse([]byte(`
name: d
seed: 1
duration: 2d
consumers: 3
providers: 1
pieces: {interval: 10m, price: 5}
warrant: {amount: 1000000}
settlement: {schedule: "@daily"}
`))
	require.NoError(t, err)
	require.Equal(t, Duration(48*time.Hour), sc.Duration)
	require.Equal(t, DefaultStep, sc.Step)
	require.Equal(t, Duration(time.Hour), sc.Warrant.CloseTimeout)
	require.Equal(t, Duration(10*time.Minute), sc.Settlement.Margin)
	require.Equal(t, Duration(5*time.Minute), sc.Settlement.PollInterval)
	require.Equal(t, uint64(2_000_000), sc.Funding.Consumer)
	require.Equal(t, uint64(DefaultProviderFunding), sc.Funding.Provider)
	s, err := sc.schedule()
	require.NoError(t, err)
	require.NotNil(t, s)

	sc.Settlement.Schedule = "90m"
	s, err = sc.schedule()
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 1, 1, 1, 30, 0, 0, time.UTC), s.Next(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)))
}

func TestScenarioRejects(t *testing.T) {
	base := `
name: x
seed: 1
duration: 6h
consumers: 4
providers: 2
pieces: {interval: 5m, jitter: 1m, price: 100}
warrant: {amount: 1000000, closeTimeout: 1h}
`
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown field", base + "colour: blue\n", "field colour not found"},
		{"bad duration", strings.Replace(base, "6h", "six hours", 1), "duration"},
		{"no name", strings.Replace(base, "name: x", "name: \"\"", 1), "name is required"},
		{"jitter not below interval", strings.Replace(base, "jitter: 1m", "jitter: 5m", 1), "pieces.jitter"},
		{"warrant below the minimum", strings.Replace(base, "amount: 1000000", "amount: 999999", 1), "below the contract's minimum"},
		{"close timeout out of bounds", strings.Replace(base, "closeTimeout: 1h", "closeTimeout: 30s", 1), "warrant.closeTimeout"},
		{"poll not below margin", base + "settlement: {margin: 5m, pollInterval: 5m}\n", "pollInterval"},
		{"step not below margin", base + "step: 10m\n", "step 10m must be below settlement.margin"},
		{"exposure cap below a piece", base + "settlement: {exposureCap: 99}\n", "exposureCap 99"},
		{"bad cron", base + "settlement: {schedule: \"every tuesday\"}\n", "settlement.schedule"},
		{"downtime of a provider that does not exist", base + "downtime: [{provider: 2, from: 1h, to: 2h}]\n", "downtime[0].provider 2"},
		{"empty downtime", base + "downtime: [{provider: 0, from: 2h, to: 1h}]\n", "downtime[0]"},
		{"revocations outside the run", base + "revocations: {fraction: 0.5, from: 1h, to: 7h}\n", "revocations window"},
		{"fraction above 1", base + "revocations: {fraction: 1.5}\n", "revocations.fraction"},
		{"foreign settle with one provider", strings.Replace(base, "providers: 2", "providers: 1", 1) + "cheaters: {foreignSettle: 1}\n", "at least 2 providers"},
		{"top-up without an amount", strings.Replace(base, "closeTimeout: 1h}", "closeTimeout: 1h, topUp: {below: 5}}", 1), "topUp needs an amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := Parse([]byte(base))
	require.NoError(t, err, "the base is valid")
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "1h30m": 90 * time.Minute, "2d": 48 * time.Hour} {
		d, err := ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, time.Duration(d))
	}
	require.Equal(t, "24h", Duration(24*time.Hour).String())
	require.Equal(t, "1h30m", Duration(90*time.Minute).String())
	require.Equal(t, "1m30s", Duration(90*time.Second).String())
	require.Equal(t, "2h0m5s", Duration(2*time.Hour+5*time.Second).String())
	_, err := ParseDuration("xd")
	require.Error(t, err)
	b, err := json.Marshal(Duration(5 * time.Minute))
	require.NoError(t, err)
	require.Equal(t, `"5m"`, string(b))
}

// TestTelecomDay runs telecom-day.yaml (288,000 payments) and, with
// -sim.consumers, a variant with that many consumers over -sim.hours; it
// logs the reports and wall times. Run with:
//
//	go test -run TestTelecomDay -sim.long -v -timeout 60m ./sim/
func TestTelecomDay(t *testing.T) {
	if !*long {
		t.Skip("takes minutes: run with -sim.long")
	}
	opts := Options{Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	sc := loadBuiltin(t, "telecom-day")
	rep, err := run(t, sc, opts)
	require.NoError(t, err)
	t.Log("\n" + rep.String())
	honest := rep.Payments.Attempted - cheatPayments(rep)
	require.LessOrEqual(t, honest, 288_000+sc.Consumers, "at most a piece every 5 minutes, give or take the jitter")
	t.Logf("honest payment offers: %d (revoked consumers stop buying)", honest)

	if *consumers > 0 {
		v := loadBuiltin(t, "telecom-day")
		v.Name = "telecom-variant"
		v.Consumers = *consumers
		v.Description = fmt.Sprintf("telecom-day with %d consumers for %s", *consumers, Duration(*variantH))
		v.Duration = Duration(*variantH)
		v.Revocations.From, v.Revocations.To = v.Duration/4, v.Duration*3/4
		v.Downtime = []Downtime{{Provider: 3, From: v.Duration / 3, To: v.Duration / 2}}
		rep, err := run(t, v, opts)
		require.NoError(t, err)
		t.Log("\n" + rep.String())
	}
}

func cheatPayments(rep *Report) int {
	n := 0
	for _, c := range rep.Cheats {
		if c.Expected != expectChainRejects {
			n += c.Attempted - c.Skipped
		}
	}
	return n
}

// BenchmarkSmall runs the small scenario; it reports payments offered per
// second of wall time.
func BenchmarkSmall(b *testing.B) {
	sc := loadBuiltin(b, "small")
	var payments int
	start := time.Now()
	for range b.N {
		rep, err := Run(context.Background(), sc, Options{})
		if err != nil {
			b.Fatal(err)
		}
		payments += rep.Payments.Attempted
	}
	b.ReportMetric(float64(payments)/time.Since(start).Seconds(), "payments/s")
}

func ExampleRun() {
	sc, err := Builtin("small")
	if err != nil {
		panic(err)
	}
	rep, err := Run(context.Background(), sc, Options{})
	if err != nil {
		panic(err) // an invariant violation, listed
	}
	fmt.Println("payments attempted:", rep.Payments.Attempted)
	for _, inv := range rep.Invariants {
		fmt.Printf("%v: %s\n", inv.OK, inv.Name)
	}
	// Output:
	// payments attempted: 1177
	// true: funds conserved
	// true: no consumer charged more than it signed
	// true: every acknowledged payment settled unless its provider missed the deadline
	// true: cheaters rejected, no funds moved
	// true: the contract holds at least the sum of its warrants after every sync
}

// TestSignPaymentIsPaymentSign: the consumers' faster signer gives the very
// bytes payment.Sign gives, over seeded random keys, warrants and figures.
func TestSignPaymentIsPaymentSign(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	for i := range 200 {
		pt := newParty(seed, "consumer", i)
		priv := pt.key.GetPrivateKey().AsStdKey()
		w := payment.Warrant{Contract: rng.Uint32(), Payer: pt.agent.Bytes(), Provider: newParty(seed, "provider", i).agent.Bytes()}
		rng.Read(w.ChainID[:])
		epoch, ordinal, total := rng.Uint32(), rng.Uint64(), rng.Uint64()
		require.Equal(t, payment.Sign(priv, w, epoch, ordinal, total), signPayment(priv, w, epoch, ordinal, total))
	}
}
