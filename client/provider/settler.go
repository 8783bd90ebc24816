package provider

import (
	"context"
	"fmt"
	"sync"
	"time"

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

// retryState is a warrant's pending retry; guarded by warrant.mu.
type retryState struct {
	attempt int       // failed attempts so far
	next    time.Time // cfg.Clock time of the next attempt; zero = none
}

// settler decides when to settle. Run or RunOnce drives it; the fields
// below kick are used by that one goroutine only.
type settler struct {
	p        *Provider
	kick     chan struct{}
	batch    int // warrants per settleMany request
	inFlight int // settleMany requests at once

	started      bool
	nextPoll     time.Time
	nextSchedule time.Time

	mu  sync.Mutex
	due map[store.WarrantID]*warrant
}

func newSettler(p *Provider) *settler {
	return &settler{p: p, kick: make(chan struct{}, 1), batch: settleBatchSize(p.cfg.SettleBatch),
		inFlight: settleInFlight(p.cfg.SettleInFlight), due: map[store.WarrantID]*warrant{}}
}

// trigger asks Run to settle w soon. It never blocks.
func (s *settler) trigger(w *warrant) {
	s.mu.Lock()
	s.due[w.id] = w
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *settler) takeDue() []*warrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*warrant, 0, len(s.due))
	for id, w := range s.due {
		out = append(out, w)
		delete(s.due, id)
	}
	return out
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
	clk := p.cfg.Clock
	if p.watch != nil {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = p.watch.Run(wctx, follower{p})
		}()
		defer func() { cancel(); <-done }()
	}
	p.RunOnce(ctx)
	for {
		var wake <-chan time.Time
		if at, ok := p.nextWork(); ok {
			wake = clk.After(max(at.Sub(clk.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.settler.kick:
		case <-wake:
		}
		p.RunOnce(ctx)
	}
}

// RunOnce does, synchronously, the settlement work due at the provider
// clock's current time: on its first call what Run does on start (resume
// unfinished settlements, settle pending payments), then triggered
// warrants, every PollInterval a poll for revocations (while the event
// feed is live instead a settlement of revoked warrants paid since, from
// the state the events keep, without a read), the schedule and due
// retries. Work goes out in settleMany batches of Config.SettleBatch
// warrants, revoked warrants first by deadline, and warrants triggered while
// a schedule's batches go out are settled before the next batch.
// Simulations drive a provider with it and a mock clock instead of Run, for
// deterministic runs.
func (p *Provider) RunOnce(ctx context.Context) {
	s := p.settler
	now := p.cfg.Clock.Now()
	if !s.started {
		s.started = true
		s.nextPoll = now.Add(p.cfg.PollInterval)
		if p.cfg.Schedule != nil {
			s.nextSchedule = p.cfg.Schedule.Next(now)
		}
		p.resume(ctx)
	}
	p.settleTriggered(ctx)
	if !now.Before(s.nextPoll) {
		if p.Following() {
			p.settleRevokedPending(ctx)
		} else {
			p.poll(ctx)
		}
		s.nextPoll = now.Add(p.cfg.PollInterval)
	}
	if p.cfg.Schedule != nil && !now.Before(s.nextSchedule) {
		p.logSettled(p.settleAll(ctx, p.withReceipts()), "schedule")
		s.nextSchedule = p.cfg.Schedule.Next(now)
	}
	var retry []*warrant
	for _, w := range p.snapshotWarrants() {
		w.mu.Lock()
		due := !w.retry.next.IsZero() && !w.retry.next.After(now)
		w.mu.Unlock()
		if due {
			retry = append(retry, w)
		}
	}
	p.logSettled(p.settleAll(ctx, retry), "retry")
}

// nextWork returns the provider-clock time of the next poll, scheduled
// settlement or retry.
func (p *Provider) nextWork() (time.Time, bool) {
	s := p.settler
	at := s.nextPoll
	if p.cfg.Schedule != nil && s.nextSchedule.Before(at) {
		at = s.nextSchedule
	}
	if r, ok := p.earliestRetry(); ok && r.Before(at) {
		at = r
	}
	return at, s.started
}

// stillDue reports whether a triggered warrant still needs settling: a
// settlement that landed since the trigger may have covered it, and a
// warrant closed before its newest payment was settled has its loss
// recorded.
func (p *Provider) stillDue(w *warrant) bool {
	st := w.state()
	if st.closedUnsettled() {
		return true
	}
	if !st.pendingOrdinal() {
		return false
	}
	u := st.unsettled()
	return st.info.Revoked() ||
		(p.cfg.Threshold > 0 && u >= p.cfg.Threshold) ||
		(p.cfg.ExposureCap > 0 && 2*u >= p.cfg.ExposureCap)
}

func (p *Provider) earliestRetry() (time.Time, bool) {
	var at time.Time
	for _, w := range p.snapshotWarrants() {
		w.mu.Lock()
		next := w.retry.next
		w.mu.Unlock()
		if !next.IsZero() && (at.IsZero() || next.Before(at)) {
			at = next
		}
	}
	return at, !at.IsZero()
}

// resume finishes what an earlier run left, in batches as a schedule does:
// a settlement recorded as Submitted is reconciled (and completed), and a
// warrant that is due (threshold, exposure, revoked) is settled. Other pending payments wait for
// their trigger or the schedule as they would have.
func (p *Provider) resume(ctx context.Context) {
	var due []*warrant
	for _, w := range p.snapshotWarrants() {
		if err := p.reread(ctx, w); err != nil {
			p.cfg.Log.Warn("resume: read warrant", "payer", w.payer.String(), "err", err)
		}
		last, ok, err := p.cfg.Store.LastSettlement(ctx, w.id)
		if err != nil {
			p.cfg.Log.Warn("resume: read last settlement", "payer", w.payer.String(), "err", err)
			continue
		}
		if (ok && last.State == store.Submitted) || p.stillDue(w) {
			due = append(due, w)
		}
	}
	p.logSettled(p.settleAll(ctx, due), "resume")
}

// poll re-reads warrants that have unsettled payments; the revoked ones
// are settled at once.
func (p *Provider) poll(ctx context.Context) {
	var revoked []*warrant
	for _, w := range p.withReceipts() {
		wasRevoked := w.state().info.Revoked()
		if err := p.reread(ctx, w); err != nil {
			p.cfg.Log.Warn("poll warrant", "payer", w.payer.String(), "err", err)
			continue
		}
		st := w.state()
		if (st.pendingOrdinal() || st.closedUnsettled()) && st.info.Revoked() {
			if wasRevoked {
				p.cfg.Log.Info("poll: revoked warrant still pending", "payer", w.payer.String())
			}
			revoked = append(revoked, w)
		}
	}
	p.logSettled(p.settleAll(ctx, revoked), "revoked")
}

// settleRevokedPending settles the revoked warrants that have payments
// pending, as the provider's state (kept by the event feed) shows them,
// without reading the chain: payments accepted after the revocation's event
// triggered nothing, since nothing was pending then. A poll would settle
// them, at the same pace; the events made the read unnecessary.
func (p *Provider) settleRevokedPending(ctx context.Context) {
	var revoked []*warrant
	for _, w := range p.withReceipts() {
		if st := w.state(); st.pendingOrdinal() && st.info.Revoked() {
			revoked = append(revoked, w)
		}
	}
	p.logSettled(p.settleAll(ctx, revoked), "revoked, paid since")
}

// logSettlement logs the outcome of settling w: s recorded, or err.
func (p *Provider) logSettlement(w *warrant, why string, s *store.Settlement, err error) {
	switch {
	case err != nil:
		p.cfg.Log.Warn("settle", "payer", w.payer.String(), "why", why, "err", err)
	case s != nil:
		p.cfg.Log.Info("settle", "payer", w.payer.String(), "why", why, "state", stateName(s.State),
			"epoch", s.Epoch, "ordinal", s.Ordinal, "total", s.Total, "paid", s.Paid, "attempt", s.Attempt, "error", s.Error)
	}
}

// SettleNow settles the warrant of payer (nil: every warrant, in batches
// as a schedule does) at once and returns the settlements it made; warrants
// with nothing to settle are left out.
func (p *Provider) SettleNow(ctx context.Context, payer *store.WarrantID) ([]store.Settlement, error) {
	if payer == nil {
		return p.settleNowAll(ctx)
	}
	p.mu.Lock()
	w := p.warrants[*payer]
	p.mu.Unlock()
	if w == nil || !w.state().has {
		return nil, nil
	}
	s, err := p.settle(ctx, w)
	if err != nil {
		err = fmt.Errorf("warrant of %s: %w", w.payer, err)
	}
	if s == nil {
		return nil, err
	}
	return []store.Settlement{*s}, err
}

// settle settles w's newest payment if the chain has not settled it yet,
// with a settle request of its own. It records the attempt durably before
// sending it, reconciles an unknown outcome by reading the warrant, and
// schedules a retry when that does not show the payment settled. It returns
// the settlement recorded, or nil when there was nothing to do.
func (p *Provider) settle(ctx context.Context, w *warrant) (*store.Settlement, error) {
	w.settleMu.Lock()
	defer w.settleMu.Unlock()
	a, done, err := p.prepare(ctx, w)
	if a == nil {
		return done, err
	}
	return p.send(ctx, a)
}

// send posts a's payment alone in a settle request and records the outcome.
// The caller holds a.w.settleMu.
func (p *Provider) send(ctx context.Context, a *attempt) (*store.Settlement, error) {
	start := p.cfg.Clock.Now()
	receipt, err := chain.Settle(ctx, p.cfg.Chain, p.cfg.Key, a.w.payer, a.rec.Payment)
	r := sent{elapsed: p.cfg.Clock.Since(start), err: err}
	if receipt != nil {
		r.requestID = receipt.RequestID.String()
	}
	switch {
	case err == nil:
		r.paid = receipt.Paid()
	case chain.IsRejected(err):
		r.refused, r.err = err.Error(), nil
	}
	return p.finish(ctx, a, r)
}

// attempt is a settlement about to be sent: its record, saved as Submitted,
// and the warrant's payment and state it was decided on.
type attempt struct {
	w    *warrant
	rec  store.Receipt
	info chain.WarrantInfo
	s    store.Settlement
}

// sent is what became of an attempt's request: refused (the chain said no:
// definite, nothing moved), an unknown outcome (err), or landed, paying paid.
type sent struct {
	requestID string
	elapsed   time.Duration
	paid      uint64
	refused   string
	err       error
}

// prepare reads w and, when its newest payment is still to be settled,
// records the attempt as Submitted and returns it. Otherwise it returns what
// it recorded instead (a settlement an earlier run left is reconciled, a
// missed deadline or closed epoch recorded as a loss), or nil when there was
// nothing to do. The caller holds w.settleMu.
func (p *Provider) prepare(ctx context.Context, w *warrant) (*attempt, *store.Settlement, error) {
	before := w.state().info
	if err := p.reread(ctx, w); err != nil {
		p.scheduleRetry(ctx, w, before)
		return nil, nil, fmt.Errorf("read warrant: %w", err)
	}
	st := w.state()
	if !st.pendingOrdinal() {
		s, err := p.closeOut(ctx, w, st, before)
		return nil, s, err
	}
	rec, info := st.newest, st.info
	if info.Revoked() {
		now, err := p.cfg.Chain.Now(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("read chain time: %w", err)
		}
		if uint64(now.Unix()) >= info.Deadline {
			s, err := p.missed(ctx, w, rec, info.Paid, "the revoke deadline passed before settlement")
			return nil, s, err
		}
	}
	s := store.Settlement{
		Warrant: w.id, Epoch: rec.Payment.Epoch, Ordinal: rec.Payment.Ordinal, Total: rec.Payment.Total,
		State: store.Submitted, Attempt: w.attempts() + 1, UpdatedAt: p.cfg.Clock.Now().UTC(),
	}
	if err := p.cfg.Store.SaveSettlement(ctx, s); err != nil {
		return nil, nil, fmt.Errorf("record settlement: %w", err)
	}
	return &attempt{w: w, rec: rec, info: info, s: s}, nil, nil
}

// finish records what became of a's request: landed with what it paid,
// refused, or, with an unknown outcome, what a read of the warrant shows (a
// retry is scheduled when it does not show the payment settled). The caller
// holds a.w.settleMu.
func (p *Provider) finish(ctx context.Context, a *attempt, r sent) (*store.Settlement, error) {
	w, s := a.w, a.s
	s.RequestID = r.requestID
	outcome := OutcomeLanded
	switch {
	case r.refused != "":
		outcome = OutcomeRejected
		s.State, s.Error = store.Failed, r.refused
	case r.err == nil:
		s.State, s.Paid = store.Landed, r.paid
	default:
		// The request may have landed: the warrant on chain tells.
		info2, rerr := p.cfg.Chain.WarrantInfo(ctx, w.payer, p.agent)
		landed := rerr == nil && info2.Epoch == a.rec.Payment.Epoch && info2.LastOrdinal >= a.rec.Payment.Ordinal
		if landed {
			s.State, s.Paid = store.Landed, info2.Paid-a.info.Paid
		} else {
			outcome = OutcomeUnknown
			s.Error = r.err.Error()
			p.scheduleRetry(ctx, w, a.info)
		}
	}
	if s.State != store.Submitted {
		w.mu.Lock()
		w.retry = retryState{}
		w.mu.Unlock()
		if outcome == OutcomeLanded {
			_ = p.reread(ctx, w) // best effort: the next read or event catches up
		}
	}
	s.UpdatedAt = p.cfg.Clock.Now().UTC()
	if serr := p.cfg.Store.SaveSettlement(ctx, s); serr != nil {
		return &s, fmt.Errorf("record settlement outcome: %w", serr)
	}
	if m := p.cfg.Metrics; m != nil {
		m.observeSettle(outcome, r.elapsed, s.Paid)
	}
	if outcome == OutcomeUnknown {
		return &s, fmt.Errorf("settle ordinal %d: %w", a.rec.Payment.Ordinal, r.err)
	}
	return &s, nil
}

// closeOut handles a warrant with nothing to send, as st (read just now)
// shows it: it marks a settlement an earlier run left Submitted as landed
// when the chain shows it, and records a loss when the warrant's epoch
// ended before its newest payment was settled.
func (p *Provider) closeOut(ctx context.Context, w *warrant, st warrantState, before chain.WarrantInfo) (*store.Settlement, error) {
	last, ok, err := p.cfg.Store.LastSettlement(ctx, w.id)
	if err != nil {
		return nil, fmt.Errorf("read last settlement: %w", err)
	}
	if ok && last.State == store.Submitted && last.Epoch == st.info.Epoch && st.info.LastOrdinal >= last.Ordinal {
		last.State, last.UpdatedAt = store.Landed, p.cfg.Clock.Now().UTC()
		if err := p.cfg.Store.SaveSettlement(ctx, last); err != nil {
			return nil, fmt.Errorf("record settlement outcome: %w", err)
		}
		return &last, nil
	}
	newest := st.newest.Payment
	if st.closedUnsettled() && !(ok && last.Epoch == newest.Epoch && last.Ordinal >= newest.Ordinal && last.State != store.Submitted) {
		s := store.Settlement{
			Warrant: w.id, Epoch: newest.Epoch, Ordinal: newest.Ordinal, Total: newest.Total,
			State: store.Failed, UpdatedAt: p.cfg.Clock.Now().UTC(),
			Error: fmt.Sprintf("missed: epoch %d closed before ordinal %d was settled", newest.Epoch, newest.Ordinal),
		}
		if err := p.cfg.Store.SaveSettlement(ctx, s); err != nil {
			return nil, fmt.Errorf("record missed settlement: %w", err)
		}
		if m := p.cfg.Metrics; m != nil {
			m.observeSettle(OutcomeMissed, 0, 0)
			if before.Epoch == newest.Epoch && newest.Total > before.Paid {
				m.lost.Add(float64(newest.Total - before.Paid))
			}
		}
		return &s, nil
	}
	return nil, nil
}

func (p *Provider) missed(ctx context.Context, w *warrant, rec store.Receipt, paid uint64, why string) (*store.Settlement, error) {
	s := store.Settlement{
		Warrant: w.id, Epoch: rec.Payment.Epoch, Ordinal: rec.Payment.Ordinal, Total: rec.Payment.Total,
		State: store.Failed, UpdatedAt: p.cfg.Clock.Now().UTC(), Error: "missed: " + why,
	}
	if err := p.cfg.Store.SaveSettlement(ctx, s); err != nil {
		return nil, fmt.Errorf("record missed settlement: %w", err)
	}
	if m := p.cfg.Metrics; m != nil {
		m.observeSettle(OutcomeMissed, 0, 0)
		m.lost.Add(float64(rec.Payment.Total - paid))
	}
	return &s, nil
}

func (w *warrant) attempts() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.retry.attempt
}

// scheduleRetry plans the next attempt with exponential backoff from
// RetryMin to RetryMax; for a revoked warrant never later than half the
// time left before deadline - Margin, as seen at the last read. Chain time
// is read before w.mu is taken.
func (p *Provider) scheduleRetry(ctx context.Context, w *warrant, info chain.WarrantInfo) {
	var left time.Duration
	bounded := false
	if info.Revoked() {
		if now, err := p.cfg.Chain.Now(ctx); err == nil {
			left, bounded = time.Unix(int64(info.Deadline), 0).Add(-p.cfg.Margin).Sub(now), true
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.retry.attempt++
	d := p.cfg.RetryMin << min(w.retry.attempt-1, 20)
	d = min(d, p.cfg.RetryMax)
	if bounded {
		d = max(min(d, left/2), p.cfg.RetryMin)
	}
	w.retry.next = p.cfg.Clock.Now().Add(d)
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
