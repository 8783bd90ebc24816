package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/micropay/micropay/contract/payment"
)

// Verified is what Verify found about a payment it would accept.
type Verified struct {
	// Increment is what Accept would charge: the payment's total above the
	// last accepted one. 0 for a replay.
	Increment uint64
	// Unsettled is the warrant's unsettled amount the payment would make.
	Unsettled uint64
	// Backed is what the warrant could still back beyond the payment.
	Backed uint64
	// Replayed: the payment is the warrant's newest receipt for the same
	// resource; Accept would serve it again without a charge.
	Replayed bool
}

// Verify judges in exactly as Accept does — the same rules (payment.Accept,
// the code the contract settles by), the same warrant state, the warrant's
// credit, the exposure cap, the replay of the newest receipt — and stores
// nothing: an x402 facilitator's /verify. A refused payment is a
// *Rejection, as from Accept. A verified payment may still be refused by
// the Accept that follows, if another payment of the warrant was accepted
// in between.
func (p *Provider) Verify(ctx context.Context, in Payment) (*Verified, error) {
	w, err := p.admit(ctx, in)
	if err != nil {
		return nil, err
	}
	w.intakeMu.Lock()
	defer w.intakeMu.Unlock()
	if _, ok := w.replayOf(in); ok {
		return &Verified{Replayed: true}, nil
	}
	ck, increment, err := p.judge(ctx, w, in)
	if err != nil {
		return nil, err
	}
	unsettled := in.Payment.Total - ck.info.Paid
	if cap := p.cfg.ExposureCap; cap > 0 && unsettled > cap {
		return nil, reject(ReasonExposureCap, "unsettled amount would be %d, above the cap of %d; retry once the provider has settled", unsettled, cap)
	}
	return &Verified{Increment: increment, Unsettled: unsettled, Backed: ck.info.Balance - unsettled}, nil
}

// judge applies the payment rules to in against w's state, asking the
// price less the warrant's credit, and returns the state judged against
// and the increment in would buy. A broken rule is a *Rejection. The
// caller holds w.intakeMu. (Accept's intake runs the same steps.)
func (p *Provider) judge(ctx context.Context, w *warrant, in Payment) (checked, uint64, error) {
	ck, err := p.checkable(ctx, w)
	if err != nil {
		return ck, 0, err
	}
	intake := ck.intake(in.Price-min(ck.credit, in.Price), p.cfg.Margin)
	if ck.info.Revoked() {
		now, err := p.cfg.Chain.Now(ctx)
		if err != nil {
			return ck, 0, fmt.Errorf("read chain time: %w", err)
		}
		intake.Now = uint64(now.Unix())
	}
	sig := payment.Signed{Warrant: ck.domain, PublicKey: ck.pubKey, Verify: ck.verify}
	increment, err := payment.Accept(intake, in.Payment, sig)
	if err != nil {
		var re *payment.RuleError
		if errors.As(err, &re) {
			return ck, 0, &Rejection{Reason: re.Reason.String(), Err: err}
		}
		return ck, 0, err
	}
	return ck, increment, nil
}
