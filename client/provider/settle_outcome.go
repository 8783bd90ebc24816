package provider

import (
	"context"
	"fmt"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/store"
)

// finish records what became of each attempt's request, all records in one
// write, and returns the results.
func (s *settler) finish(ctx context.Context, as []*attempt, rs []sent) []settled {
	recs := make([]store.Settlement, len(as))
	ends := make([]ending, len(as))
	out := make([]settled, len(as))
	for i, a := range as {
		ends[i] = s.outcome(ctx, a, rs[i])
		recs[i], out[i].err = ends[i].rec, ends[i].err
	}
	serr := s.save(ctx, recs)
	for i, a := range as {
		out[i].w, out[i].s = a.w, &recs[i]
		if serr != nil {
			// The records still say submitted: reconcile them next time.
			s.markUnfinished(a.w, recs[i].Attempt)
			out[i].err = fmt.Errorf("record settlement outcome: %w", serr)
			continue
		}
		if m := s.metrics; m != nil {
			m.observeSettle(ends[i].outcome, rs[i].elapsed, recs[i].Paid)
			m.lost.Add(float64(ends[i].lost))
		}
	}
	return out
}

// ending is an attempt's record after its request, its outcome (Outcome*)
// and, for a loss, the tokens lost.
type ending struct {
	rec     store.Settlement
	outcome string
	lost    uint64
	err     error
}

// outcome returns a's record after its request: landed with what it paid,
// refused, or, with an unknown outcome, what a read of the warrant shows (a
// retry is scheduled when it does not show the payment settled).
func (s *settler) outcome(ctx context.Context, a *attempt, r sent) ending {
	w := a.w
	e := ending{rec: a.s, outcome: OutcomeLanded}
	e.rec.RequestID = r.requestID
	switch {
	case r.refused != "":
		s.clearRetry(w)
		if loss, ok := s.refusalAsLoss(ctx, a); ok {
			return loss
		}
		e.outcome = OutcomeRejected
		e.rec.State, e.rec.Error = store.Failed, r.refused
	case r.err == nil:
		e.rec.State, e.rec.Paid = store.Landed, r.paid
		s.clearRetry(w)
	default:
		// The request may have landed: the warrant on chain tells.
		rerr := s.read(ctx, w)
		info := w.state().info
		if rerr == nil && info.Epoch == a.rec.Payment.Epoch && info.LastOrdinal >= a.rec.Payment.Ordinal {
			e.rec.State, e.rec.Paid = store.Landed, info.Paid-min(a.info.Paid, info.Paid)
			s.clearRetry(w)
			break
		}
		e.outcome = OutcomeUnknown
		e.rec.Error = r.err.Error()
		s.scheduleRetry(ctx, w, a.info)
		e.err = fmt.Errorf("settle ordinal %d: %w", a.rec.Payment.Ordinal, r.err)
	}
	e.rec.UpdatedAt = s.clock.Now().UTC()
	return e
}

// refusalAsLoss reads a refused attempt's warrant: the cached state the
// attempt was decided on may have missed a close or a passed deadline (no
// feed, between polls), which the contract refuses a payment for. Then the
// refusal is the loss, recorded as one; otherwise the next attempt decides
// on the state read.
func (s *settler) refusalAsLoss(ctx context.Context, a *attempt) (ending, bool) {
	if err := s.read(ctx, a.w); err != nil {
		a.w.forgetInfo()
		return ending{}, false
	}
	st, newest := a.w.state(), a.rec.Payment
	switch {
	case st.closedUnsettled():
		var lost uint64
		if a.info.Epoch == newest.Epoch && newest.Total > a.info.Paid {
			lost = newest.Total - a.info.Paid
		}
		return s.lossEnding(a.rec, lost, fmt.Sprintf("epoch %d closed before ordinal %d was settled", newest.Epoch, newest.Ordinal)), true
	case st.pendingOrdinal() && st.info.Revoked():
		now, err := s.chain.Now(ctx)
		if err == nil && uint64(now.Unix()) >= st.info.Deadline {
			return s.lossEnding(a.rec, newest.Total-min(st.info.Paid, newest.Total), "the revoke deadline passed before settlement"), true
		}
	}
	return ending{}, false
}

// closeOut handles a warrant with nothing to send, as st (read just now)
// shows it: it marks a settlement an earlier run left Submitted as landed
// when the chain shows it, and records a loss when the warrant's epoch
// ended before its newest payment was settled.
func (s *settler) closeOut(ctx context.Context, w *warrant, st warrantState, before chain.WarrantInfo) (*store.Settlement, error) {
	last, ok, err := s.store.LastSettlement(ctx, w.id)
	if err != nil {
		return nil, fmt.Errorf("read last settlement: %w", err)
	}
	if ok && last.State == store.Submitted && last.Epoch == st.info.Epoch && st.info.LastOrdinal >= last.Ordinal {
		last.State, last.UpdatedAt = store.Landed, s.clock.Now().UTC()
		if err := s.store.SaveSettlement(ctx, last); err != nil {
			return nil, fmt.Errorf("record settlement outcome: %w", err)
		}
		return &last, nil
	}
	newest := st.newest.Payment
	if !st.closedUnsettled() || (ok && last.Epoch == newest.Epoch && last.Ordinal >= newest.Ordinal && last.State != store.Submitted) {
		return nil, nil
	}
	var lost uint64
	if before.Epoch == newest.Epoch && newest.Total > before.Paid {
		lost = newest.Total - before.Paid
	}
	return s.recordLoss(ctx, st.newest, lost, fmt.Sprintf("epoch %d closed before ordinal %d was settled", newest.Epoch, newest.Ordinal))
}

// missed records that rec's payment can no longer be settled, short of
// what the chain paid of it.
func (s *settler) missed(ctx context.Context, rec store.Receipt, paid uint64, why string) (*store.Settlement, error) {
	return s.recordLoss(ctx, rec, rec.Payment.Total-min(paid, rec.Payment.Total), why)
}

// lossEnding is the record of rec's payment missed, lost tokens short.
func (s *settler) lossEnding(rec store.Receipt, lost uint64, why string) ending {
	return ending{outcome: OutcomeMissed, lost: lost, rec: store.Settlement{
		Warrant: rec.Warrant, Epoch: rec.Payment.Epoch, Ordinal: rec.Payment.Ordinal, Total: rec.Payment.Total,
		State: store.Failed, UpdatedAt: s.clock.Now().UTC(), Error: "missed: " + why,
	}}
}

// recordLoss records rec's payment as missed, lost tokens short.
func (s *settler) recordLoss(ctx context.Context, rec store.Receipt, lost uint64, why string) (*store.Settlement, error) {
	e := s.lossEnding(rec, lost, why)
	if err := s.store.SaveSettlement(ctx, e.rec); err != nil {
		return nil, fmt.Errorf("record missed settlement: %w", err)
	}
	if m := s.metrics; m != nil {
		m.observeSettle(OutcomeMissed, 0, 0)
		m.lost.Add(float64(lost))
	}
	return &e.rec, nil
}
