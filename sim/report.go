package sim

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run. It marshals to JSON with encoding/json
// (durations as strings such as "1h30m", amounts in base tokens); WriteText
// renders it for people. Every figure but the wall times is the same for
// the same scenario and seed.
type Report struct {
	Scenario    string   `json:"scenario"`
	Description string   `json:"description,omitempty"`
	Seed        int64    `json:"seed"`
	Duration    Duration `json:"duration"`
	Step        Duration `json:"step"`
	Consumers   int      `json:"consumers"`
	Providers   int      `json:"providers"`
	// Spec is the scenario as run, defaults filled in.
	Spec Scenario `json:"spec"`

	Payments    PaymentStats     `json:"payments"`
	Activity    ActivityStats    `json:"activity"`
	Cheats      []CheatStats     `json:"cheats"`
	Settlements SettlementStats  `json:"settlements"`
	Gas         GasStats         `json:"gas"`
	PerProvider []ProviderReport `json:"perProvider"`
	Losses      []Loss           `json:"losses"`
	Invariants  []Invariant      `json:"invariants"`
	Chain       ChainStats       `json:"chain"`
	Wall        WallStats        `json:"wall"`
	Notes       []string         `json:"notes,omitempty"`
}

// PaymentStats counts the payments offered to providers, cheats included.
type PaymentStats struct {
	Attempted int `json:"attempted"`
	Accepted  int `json:"accepted"`
	Rejected  int `json:"rejected"`
	// RejectedByReason counts rejections by the provider's reason
	// (provider.Rejection.Reason), plus "provider_down" for payments a
	// provider that was down never received.
	RejectedByReason map[string]int `json:"rejectedByReason"`
	// HonestRejectedByReason is the part of RejectedByReason that came from
	// honest payments (the consumer re-offers them at its next piece).
	HonestRejectedByReason map[string]int `json:"honestRejectedByReason"`
}

// ActivityStats counts what consumers did besides paying.
type ActivityStats struct {
	Revoked   int `json:"revoked"`
	TopUps    int `json:"topUps"`
	Exhausted int `json:"exhausted"` // consumers whose warrant ran out, top-ups used up
}

// CheatStats is the outcome of one kind of cheating attempt.
type CheatStats struct {
	Kind       string   `json:"kind"`
	Expected   string   `json:"expected"` // the rejection reason that must stop it
	Attempted  int      `json:"attempted"`
	AsExpected int      `json:"asExpected"`
	Skipped    int      `json:"skipped"` // no consumer could cheat this way at that time
	Unexpected []string `json:"unexpected,omitempty"`
}

// SettlementStats counts the providers' settlement records.
type SettlementStats struct {
	Attempts int `json:"attempts"` // settle requests sent
	Landed   int `json:"landed"`
	Rejected int `json:"rejected"` // the chain refused them
	Missed   int `json:"missed"`   // the warrant closed or its deadline passed first
	Unknown  int `json:"unknown"`  // no answer; retried
}

func (s *SettlementStats) add(o SettlementStats) {
	s.Attempts += o.Attempts
	s.Landed += o.Landed
	s.Rejected += o.Rejected
	s.Missed += o.Missed
	s.Unknown += o.Unknown
}

// GasStats sums gas fees in base tokens by who paid them.
type GasStats struct {
	Providers       uint64 `json:"providers"`
	Consumers       uint64 `json:"consumers"`
	Bank            uint64 `json:"bank"`            // funding the parties at setup
	ScheduledCloses uint64 `json:"scheduledCloses"` // from the revoke deposits' reserve
}

// ProviderReport is one provider's run.
type ProviderReport struct {
	Index           int             `json:"index"`
	Agent           string          `json:"agent"`
	Consumers       int             `json:"consumers"`
	Funded          uint64          `json:"funded"`
	Final           uint64          `json:"final"`
	Settled         uint64          `json:"settled"`         // paid to it on chain
	SettledAfterEnd uint64          `json:"settledAfterEnd"` // of which by the final settlement and drain
	GasFees         uint64          `json:"gasFees"`
	MaxExposure     uint64          `json:"maxExposure"` // most acknowledged-but-unsettled at any step
	Settlements     SettlementStats `json:"settlements"`
	Downtime        []Downtime      `json:"downtime,omitempty"`
	// Hours has one entry per simulated hour: what was settled in it and
	// the most the provider had acknowledged but not settled at any step.
	Hours []HourStats `json:"hours"`
}

// HourStats is one simulated hour of a provider.
type HourStats struct {
	Hour        int    `json:"hour"`
	Settled     uint64 `json:"settled"`
	MaxExposure uint64 `json:"maxExposure"`
}

// Loss is what a provider acknowledged in a warrant epoch and never got
// paid, with its cause.
type Loss struct {
	Provider     int      `json:"provider"`
	Consumer     int      `json:"consumer"`
	Epoch        uint32   `json:"epoch"`
	Acknowledged uint64   `json:"acknowledged"`
	Paid         uint64   `json:"paid"`
	Lost         uint64   `json:"lost"`
	RevokedAt    Duration `json:"revokedAt,omitempty"`
	Deadline     Duration `json:"deadline,omitempty"`
	Record       string   `json:"record"` // the provider's missed-settlement record
	Cause        string   `json:"cause"`
	Explained    bool     `json:"explained"`
}

// Invariant is the result of one invariant check.
type Invariant struct {
	Name       string   `json:"name"`
	OK         bool     `json:"ok"`
	Checked    int      `json:"checked"` // individual comparisons made
	Failed     int      `json:"failed"`
	Violations []string `json:"violations,omitempty"` // the first 50
}

// ChainStats describes the embedded chain over the run.
type ChainStats struct {
	Blocks                 int    `json:"blocks"`
	L2TotalBefore          uint64 `json:"l2TotalBefore"` // before any funding
	L2TotalFunded          uint64 `json:"l2TotalFunded"` // once the bank was funded
	L2TotalAfter           uint64 `json:"l2TotalAfter"`
	RevokeDepositsInFlight uint64 `json:"revokeDepositsInFlight"`
	ContractAccount        uint64 `json:"contractAccount"`
	ViewCacheHits          uint64 `json:"viewCacheHits"`
	ViewCacheMisses        uint64 `json:"viewCacheMisses"`
}

// WallStats is how long the run took on the wall clock.
type WallStats struct {
	SetupSeconds      float64 `json:"setupSeconds"`
	RunSeconds        float64 `json:"runSeconds"`
	CheckSeconds      float64 `json:"checkSeconds"`
	TotalSeconds      float64 `json:"totalSeconds"`
	PaymentsPerSecond float64 `json:"paymentsPerSecond"` // payments attempted per second of RunSeconds
}

func newReport(sc *Scenario) *Report {
	r := &Report{
		Scenario: sc.Name, Description: sc.Description, Seed: sc.Seed, Duration: sc.Duration, Step: sc.Step,
		Consumers: sc.Consumers, Providers: sc.Providers, Spec: *sc,
		Payments: PaymentStats{RejectedByReason: map[string]int{}, HonestRejectedByReason: map[string]int{}},
	}
	for k := range numCheatKinds {
		r.Cheats = append(r.Cheats, CheatStats{Kind: cheatNames[k], Expected: cheatExpected[k]})
	}
	return r
}

// fillReport copies the engine's tallies into the report.
func (g *engine) fillReport() {
	r := g.rep
	for _, c := range g.consumers {
		r.Gas.Consumers += c.fees
		if c.exhausted {
			r.Activity.Exhausted++
		}
	}
	r.Gas.Bank = g.bank.fees
	r.Gas.ScheduledCloses = g.contractFees
	for _, pr := range g.providers {
		st := pr.store.settlementStats()
		r.Settlements.add(st)
		r.Gas.Providers += pr.fees
		pp := ProviderReport{
			Index: pr.idx, Agent: pr.agent.String(), Consumers: pr.consumers,
			Funded: pr.funded, Final: pr.final, Settled: pr.settled, SettledAfterEnd: pr.settledAfterEnd,
			GasFees: pr.fees, MaxExposure: pr.maxExposure, Settlements: st, Hours: pr.hours,
		}
		for _, d := range g.sc.Downtime {
			if d.Provider == pr.idx {
				pp.Downtime = append(pp.Downtime, d)
			}
		}
		r.PerProvider = append(r.PerProvider, pp)
	}
	sort.SliceStable(r.Losses, func(i, j int) bool {
		a, b := r.Losses[i], r.Losses[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		return a.Consumer < b.Consumer
	})
	r.Chain.Blocks = g.blocks
	r.Chain.ViewCacheHits, r.Chain.ViewCacheMisses = g.views.hits, g.views.misses
	r.Notes = g.notes
	r.Wall = WallStats{
		SetupSeconds: g.walls.setup.Seconds(), RunSeconds: g.walls.run.Seconds(), CheckSeconds: g.walls.check.Seconds(),
		TotalSeconds: time.Since(g.started).Seconds(),
	}
	if s := g.walls.run.Seconds(); s > 0 {
		r.Wall.PaymentsPerSecond = float64(r.Payments.Attempted) / s
	}
}

// Violations lists every invariant violation, each prefixed with its
// invariant; nil when all hold.
func (r *Report) Violations() []string { return r.violations() }

func (r *Report) violations() []string {
	var out []string
	for _, inv := range r.Invariants {
		for _, v := range inv.Violations {
			out = append(out, inv.Name+": "+v)
		}
		if extra := inv.Failed - len(inv.Violations); extra > 0 {
			out = append(out, fmt.Sprintf("%s: ... and %d more", inv.Name, extra))
		}
	}
	return out
}

// OK reports whether every invariant held.
func (r *Report) OK() bool {
	for _, inv := range r.Invariants {
		if !inv.OK {
			return false
		}
	}
	return true
}

// WriteText renders the report for people.
func (r *Report) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	for _, section := range []func(*strings.Builder){
		r.textSummary, r.textCheats, r.textSettlements, r.textProviders, r.textHours, r.textLosses, r.textInvariants, r.textChain,
	} {
		section(b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// textTable is a right-aligned table written into b.
func textTable(b *strings.Builder) *tabwriter.Writer {
	return tabwriter.NewWriter(b, 0, 4, 2, ' ', tabwriter.AlignRight)
}

// textSummary writes the scenario and the payments.
func (r *Report) textSummary(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("scenario %s (seed %d): %d consumers, %d providers, %s in steps of %s\n",
		r.Scenario, r.Seed, r.Consumers, r.Providers, r.Duration, r.Step)
	if r.Description != "" {
		p("  %s\n", strings.TrimSpace(r.Description))
	}
	p("\npayments: %s attempted, %s accepted, %s rejected\n",
		num(r.Payments.Attempted), num(r.Payments.Accepted), num(r.Payments.Rejected))
	if len(r.Payments.RejectedByReason) > 0 {
		p("  rejected by reason (honest payments in brackets):\n")
		for _, k := range sortedKeys(r.Payments.RejectedByReason) {
			p("    %-24s %10s  (%s)\n", k, num(r.Payments.RejectedByReason[k]), num(r.Payments.HonestRejectedByReason[k]))
		}
	}
	p("consumers: %s revoked, %s top-ups, %s ran out\n", num(r.Activity.Revoked), num(r.Activity.TopUps), num(r.Activity.Exhausted))
}

// textCheats writes the cheats table and any unexpected outcome.
func (r *Report) textCheats(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\ncheats:\n")
	t := textTable(b)
	fmt.Fprintln(t, "  kind\texpected\tattempted\tas expected\tskipped\tunexpected\t")
	for _, c := range r.Cheats {
		fmt.Fprintf(t, "  %s\t%s\t%d\t%d\t%d\t%d\t\n", c.Kind, c.Expected, c.Attempted, c.AsExpected, c.Skipped, len(c.Unexpected))
	}
	t.Flush()
	for _, c := range r.Cheats {
		for _, u := range c.Unexpected {
			p("    ! %s\n", u)
		}
	}
}

// textSettlements writes the settlement counts and the gas fees.
func (r *Report) textSettlements(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	s := r.Settlements
	p("\nsettlements: %s sent, %s landed, %s rejected, %s missed, %s unknown outcome\n",
		num(s.Attempts), num(s.Landed), num(s.Rejected), num(s.Missed), num(s.Unknown))
	p("gas fees: providers %s, consumers %s, bank %s, scheduled closes %s\n",
		num(r.Gas.Providers), num(r.Gas.Consumers), num(r.Gas.Bank), num(r.Gas.ScheduledCloses))
}

// textProviders writes the per-provider table.
func (r *Report) textProviders(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\nproviders:\n")
	t := textTable(b)
	fmt.Fprintln(t, "  #\tconsumers\tfunded\tsettled\tof which at the end\tgas fees\tfinal\tmax exposure\tsettle sent\tlanded\tmissed\tdowntime\t")
	for _, pr := range r.PerProvider {
		var down []string
		for _, d := range pr.Downtime {
			down = append(down, fmt.Sprintf("%s-%s", d.From, d.To))
		}
		fmt.Fprintf(t, "  %d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t\n", pr.Index, pr.Consumers, num(pr.Funded), num(pr.Settled),
			num(pr.SettledAfterEnd), num(pr.GasFees), num(pr.Final), num(pr.MaxExposure),
			pr.Settlements.Attempts, pr.Settlements.Landed, pr.Settlements.Missed, strings.Join(down, " "))
	}
	t.Flush()
}

// textHours writes the per-hour table, when the run kept one.
func (r *Report) textHours(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if len(r.PerProvider) > 0 && len(r.PerProvider[0].Hours) > 0 {
		p("\nper simulated hour: settled / max exposure (acknowledged, not settled)\n")
		t := textTable(b)
		fmt.Fprint(t, "  hour\t")
		for _, pr := range r.PerProvider {
			fmt.Fprintf(t, "p%d settled\tp%d exposure\t", pr.Index, pr.Index)
		}
		fmt.Fprintln(t)
		for h := range r.PerProvider[0].Hours {
			fmt.Fprintf(t, "  %d\t", h)
			for _, pr := range r.PerProvider {
				fmt.Fprintf(t, "%s\t%s\t", num(pr.Hours[h].Settled), num(pr.Hours[h].MaxExposure))
			}
			fmt.Fprintln(t)
		}
		t.Flush()
	}
}

// textLosses writes the losses.
func (r *Report) textLosses(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\nlosses: %d\n", len(r.Losses))
	for _, l := range r.Losses {
		mark := "explained"
		if !l.Explained {
			mark = "UNEXPLAINED"
		}
		p("  provider %d, consumer %d, epoch %d: acknowledged %s, paid %s, lost %s (%s)\n    %s\n",
			l.Provider, l.Consumer, l.Epoch, num(l.Acknowledged), num(l.Paid), num(l.Lost), mark, l.Cause)
	}
}

// textInvariants writes each invariant's result.
func (r *Report) textInvariants(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\ninvariants:\n")
	for _, inv := range r.Invariants {
		mark := "ok  "
		if !inv.OK {
			mark = "FAIL"
		}
		p("  [%s] %s (%s checks", mark, inv.Name, num(inv.Checked))
		if inv.Failed > 0 {
			p(", %s failed", num(inv.Failed))
		}
		p(")\n")
		for _, v := range inv.Violations {
			p("         %s\n", v)
		}
		if extra := inv.Failed - len(inv.Violations); extra > 0 {
			p("         ... and %d more\n", extra)
		}
	}
}

// textChain writes the chain's totals, the wall times and the notes.
func (r *Report) textChain(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	c := r.Chain
	p("\nchain: %s blocks; L2 total %s before funding, %s funded, %s at the end (+%s revoke deposits in flight); contract account %s\n",
		num(c.Blocks), num(c.L2TotalBefore), num(c.L2TotalFunded), num(c.L2TotalAfter), num(c.RevokeDepositsInFlight), num(c.ContractAccount))
	p("view cache: %s hits, %s misses\n", num(c.ViewCacheHits), num(c.ViewCacheMisses))
	wl := r.Wall
	p("wall: setup %.1fs, run %.1fs, checks %.1fs, total %.1fs; %s payments per wall second\n",
		wl.SetupSeconds, wl.RunSeconds, wl.CheckSeconds, wl.TotalSeconds, num(int(wl.PaymentsPerSecond)))
	if len(r.Notes) > 0 {
		p("\nnotes:\n")
		for _, n := range r.Notes {
			p("  %s\n", n)
		}
	}
}

// String renders the report as WriteText does.
func (r *Report) String() string {
	var b strings.Builder
	_ = r.WriteText(&b)
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// num formats an integer with thousands separators.
func num[T ~int | ~uint64 | ~int64](v T) string {
	s := fmt.Sprint(v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
