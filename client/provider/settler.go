package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/store"
)

// Outcomes of a settlement attempt, as metrics label them.
const (
	OutcomeLanded   = "landed"   // the chain paid the provider
	OutcomeRejected = "rejected" // the chain refused the request
	OutcomeUnknown  = "unknown"  // no answer; retried after reconciling
	OutcomeMissed   = "missed"   // the warrant closed or its deadline passed first
)

// settlePolicy is what Config says about when warrants are due and how
// they go out.
type settlePolicy struct {
	margin, pollInterval   time.Duration
	retryMin, retryMax     time.Duration
	threshold, exposureCap uint64
	schedule               Schedule
	batch, inFlight        int // warrants per request, bulk requests at once
}

// settlementStore is what the settler needs of the store. A store that is
// also a store.SettlementSaver saves each request's records in one write.
type settlementStore interface {
	SaveSettlement(ctx context.Context, s store.Settlement) error
	LastSettlement(ctx context.Context, w store.WarrantID) (store.Settlement, bool, error)
}

// settlerConfig is what a settler is made of. The chain is the whole
// chain.Chain because the request builders (chain.Settle, SettleMany) take
// one; the settler posts, reads warrants and reads chain time.
type settlerConfig struct {
	chain   chain.Chain
	store   settlementStore
	key     *cryptolib.KeyPair
	agent   isc.AgentID
	clock   clock.Clock
	log     *slog.Logger
	metrics *Metrics
	policy  settlePolicy
	// warrants lists the provider's warrants with receipts, by payer; read
	// records a warrant's chain state in it; following reports whether the
	// event feed is live.
	warrants  func() []*warrant
	read      func(context.Context, *warrant) error
	following func() bool
}

// settler settles a provider's warrants: triggered ones (a revocation, a
// threshold, the exposure cap) at once, revoked ones first by deadline and
// in requests of their own; every warrant with payments pending on the
// schedule; unknown outcomes again after a backoff. It batches warrants
// into settleMany requests and keeps policy.inFlight of them in flight,
// the chain client giving each the signer's next nonce. Its state is its
// own: the queue of triggered warrants, the warrants in a request (a
// warrant is in at most one), the retries; the warrants' cached chain state
// is read and updated under each warrant's lock, never across I/O.
type settler struct {
	settlerConfig
	kick chan struct{} // something was queued or requeued

	mu       sync.Mutex
	released *sync.Cond // a claim ended
	queue    dueQueue
	busy     map[store.WarrantID]bool     // in a request being prepared or in flight
	aside    map[store.WarrantID]dueEntry // triggered while busy: queued again on release
	retries  map[store.WarrantID]*retryState

	// The driver's (run or runOnce) alone.
	started      bool
	nextPoll     time.Time
	nextSchedule time.Time
}

func newSettler(cfg settlerConfig) *settler {
	s := &settler{
		settlerConfig: cfg, kick: make(chan struct{}, 1), queue: newDueQueue(),
		busy: map[store.WarrantID]bool{}, aside: map[store.WarrantID]dueEntry{}, retries: map[store.WarrantID]*retryState{},
	}
	s.released = sync.NewCond(&s.mu)
	return s
}

// Run settles until ctx is done: first it reconciles settlements a previous
// run left unfinished and settles what is pending, then it settles on
// triggers (threshold, exposure cap, revocation), on the schedule and on
// retries. With Config.Feed it follows the chain's events meanwhile (a
// revocation or a close triggers a settlement as its block is made) and
// polls only while the feed is down; without, it polls warrants with
// unsettled payments for revocations. Cancel ctx to stop it; it returns nil
// then, once the watcher has stopped too. Run and RunOnce must not be used
// together.
func (p *Provider) Run(ctx context.Context) error {
	if p.watch != nil {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = p.watch.Run(wctx, follower{p})
		}()
		defer func() { cancel(); <-done }()
	}
	p.settler.run(ctx)
	return nil
}

// RunOnce does, synchronously, the settlement work due at the provider
// clock's current time: on its first call what Run does on start (resume
// unfinished settlements, settle pending payments), then triggered
// warrants, every PollInterval a poll for revocations (while the event
// feed is live instead a settlement of revoked warrants paid since, from
// the state the events keep, without a read), the schedule and due
// retries. Work goes out in settleMany batches of Config.SettleBatch
// warrants; revoked warrants, by deadline, and warrants triggered meanwhile
// go out before any batch not yet sent, revoked ones at once in requests of
// their own. Simulations drive a provider with it and a mock clock instead
// of Run, for deterministic runs.
func (p *Provider) RunOnce(ctx context.Context) { p.settler.runOnce(ctx) }

func (s *settler) run(ctx context.Context) {
	s.runOnce(ctx)
	for {
		var wake <-chan time.Time
		if at, ok := s.nextWork(); ok {
			wake = s.clock.After(max(at.Sub(s.clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-wake:
		}
		s.runOnce(ctx)
	}
}

func (s *settler) runOnce(ctx context.Context) {
	now := s.clock.Now()
	if !s.started {
		s.started = true
		s.nextPoll = now.Add(s.policy.pollInterval)
		if s.policy.schedule != nil {
			s.nextSchedule = s.policy.schedule.Next(now)
		}
		s.resume(ctx)
	}
	s.logSettled(s.settleAll(ctx, nil, "trigger"))
	if !now.Before(s.nextPoll) {
		if s.following() {
			s.settleRevokedPending(ctx)
		} else {
			s.poll(ctx)
		}
		s.nextPoll = now.Add(s.policy.pollInterval)
	}
	if s.policy.schedule != nil && !now.Before(s.nextSchedule) {
		s.logSettled(s.settleAll(ctx, s.warrants(), "schedule"))
		s.nextSchedule = s.policy.schedule.Next(now)
	}
	s.logSettled(s.settleAll(ctx, s.dueRetries(now), "retry"))
}

// nextWork returns the clock time of the next poll, scheduled settlement
// or retry.
func (s *settler) nextWork() (time.Time, bool) {
	at := s.nextPoll
	if s.policy.schedule != nil && s.nextSchedule.Before(at) {
		at = s.nextSchedule
	}
	if r, ok := s.earliestRetry(); ok && r.Before(at) {
		at = r
	}
	return at, s.started
}

// stillDue reports whether a triggered warrant still needs settling: a
// settlement that landed since the trigger may have covered it, and a
// warrant closed before its newest payment was settled has its loss
// recorded.
func (s *settler) stillDue(w *warrant) bool {
	st := w.state()
	if st.closedUnsettled() {
		return true
	}
	if !st.pendingOrdinal() {
		return false
	}
	u := st.unsettled()
	return st.info.Revoked() ||
		(s.policy.threshold > 0 && u >= s.policy.threshold) ||
		(s.policy.exposureCap > 0 && 2*u >= s.policy.exposureCap)
}

// resume finishes what an earlier run left, in batches as a schedule does:
// a settlement recorded as Submitted is reconciled (and completed), and a
// warrant that is due (threshold, exposure, revoked) is settled. Other
// pending payments wait for their trigger or the schedule as they would
// have. It reads every warrant: the store holds no chain state.
func (s *settler) resume(ctx context.Context) {
	var due []*warrant
	for _, w := range s.warrants() {
		if err := s.read(ctx, w); err != nil {
			s.log.Warn("resume: read warrant", "payer", w.payer.String(), "err", err)
		}
		last, ok, err := s.store.LastSettlement(ctx, w.id)
		if err != nil {
			s.log.Warn("resume: read last settlement", "payer", w.payer.String(), "err", err)
			continue
		}
		if ok && last.State == store.Submitted {
			s.markUnfinished(w, last.Attempt)
			due = append(due, w)
		} else if s.stillDue(w) {
			due = append(due, w)
		}
	}
	s.logSettled(s.settleAll(ctx, due, "resume"))
}

// poll re-reads warrants that have unsettled payments; the revoked ones
// are settled at once.
func (s *settler) poll(ctx context.Context) {
	var revoked []*warrant
	for _, w := range s.warrants() {
		if st := w.state(); !st.pendingOrdinal() && !st.closedUnsettled() && !w.neverRead() {
			continue // nothing unsettled: a revocation costs nothing
		}
		wasRevoked := w.state().info.Revoked()
		if err := s.read(ctx, w); err != nil {
			s.log.Warn("poll warrant", "payer", w.payer.String(), "err", err)
			continue
		}
		st := w.state()
		if (st.pendingOrdinal() || st.closedUnsettled()) && st.info.Revoked() {
			if wasRevoked {
				s.log.Info("poll: revoked warrant still pending", "payer", w.payer.String())
			}
			revoked = append(revoked, w)
		}
	}
	s.logSettled(s.settleAll(ctx, revoked, "revoked"))
}

// settleRevokedPending settles the revoked warrants that have payments
// pending, as the provider's state (kept by the event feed) shows them,
// without reading the chain: payments accepted after the revocation's event
// triggered nothing, since nothing was pending then. A poll would settle
// them, at the same pace; the events made the read unnecessary.
func (s *settler) settleRevokedPending(ctx context.Context) {
	var revoked []*warrant
	for _, w := range s.warrants() {
		if st := w.state(); st.pendingOrdinal() && st.info.Revoked() {
			revoked = append(revoked, w)
		}
	}
	s.logSettled(s.settleAll(ctx, revoked, "revoked, paid since"))
}

// logSettled logs each result of settleAll.
func (s *settler) logSettled(rs []settled) {
	for _, r := range rs {
		switch {
		case r.err != nil:
			s.log.Warn("settle", "payer", r.w.payer.String(), "why", r.why, "err", r.err)
		case r.s != nil:
			s.log.Info("settle", "payer", r.w.payer.String(), "why", r.why, "state", stateName(r.s.State),
				"epoch", r.s.Epoch, "ordinal", r.s.Ordinal, "total", r.s.Total, "paid", r.s.Paid, "attempt", r.s.Attempt, "error", r.s.Error)
		}
	}
}

// SettleNow settles the warrant of payer (nil: every warrant, in batches
// as a schedule does, and whatever is triggered meanwhile) at once and
// returns the settlements it made; warrants with nothing to settle are left
// out. Settling one warrant costs that warrant alone; it waits while the
// warrant is in a request in flight.
func (p *Provider) SettleNow(ctx context.Context, payer *store.WarrantID) ([]store.Settlement, error) {
	s := p.settler
	var rs []settled
	if payer == nil {
		rs = s.settleAll(ctx, s.warrants(), "now")
	} else {
		p.mu.Lock()
		w := p.warrants[*payer]
		p.mu.Unlock()
		if w == nil || !w.state().has {
			return nil, nil
		}
		s.claimWait(w)
		rs = s.settleBatch(ctx, []*warrant{w}, "now")
		s.release([]*warrant{w})
	}
	var out []store.Settlement
	var errs []error
	for _, r := range rs {
		if r.s != nil {
			out = append(out, *r.s)
		}
		if r.err != nil {
			errs = append(errs, fmt.Errorf("warrant of %s: %w", r.w.payer, r.err))
		}
	}
	return out, errors.Join(errs...)
}

func stateName(s store.SettlementState) string {
	switch s {
	case store.Submitted:
		return "submitted"
	case store.Landed:
		return "landed"
	case store.Failed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", s)
}
