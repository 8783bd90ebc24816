package provider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
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
	p    *Provider
	kick chan struct{}

	started      bool
	nextPoll     time.Time
	nextSchedule time.Time

	mu  sync.Mutex
	due map[store.WarrantID]*warrant
}

func newSettler(p *Provider) *settler {
	return &settler{p: p, kick: make(chan struct{}, 1), due: map[store.WarrantID]*warrant{}}
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
// retries, and polls warrants with unsettled payments for revocations.
// Cancel ctx to stop it; it returns nil then. Run and RunOnce must not be
// used together.
func (p *Provider) Run(ctx context.Context) error {
	clk := p.cfg.Clock
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
// unfinished settlements, settle pending payments), then triggered warrants, a poll for revocations when one
// is due, the schedule and due retries. Simulations drive a provider with it
// and a mock clock instead of Run, for deterministic runs.
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
	for _, w := range s.takeDue() {
		if p.stillDue(w) {
			p.settleLogged(ctx, w, "trigger")
		}
	}
	if !now.Before(s.nextPoll) {
		p.poll(ctx)
		s.nextPoll = now.Add(p.cfg.PollInterval)
	}
	if p.cfg.Schedule != nil && !now.Before(s.nextSchedule) {
		for _, w := range p.withReceipts() {
			p.settleLogged(ctx, w, "schedule")
		}
		s.nextSchedule = p.cfg.Schedule.Next(now)
	}
	for _, w := range p.snapshotWarrants() {
		w.mu.Lock()
		due := !w.retry.next.IsZero() && !w.retry.next.After(now)
		w.mu.Unlock()
		if due {
			p.settleLogged(ctx, w, "retry")
		}
	}
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
// settlement that landed since the trigger may have covered it.
func (p *Provider) stillDue(w *warrant) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.pendingOrdinal() {
		return false
	}
	u := w.unsettled()
	return w.info.Revoked() ||
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

// resume finishes what an earlier run left: a settlement recorded as
// Submitted is reconciled (and completed), and a warrant that is due
// (threshold, exposure, revoked) is settled. Other pending payments wait for
// their trigger or the schedule as they would have.
func (p *Provider) resume(ctx context.Context) {
	for _, w := range p.snapshotWarrants() {
		w.mu.Lock()
		err := p.refresh(ctx, w)
		w.mu.Unlock()
		if err != nil {
			p.cfg.Log.Warn("resume: read warrant", "payer", w.payer.String(), "err", err)
		}
		last, ok, err := p.cfg.Store.LastSettlement(ctx, w.id)
		if err != nil {
			p.cfg.Log.Warn("resume: read last settlement", "payer", w.payer.String(), "err", err)
			continue
		}
		if (ok && last.State == store.Submitted) || p.stillDue(w) || p.closedUnsettled(w) {
			p.settleLogged(ctx, w, "resume")
		}
	}
}

// closedUnsettled reports whether w's newest payment belongs to an epoch
// that has ended: settle then records the loss.
func (p *Provider) closedUnsettled(w *warrant) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.has && w.newest.Payment.Epoch < w.info.Epoch
}

// poll re-reads warrants that have unsettled payments; a revoked one is
// settled at once.
func (p *Provider) poll(ctx context.Context) {
	for _, w := range p.snapshotWarrants() {
		w.mu.Lock()
		if !w.has {
			w.mu.Unlock()
			continue
		}
		wasRevoked := w.info.Revoked()
		err := p.refresh(ctx, w)
		pending := w.pendingOrdinal() || (w.has && w.newest.Payment.Epoch < w.info.Epoch)
		revoked := w.info.Revoked()
		w.mu.Unlock()
		if err != nil {
			p.cfg.Log.Warn("poll warrant", "payer", w.payer.String(), "err", err)
			continue
		}
		if pending && revoked {
			why := "revoked"
			if wasRevoked {
				why = "revoked, still pending"
			}
			p.settleLogged(ctx, w, why)
		}
	}
}

func (p *Provider) settleLogged(ctx context.Context, w *warrant, why string) {
	s, err := p.settle(ctx, w)
	switch {
	case err != nil:
		p.cfg.Log.Warn("settle", "payer", w.payer.String(), "why", why, "err", err)
	case s != nil:
		p.cfg.Log.Info("settle", "payer", w.payer.String(), "why", why, "state", stateName(s.State),
			"epoch", s.Epoch, "ordinal", s.Ordinal, "total", s.Total, "paid", s.Paid, "attempt", s.Attempt, "error", s.Error)
	}
}

// SettleNow settles the warrant of payer (nil: every warrant) at once and
// returns the settlements it made; warrants with nothing to settle are left
// out.
func (p *Provider) SettleNow(ctx context.Context, payer *store.WarrantID) ([]store.Settlement, error) {
	var out []store.Settlement
	var errs []error
	for _, w := range p.withReceipts() {
		if payer != nil && w.id != *payer {
			continue
		}
		s, err := p.settle(ctx, w)
		if s != nil {
			out = append(out, *s)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("warrant of %s: %w", w.payer, err))
		}
	}
	return out, errors.Join(errs...)
}

// settle settles w's newest payment if the chain has not settled it yet. It
// records the attempt durably before sending it, reconciles an unknown
// outcome by reading the warrant, and schedules a retry when that does not
// show the payment settled. It returns the settlement recorded, or nil when
// there was nothing to do.
func (p *Provider) settle(ctx context.Context, w *warrant) (*store.Settlement, error) {
	w.settleMu.Lock()
	defer w.settleMu.Unlock()

	w.mu.Lock()
	before := w.info
	if err := p.refresh(ctx, w); err != nil {
		p.scheduleRetryLocked(w, before)
		w.mu.Unlock()
		return nil, fmt.Errorf("read warrant: %w", err)
	}
	if !w.pendingOrdinal() {
		s, err := p.closeOutLocked(ctx, w, before)
		w.mu.Unlock()
		return s, err
	}
	rec, info := w.newest, w.info
	w.mu.Unlock()

	if info.Revoked() {
		now, err := p.cfg.Chain.Now(ctx)
		if err != nil {
			return nil, fmt.Errorf("read chain time: %w", err)
		}
		if uint64(now.Unix()) >= info.Deadline {
			return p.missed(ctx, w, rec, info.Paid, "the revoke deadline passed before settlement")
		}
	}

	s := store.Settlement{
		Warrant: w.id, Epoch: rec.Payment.Epoch, Ordinal: rec.Payment.Ordinal, Total: rec.Payment.Total,
		State: store.Submitted, Attempt: w.attempts() + 1, UpdatedAt: p.cfg.Clock.Now().UTC(),
	}
	if err := p.cfg.Store.SaveSettlement(ctx, s); err != nil {
		return nil, fmt.Errorf("record settlement: %w", err)
	}
	start := p.cfg.Clock.Now()
	receipt, err := chain.Settle(ctx, p.cfg.Chain, p.cfg.Key, w.payer, rec.Payment)
	elapsed := p.cfg.Clock.Since(start)
	if receipt != nil {
		s.RequestID = receipt.RequestID.String()
	}
	outcome := OutcomeLanded
	switch {
	case err == nil:
		s.State, s.Paid = store.Landed, settledPaid(receipt)
	case chain.IsRejected(err):
		outcome = OutcomeRejected
		s.State, s.Error = store.Failed, err.Error()
	default:
		// The request may have landed: the warrant on chain tells.
		w.mu.Lock()
		rerr := p.refresh(ctx, w)
		landed := rerr == nil && w.info.Epoch == rec.Payment.Epoch && w.info.LastOrdinal >= rec.Payment.Ordinal
		if landed {
			s.State, s.Paid = store.Landed, w.info.Paid-info.Paid
		} else {
			outcome = OutcomeUnknown
			s.Error = err.Error()
			p.scheduleRetryLocked(w, info)
		}
		w.mu.Unlock()
	}
	if s.State != store.Submitted {
		w.mu.Lock()
		w.retry = retryState{}
		if outcome == OutcomeLanded {
			_ = p.refresh(ctx, w) // best effort: the next read catches up
		}
		w.mu.Unlock()
	}
	s.UpdatedAt = p.cfg.Clock.Now().UTC()
	if serr := p.cfg.Store.SaveSettlement(ctx, s); serr != nil {
		return &s, fmt.Errorf("record settlement outcome: %w", serr)
	}
	if m := p.cfg.Metrics; m != nil {
		m.observeSettle(outcome, elapsed, s.Paid)
	}
	if outcome == OutcomeUnknown {
		return &s, fmt.Errorf("settle ordinal %d: %w", rec.Payment.Ordinal, err)
	}
	return &s, nil
}

// closeOutLocked handles a warrant with nothing to send: it marks a
// settlement an earlier run left Submitted as landed when the chain shows
// it, and records a loss when the warrant's epoch ended before its newest
// payment was settled. w.mu is held.
func (p *Provider) closeOutLocked(ctx context.Context, w *warrant, before chain.WarrantInfo) (*store.Settlement, error) {
	last, ok, err := p.cfg.Store.LastSettlement(ctx, w.id)
	if err != nil {
		return nil, fmt.Errorf("read last settlement: %w", err)
	}
	if ok && last.State == store.Submitted && last.Epoch == w.info.Epoch && w.info.LastOrdinal >= last.Ordinal {
		last.State, last.UpdatedAt = store.Landed, p.cfg.Clock.Now().UTC()
		if err := p.cfg.Store.SaveSettlement(ctx, last); err != nil {
			return nil, fmt.Errorf("record settlement outcome: %w", err)
		}
		return &last, nil
	}
	if w.has && w.newest.Payment.Epoch < w.info.Epoch && !(ok && last.Epoch == w.newest.Payment.Epoch && last.Ordinal >= w.newest.Payment.Ordinal && last.State != store.Submitted) {
		s := store.Settlement{
			Warrant: w.id, Epoch: w.newest.Payment.Epoch, Ordinal: w.newest.Payment.Ordinal, Total: w.newest.Payment.Total,
			State: store.Failed, UpdatedAt: p.cfg.Clock.Now().UTC(),
			Error: fmt.Sprintf("missed: epoch %d closed before ordinal %d was settled", w.newest.Payment.Epoch, w.newest.Payment.Ordinal),
		}
		if err := p.cfg.Store.SaveSettlement(ctx, s); err != nil {
			return nil, fmt.Errorf("record missed settlement: %w", err)
		}
		if m := p.cfg.Metrics; m != nil {
			m.observeSettle(OutcomeMissed, 0, 0)
			if before.Epoch == w.newest.Payment.Epoch && w.newest.Payment.Total > before.Paid {
				m.lost.Add(float64(w.newest.Payment.Total - before.Paid))
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

// scheduleRetryLocked plans the next attempt with exponential backoff from
// RetryMin to RetryMax; for a revoked warrant never later than half the
// time left before deadline - Margin, as seen at the last read. w.mu is held.
func (p *Provider) scheduleRetryLocked(w *warrant, info chain.WarrantInfo) {
	w.retry.attempt++
	d := p.cfg.RetryMin << min(w.retry.attempt-1, 20)
	d = min(d, p.cfg.RetryMax)
	if info.Revoked() {
		if now, err := p.cfg.Chain.Now(context.Background()); err == nil {
			left := time.Unix(int64(info.Deadline), 0).Add(-p.cfg.Margin).Sub(now)
			d = max(min(d, left/2), p.cfg.RetryMin)
		}
	}
	w.retry.next = p.cfg.Clock.Now().Add(d)
}

// settledPaid sums what the settled events of a receipt paid.
func settledPaid(r *chain.Receipt) uint64 {
	var paid uint64
	for _, ev := range r.Events {
		if ev.Topic != contract.TopicSettled {
			continue
		}
		if s, err := contract.DecodeSettled(ev.Payload); err == nil {
			paid += s.Paid
		}
	}
	return paid
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
