package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
)

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

// chainTime reads the chain's time at most once for a batch.
type chainTime struct {
	at   time.Time
	err  error
	read bool
}

func (t *chainTime) now(ctx context.Context, c chain.Chain) (time.Time, error) {
	if !t.read {
		t.at, t.err = c.Now(ctx)
		t.read = true
	}
	return t.at, t.err
}

// prepare decides, for each warrant of a batch, whether its newest payment
// is to be sent, and returns the attempts to send and the results of the
// warrants settled without a request (a loss recorded, a settlement an
// earlier run left reconciled, an error).
func (s *settler) prepare(ctx context.Context, ws []*warrant) ([]*attempt, []settled) {
	var as []*attempt
	var out []settled
	var t chainTime
	for _, w := range ws {
		a, done, err := s.prepareOne(ctx, w, &t)
		switch {
		case a != nil:
			as = append(as, a)
		case done != nil || err != nil:
			out = append(out, settled{w: w, s: done, err: err})
		}
	}
	return as, out
}

// prepareOne decides for one warrant. It reads the warrant from the chain
// only where the decision needs it. The cached state otherwise suffices
// even when it lags the chain, because the contract judges every item on
// the chain's own state (an ordinal already settled is skipped and pays
// nothing, a payment of a closed epoch or past the deadline is refused, and
// a refusal makes the settler read the warrant: see outcome) and the
// receipt's events carry each warrant's state after the request. Two cases
// need the read: a state never read or dropped (a warrant loaded from the
// store, an event that could not be applied), where the cache cannot tell
// whether anything is pending; and a warrant whose last attempt's outcome is
// unknown, where only the read tells whether that request landed and what it
// paid (a resend would be skipped, paying 0, and hide it).
func (s *settler) prepareOne(ctx context.Context, w *warrant, t *chainTime) (*attempt, *store.Settlement, error) {
	before := w.state().info
	unfinished := s.unfinished(w)
	if unfinished || w.neverRead() {
		if err := s.read(ctx, w); err != nil {
			s.scheduleRetry(ctx, w, before)
			return nil, nil, fmt.Errorf("read warrant: %w", err)
		}
	}
	st := w.state()
	if !st.pendingOrdinal() {
		if !unfinished && !st.closedUnsettled() {
			return nil, nil, nil
		}
		done, err := s.closeOut(ctx, w, st, before)
		if err == nil {
			s.clearRetry(w)
		}
		return nil, done, err
	}
	rec, info := st.newest, st.info
	if info.Revoked() {
		now, err := t.now(ctx, s.chain)
		if err != nil {
			return nil, nil, fmt.Errorf("read chain time: %w", err)
		}
		if uint64(now.Unix()) >= info.Deadline {
			done, err := s.missed(ctx, rec, info.Paid, "the revoke deadline passed before settlement")
			if err == nil {
				s.clearRetry(w)
			}
			return nil, done, err
		}
	}
	return &attempt{w: w, rec: rec, info: info, s: store.Settlement{
		Warrant: w.id, Epoch: rec.Payment.Epoch, Ordinal: rec.Payment.Ordinal, Total: rec.Payment.Total,
		State: store.Submitted, Attempt: s.attempts(w) + 1, UpdatedAt: s.clock.Now().UTC(),
	}}, nil, nil
}

// submit records as, durably and in one write, as submitted, sends them in
// one request and records each outcome (in one write again).
func (s *settler) submit(ctx context.Context, as []*attempt) []settled {
	recs := make([]store.Settlement, len(as))
	for i, a := range as {
		recs[i] = a.s
	}
	if err := s.save(ctx, recs); err != nil {
		out := make([]settled, len(as))
		for i, a := range as {
			out[i] = settled{w: a.w, err: fmt.Errorf("record settlement: %w", err)}
		}
		return out
	}
	return s.finish(ctx, as, s.send(ctx, as))
}

// save records ss, in one write when the store can.
func (s *settler) save(ctx context.Context, ss []store.Settlement) error {
	if many, ok := s.store.(store.SettlementSaver); ok {
		return many.SaveSettlements(ctx, ss)
	}
	for _, st := range ss {
		if err := s.store.SaveSettlement(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// send posts as in one request, a lone attempt in a settle, the others in
// a settleMany, and returns each one's outcome. What a landed request did
// to each warrant is applied to its cached state from the receipt's events,
// without reading the warrants.
func (s *settler) send(ctx context.Context, as []*attempt) []sent {
	start := s.clock.Now()
	var receipt *chain.Receipt
	var out []sent
	if len(as) == 1 {
		var err error
		receipt, err = chain.Settle(ctx, s.chain, s.key, as[0].w.payer, as[0].rec.Payment)
		out = []sent{loneOutcome(receipt, err)}
	} else {
		items := make([]contract.Settlement, len(as))
		for i, a := range as {
			items[i] = contract.Settlement{Payer: a.w.payer, Payment: a.rec.Payment}
		}
		var err error
		receipt, err = chain.SettleMany(ctx, s.chain, s.key, items)
		out = itemOutcomes(receipt, err, items)
	}
	elapsed := s.clock.Since(start)
	for i := range out {
		out[i].elapsed = elapsed
	}
	if receipt != nil && out[0].err == nil {
		s.applyReceipt(receipt, as)
	}
	if m := s.metrics; m != nil {
		m.observeRequest(len(as), out[0].err == nil)
	}
	return out
}

// loneOutcome is the outcome of a settle request of one warrant.
func loneOutcome(receipt *chain.Receipt, err error) sent {
	r := sent{err: err}
	if receipt != nil {
		r.requestID = receipt.RequestID.String()
	}
	switch {
	case err == nil:
		r.paid = receipt.Paid()
	case chain.IsRejected(err):
		r.refused, r.err = err.Error(), nil
	}
	return r
}

// itemOutcomes returns each item's outcome of a settleMany request: a
// whole-request rejection refuses them all, and a lost answer or events
// that do not account for the items leave them all unknown.
func itemOutcomes(receipt *chain.Receipt, err error, items []contract.Settlement) []sent {
	base := sent{err: err}
	if receipt != nil {
		base.requestID = receipt.RequestID.String()
	}
	var outcomes []chain.ItemOutcome
	switch {
	case chain.IsRejected(err):
		base.refused, base.err = err.Error(), nil
	case err == nil:
		if outcomes, err = chain.ItemOutcomes(receipt, items); err != nil {
			base.err = fmt.Errorf("%w: %w", chain.ErrUnknownOutcome, err)
		}
	}
	out := make([]sent, len(items))
	for i := range out {
		out[i] = base
		switch {
		case outcomes == nil:
		case outcomes[i].Settled != nil:
			out[i].paid = outcomes[i].Settled.Paid
		default:
			out[i].refused = fmt.Sprintf("%s: item %d refused: %s", contract.FuncSettleMany.Name, i+1, outcomes[i].Refused)
		}
	}
	return out
}

// applyReceipt applies what a landed request's events say of each
// warrant of as to its cached state, as the event feed would. When the
// events cannot be followed, the warrants' states are dropped: the next
// attempt reads them.
func (s *settler) applyReceipt(receipt *chain.Receipt, as []*attempt) {
	changes, err := chain.ChangesOf(chain.Block{Events: receipt.Events}, s.agent)
	if err != nil {
		s.log.Warn("settle: receipt events", "request", receipt.RequestID.String(), "err", err)
		for _, a := range as {
			a.w.forgetInfo()
		}
		return
	}
	byPayer := make(map[string]*warrant, len(as))
	for _, a := range as {
		byPayer[a.w.id.Payer] = a.w
	}
	now := s.clock.Now()
	for _, c := range changes {
		if w := byPayer[string(c.Payer.Bytes())]; w != nil {
			w.applySettled(c, now)
		}
	}
}

// applySettled applies a settlement's change to w's state, unless the state
// is already past it (the event feed applied a later settlement first).
func (w *warrant) applySettled(c chain.Change, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	after, ok := c.Apply(w.info)
	switch {
	case !ok:
		w.infoRead = time.Time{} // the next attempt reads it
	case after.Epoch == w.info.Epoch && after.LastOrdinal < w.info.LastOrdinal:
		return
	default:
		w.info, w.infoRead = after, now
	}
	w.gen++
}

// neverRead reports whether w's chain state was never read, or was dropped.
func (w *warrant) neverRead() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.infoRead.IsZero()
}
