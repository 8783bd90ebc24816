package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/vm/core/accounts"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/contract"
)

// Options tune a run. The zero value is the default.
type Options struct {
	// Log receives the engine's progress: the setup, then a line per
	// simulated hour, at Info level. nil: silent.
	Log *slog.Logger
	// ProviderLog receives the providers' own logs, each line with a
	// "provider" attribute. nil: silent.
	ProviderLog *slog.Logger
	// NoViewCache sends every warrant and key read of the providers to the
	// chain as a view call instead of the event-invalidated cache. The
	// report is the same, only slower; tests use it to show that.
	NoViewCache bool
	// NoSharedBlocks runs the providers' settlement work one provider after
	// the other, each request in a block of its own, instead of side by side
	// with their requests sharing blocks. Same report, more blocks.
	NoSharedBlocks bool

	faults faults
}

// faults plant bugs, so that tests can show the invariant checks catch
// them. Only tests in this package set them.
type faults struct {
	// dropSettles lists providers whose chain seam drops settle requests
	// while reporting success: a broken provider (check 3).
	dropSettles []int
	// ackUnstored, if > 0, is 1 + the index of a consumer whose payments
	// from ackUnstoredAfter on are acknowledged without reaching its
	// provider's intake: a provider that acknowledges what it never stored
	// (check 3).
	ackUnstored      int
	ackUnstoredAfter time.Duration
	// overSettle, if > 0, makes the simulation itself settle, after the
	// run, the first consumer with an open warrant for its acknowledged
	// total plus overSettle, signed with the payer's key outside the
	// consumer's book: a broken contract call (check 2).
	overSettle uint64
	// feeSkew mis-accounts consumer 0's gas fees by this much (check 1).
	feeSkew uint64
}

// reasonProviderDown is the rejection reason of a payment offered to a
// provider that is down: it never reached the provider.
const reasonProviderDown = "provider_down"

// setupBatch is how many setup requests (and revocations) share one block:
// every block costs a state commit, so fewer, fuller blocks are cheaper.
// 4,000 requests (2,000 consumers funded and their warrants opened) stay
// well within a block's gas limit.
const setupBatch = 4_000

// faucetChunk is the most one Fund call asks of Solo's faucet.
const faucetChunk = 900_000_000

// engine is one run.
type engine struct {
	ctx  context.Context
	sc   *Scenario
	opts Options
	log  *slog.Logger
	rng  *rand.Rand

	e       *solochain.Embedded
	views   *viewCache
	group   *blockGroup
	clock   *clock.Mock
	start   time.Time     // chain time of simulation time 0
	now     time.Duration // simulation time of the current step
	ended   bool          // past the scenario's duration: final settlement and drain
	reserve uint64        // the fee of each scheduled close, paid from its revoke deposit
	solvent Invariant     // InvContractSolvent, checked by sync after the blocks it scans

	syncMu       sync.Mutex
	nextBlock    uint32
	blocks       int
	contractFees uint64 // gas of the scheduled closes, paid from the deposits

	bank      party
	consumers []*consumer
	providers []*prov
	byAgent   map[string]any // agent bytes → *consumer, *prov or *party (the bank)

	queue    eventQueue
	seq      uint64      // events scheduled so far: the tie-break of the queue
	revoking []*consumer // revocations of this step, not sent yet
	cheats   []*cheat

	baselineL2 uint64 // chain's L2 total once the bank is funded
	startL2    uint64 // chain's L2 total before any funding

	rep     *Report
	notes   []string
	walls   struct{ setup, run, check time.Duration }
	started time.Time
}

// Run runs the scenario on a fresh embedded chain and checks the
// invariants (doc.go). It returns the report, and an error listing every
// invariant violation if there is any; an error with a nil report means
// the run itself failed. sc is not modified.
func Run(ctx context.Context, sc *Scenario, opts Options) (*Report, error) {
	s := *sc
	s.Downtime = append([]Downtime(nil), sc.Downtime...)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("sim: scenario %q: %w", s.Name, err)
	}
	g := &engine{ctx: ctx, sc: &s, opts: opts, log: opts.Log, rng: rand.New(rand.NewSource(s.Seed)), byAgent: map[string]any{},
		solvent: Invariant{Name: InvContractSolvent}}
	if g.log == nil {
		g.log = slog.New(discard{})
	}
	g.started = time.Now()
	rep, err := g.run()
	if err != nil {
		return nil, fmt.Errorf("sim: %s: %w", s.Name, err)
	}
	if v := rep.violations(); len(v) > 0 {
		failed := 0
		for _, inv := range rep.Invariants {
			failed += inv.Failed
		}
		return rep, fmt.Errorf("sim: %s: %d invariant violations:\n  %s", s.Name, failed, strings.Join(v, "\n  "))
	}
	return rep, nil
}

func (g *engine) run() (*Report, error) {
	t0 := time.Now()
	e, err := solochain.New(solochain.Options{Name: "sim-" + g.sc.Name, NoLedgerCheck: true})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	g.e = e
	g.views = newViewCache(e, g.sync, g.opts.NoViewCache)
	g.group = newBlockGroup(g)
	g.rep = newReport(g.sc)
	if err := g.setup(); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	g.walls.setup = time.Since(t0)
	g.log.Info("sim: setup done", "scenario", g.sc.Name, "consumers", len(g.consumers), "providers", len(g.providers),
		"blocks", g.blocks, "wall", g.walls.setup.Round(time.Millisecond))

	t1 := time.Now()
	if err := g.loop(); err != nil {
		return nil, err
	}
	if err := g.finish(); err != nil {
		return nil, fmt.Errorf("final settlement: %w", err)
	}
	if err := g.plantAfterRun(); err != nil {
		return nil, fmt.Errorf("planted fault: %w", err)
	}
	g.walls.run = time.Since(t1)

	t2 := time.Now()
	if err := g.check(); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	g.walls.check = time.Since(t2)
	g.fillReport()
	return g.rep, nil
}

// setup funds every party, opens the warrants, aligns the clock and starts
// the providers.
func (g *engine) setup() error {
	if err := solochain.Do(func() { g.startL2 = g.e.Chain.L2TotalBaseTokens() }); err != nil {
		return err
	}
	g.createParties()
	if err := g.fundBank(); err != nil {
		return err
	}
	if err := g.openWarrants(); err != nil {
		return err
	}
	// Simulation time 0 is the next midnight (UTC) of the chain's clock, so
	// that cron schedules such as "@daily" fall where one expects.
	now, err := g.e.Now(g.ctx)
	if err != nil {
		return err
	}
	g.start = now.Truncate(24 * time.Hour).Add(24 * time.Hour)
	if err := g.advanceTo(0); err != nil {
		return err
	}
	if err := g.startProviders(); err != nil {
		return err
	}
	g.scheduleEvents()
	return nil
}

// createParties derives the bank's, the providers' and the consumers' keys
// from the seed.
func (g *engine) createParties() {
	sc := g.sc
	g.bank = newParty(sc.Seed, "bank", 0)
	g.byAgent[g.bank.agentBytes] = &g.bank
	for i := range sc.Providers {
		pr := &prov{party: newParty(sc.Seed, "provider", i), idx: i}
		pr.hours = make([]HourStats, hours(time.Duration(sc.Duration)))
		for h := range pr.hours {
			pr.hours[h].Hour = h
		}
		g.providers = append(g.providers, pr)
		g.byAgent[pr.agentBytes] = pr
	}
	for i := range sc.Consumers {
		c := &consumer{party: newParty(sc.Seed, "consumer", i), idx: i, prov: i % sc.Providers, epoch: 1, revokeAt: -1}
		c.priv = c.key.GetPrivateKey().AsStdKey()
		g.consumers = append(g.consumers, c)
		g.byAgent[c.agentBytes] = c
		g.providers[c.prov].consumers++
	}
	for _, c := range g.consumers {
		c.w = chain.PaymentWarrant(g.e, c.agent, g.providers[c.prov].agent)
	}
}

// fundBank has the bank draw from Solo's faucet in chunks what every party
// gets and the transfers' fees. Everything after comes from the bank, so the
// chain's L2 total must not move from here on.
func (g *engine) fundBank() error {
	sc := g.sc
	need := uint64(len(g.consumers))*sc.Funding.Consumer + uint64(len(g.providers))*sc.Funding.Provider
	need += uint64(len(g.consumers)+len(g.providers))*10_000 + 1_000_000 // transfer fees
	for left := need; left > 0; {
		n := min(left, faucetChunk)
		if err := g.e.Fund(g.ctx, g.bank.agent, n); err != nil {
			return fmt.Errorf("fund the bank: %w", err)
		}
		g.bank.funded += n
		left -= n
	}
	return solochain.Do(func() {
		g.baselineL2 = g.e.Chain.L2TotalBaseTokens()
		g.nextBlock = g.e.Chain.LatestBlockIndex() + 1
		// The contract keeps this much of each revoke deposit: the fee of
		// the scheduled close's gas budget (docs/protocol.md §4).
		g.reserve = g.e.Chain.GetGasFeePolicy().FeeFromGas(contract.ScheduledCloseGas, nil, parameters.L1().BaseToken.Decimals)
	})
}

// openWarrants gives every party its funds and has every consumer open its
// warrant with its key registered: a consumer's funding and its addWarrant
// share a block (the transfer first), setupBatch requests to a block.
func (g *engine) openWarrants() error {
	sc := g.sc
	var items []setupItem
	give := func(pt *party, amount uint64) {
		pt.funded = amount
		items = append(items, setupItem{payer: &g.bank, req: solochain.BatchRequest{
			Signer: g.bank.key, Contract: accounts.Contract.Name, NoEvents: true,
			Request: chain.Request{
				Entry:     accounts.FuncTransferAllowanceTo.Name,
				Params:    dict.Dict{accounts.ParamAgentID: codec.EncodeAgentID(pt.agent)},
				Allowance: amount,
			},
		}})
	}
	for _, pr := range g.providers {
		give(&pr.party, sc.Funding.Provider)
	}
	ct := uint64(time.Duration(sc.Warrant.CloseTimeout) / time.Second)
	for _, c := range g.consumers {
		give(&c.party, sc.Funding.Consumer)
		col := &solochain.Collector{Chain: g.e}
		_, _ = chain.AddWarrant(g.ctx, col, c.key, chain.AddWarrantRequest{
			Provider: g.providers[c.prov].agent, Amount: sc.Warrant.Amount, CloseTimeout: ct, RegisterKey: true,
		})
		for _, it := range col.Items {
			items = append(items, setupItem{payer: &c.party, req: it})
		}
	}
	if err := g.runBatches(items); err != nil {
		return fmt.Errorf("open the warrants: %w", err)
	}
	for _, c := range g.consumers {
		if got := c.chainEpoch(1).added; got != sc.Warrant.Amount {
			return fmt.Errorf("consumer %d: the chain locked %d in its new warrant, want %d", c.idx, got, sc.Warrant.Amount)
		}
		c.deposited = sc.Warrant.Amount
	}
	return nil
}

// startProviders starts a provider.Provider per simulated provider, each on
// its own store and chain seam, all on one mock clock.
func (g *engine) startProviders() error {
	sc := g.sc
	sched, err := sc.schedule()
	if err != nil {
		return err
	}
	plog := g.opts.ProviderLog
	if plog == nil {
		plog = slog.New(discard{})
	}
	dropped := map[int]bool{}
	for _, i := range g.opts.faults.dropSettles {
		dropped[i] = true
	}
	for _, pr := range g.providers {
		pr.store = newRecordingStore()
		pr.seam = &providerSeam{Chain: g.views, pr: pr, group: g.group, dropSettles: dropped[pr.idx]}
		st := sc.Settlement
		pr.p, err = provider.New(g.ctx, provider.Config{
			Chain: pr.seam, Key: pr.key, Store: pr.store, Clock: g.clock,
			Margin: time.Duration(st.Margin), Threshold: st.Threshold, ExposureCap: st.ExposureCap,
			Schedule: sched, PollInterval: time.Duration(st.PollInterval), InfoMaxAge: time.Duration(st.InfoMaxAge),
			SettleBatch: st.Batch,
			Log:         plog.With("provider", pr.idx),
		})
		if err != nil {
			return fmt.Errorf("provider %d: %w", pr.idx, err)
		}
	}
	// The providers start before the first piece: their first RunOnce
	// (which resumes unfinished work) finds nothing to do.
	return g.runProviders(func(ctx context.Context, pr *prov) { pr.p.RunOnce(ctx) })
}

// setupItem is one request of a setup batch and the party that pays its fee.
type setupItem struct {
	req   solochain.BatchRequest
	payer *party
}

// runBatches runs items in blocks of setupBatch, charging each fee to its
// payer, and scans the blocks.
func (g *engine) runBatches(items []setupItem) error {
	for lo := 0; lo < len(items); lo += setupBatch {
		hi := min(lo+setupBatch, len(items))
		reqs := make([]solochain.BatchRequest, hi-lo)
		for i := range reqs {
			reqs[i] = items[lo+i].req
		}
		fees, err := runBatch(g.ctx, g.e, reqs)
		if err != nil {
			return err
		}
		for i, f := range fees {
			items[lo+i].payer.fees += f
		}
		if err := g.sync(); err != nil {
			return err
		}
	}
	return nil
}

// advanceTo moves the chain's clock to simulation time t (if it is not
// already past it: every block moves it on by a millisecond), waits for
// the scheduled closes that fell due, scans the new blocks and sets the
// providers' clock to the chain's time.
func (g *engine) advanceTo(t time.Duration) error {
	g.now = t
	target := g.start.Add(t)
	now, err := g.e.Now(g.ctx)
	if err != nil {
		return err
	}
	if d := target.Sub(now); d > 0 {
		if err := g.e.AdvanceClock(d); err != nil {
			return err
		}
	}
	if err := g.sync(); err != nil {
		return err
	}
	now, err = g.e.Now(g.ctx)
	if err != nil {
		return err
	}
	if g.clock == nil {
		g.clock = clock.NewMock()
	}
	if now.After(g.clock.Now()) {
		g.clock.Set(now) // one mock clock for every provider: O(1) per step
	}
	return nil
}

// loop runs the simulation proper: a step of the chain's clock at a time,
// the events due by then in order, then each provider's due settlement work.
func (g *engine) loop() error {
	step := time.Duration(g.sc.Step)
	end := time.Duration(g.sc.Duration)
	nextLog := time.Hour
	for t := step; ; t += step {
		t = min(t, end)
		if err := g.ctx.Err(); err != nil {
			return err
		}
		if err := g.advanceTo(t); err != nil {
			return fmt.Errorf("at %s: %w", Duration(t), err)
		}
		g.setDowntime(t)
		if err := g.runDue(t); err != nil {
			return fmt.Errorf("at %s: %w", Duration(t), err)
		}
		g.sampleExposure()
		if err := g.runProviders(func(ctx context.Context, pr *prov) { pr.p.RunOnce(ctx) }); err != nil {
			return fmt.Errorf("at %s: %w", Duration(t), err)
		}
		g.sampleExposure()
		if t >= nextLog || t == end {
			g.log.Info("sim: progress", "at", Duration(t).String(), "payments", g.rep.Payments.Attempted,
				"accepted", g.rep.Payments.Accepted, "blocks", g.blocks, "wall", time.Since(g.started).Round(time.Millisecond))
			nextLog += time.Hour
		}
		if t == end {
			return nil
		}
	}
}

func (g *engine) setDowntime(t time.Duration) {
	for _, pr := range g.providers {
		pr.down = false
	}
	if g.ended {
		return
	}
	for _, d := range g.sc.Downtime {
		if time.Duration(d.From) <= t && t < time.Duration(d.To) {
			g.providers[d.Provider].down = true
		}
	}
}

func (g *engine) sampleExposure() {
	if g.ended {
		return
	}
	for _, pr := range g.providers {
		pr.sampleExposure(g.now)
	}
}

// finish is the billing close at the end of the run: every provider comes
// back up and settles everything; then the clock runs on until every
// revoked warrant has been closed by its scheduled close, and the providers
// settle once more, recording the settlements they missed.
func (g *engine) finish() error {
	g.ended = true
	g.setDowntime(g.now)
	settleAll := func() error {
		errs, err := g.settleEverything()
		for i, err := range errs {
			if err != nil {
				g.note("provider %d: final settlement: %v", i, err)
			}
		}
		return err
	}
	if err := settleAll(); err != nil {
		return err
	}
	step := time.Duration(g.sc.Step)
	limit := g.now + time.Duration(g.sc.Warrant.CloseTimeout) + 2*step
	for g.openRevocations() > 0 {
		if g.now >= limit {
			return fmt.Errorf("%d revoked warrants still open at %s, past every deadline", g.openRevocations(), Duration(g.now))
		}
		if err := g.advanceTo(g.now + step); err != nil {
			return err
		}
		if err := g.runProviders(func(ctx context.Context, pr *prov) { pr.p.RunOnce(ctx) }); err != nil {
			return err
		}
	}
	if err := settleAll(); err != nil {
		return err
	}
	return g.sync()
}

// openRevocations counts revoked warrant epochs the chain has not closed.
func (g *engine) openRevocations() int {
	n := 0
	for _, c := range g.consumers {
		for i := range c.chain {
			if c.chain[i].revoked && !c.chain[i].closed {
				n++
			}
		}
	}
	return n
}

// note records something odd that is not an invariant violation.
func (g *engine) note(format string, args ...any) {
	g.notes = append(g.notes, fmt.Sprintf(format, args...))
}

func (g *engine) consumerOf(a isc.AgentID) (*consumer, bool) {
	c, ok := g.byAgent[string(a.Bytes())].(*consumer)
	return c, ok
}

func (g *engine) providerOf(a isc.AgentID) (*prov, bool) {
	p, ok := g.byAgent[string(a.Bytes())].(*prov)
	return p, ok
}

func (g *engine) partyOf(a isc.AgentID) *party {
	switch x := g.byAgent[string(a.Bytes())].(type) {
	case *consumer:
		return &x.party
	case *prov:
		return &x.party
	case *party:
		return x
	}
	return nil
}

// post sends a request of pt's through the shared seam and books its fee.
func (g *engine) post(pt *party, send func(chain.Chain) (*chain.Receipt, error)) error {
	rec, err := send(g.views)
	if rec != nil {
		pt.fees += rec.GasFee
	}
	return err
}

// discard is a slog handler that drops everything, cheaply.
type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }

func hours(d time.Duration) int { return int((d + time.Hour - 1) / time.Hour) }
