package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

// Rejection reasons beyond the payment rules (payment.Reason.String()).
const (
	ReasonNoWarrant    = "no_warrant"    // the payer has no warrant for this provider
	ReasonUnknownPayer = "unknown_payer" // the payer registered no public key
	ReasonExposureCap  = "exposure_cap"  // the warrant's unsettled amount would pass the cap
	ReasonMalformed    = "malformed"     // the payment or its envelope could not be decoded
	// ReasonShortTimeout: the warrant's close timeout is shorter than the
	// provider's settlement margin, so a revocation would leave no time to settle.
	ReasonShortTimeout = "close_timeout_too_short"
)

// Rejection is why a payment was refused. Nothing was stored.
type Rejection struct {
	Reason string // machine-readable: a payment.Reason name or a Reason* constant
	Err    error  // what and why, for humans
}

func (r *Rejection) Error() string { return fmt.Sprintf("payment rejected (%s): %v", r.Reason, r.Err) }

func (r *Rejection) Unwrap() error { return r.Err }

// IsRejection returns the rejection inside err, if any.
func IsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}

func reject(reason string, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Payment is a payment offered for a piece of service.
type Payment struct {
	Payer    isc.AgentID
	Payment  payment.Payment
	Price    uint64 // what the piece costs
	Resource string // what is being bought, for the receipt
}

// Accepted is the acknowledgement of a stored payment.
type Accepted struct {
	Receipt   store.Receipt
	Unsettled uint64 // accepted but not yet settled in this epoch
	// Backed is what the warrant can still back beyond this payment's total:
	// the next pieces the consumer can buy before topping up.
	Backed uint64
}

// Accept checks a payment against the provider's rules (payment.Accept,
// the same code the contract settles by, plus the exposure cap), stores it
// durably and only then returns. A refused payment is a *Rejection and
// nothing is stored. Payments of one warrant are serialized; payments of
// different warrants proceed in parallel and share the store's syncs.
func (p *Provider) Accept(ctx context.Context, in Payment) (*Accepted, error) {
	start := p.cfg.Clock.Now()
	acc, err := p.accept(ctx, in)
	if m := p.cfg.Metrics; m != nil {
		m.observeIntake(acc, err, p.cfg.Clock.Since(start))
	}
	return acc, err
}

func (p *Provider) accept(ctx context.Context, in Payment) (*Accepted, error) {
	if err := store.CheckResource(in.Resource); err != nil {
		return nil, reject(ReasonMalformed, "%w", err) // before any chain read
	}
	w, err := p.warrantFor(string(in.Payer.Bytes()))
	if err != nil {
		return nil, reject(ReasonMalformed, "%v", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()

	if w.infoRead.IsZero() || p.cfg.Clock.Since(w.infoRead) >= p.cfg.InfoMaxAge {
		if err := p.refresh(ctx, w); err != nil {
			return nil, fmt.Errorf("read warrant of %s: %w", in.Payer, err)
		}
	}
	if !w.info.Exists {
		return nil, reject(ReasonNoWarrant, "%s has no warrant for provider %s", in.Payer, p.agent)
	}
	if margin := uint64(p.cfg.Margin / time.Second); w.info.CloseTimeout < margin {
		return nil, reject(ReasonShortTimeout, "the warrant's close timeout of %d s is shorter than this provider's settlement margin of %d s; open a warrant with a longer one", w.info.CloseTimeout, margin)
	}
	if w.pubKey == nil {
		pk, err := p.cfg.Chain.PublicKey(ctx, in.Payer)
		if err != nil {
			return nil, fmt.Errorf("read public key of %s: %w", in.Payer, err)
		}
		if pk == nil {
			return nil, reject(ReasonUnknownPayer, "%s has not registered a public key", in.Payer)
		}
		w.pubKey = pk
	}

	intake := payment.Intake{
		Epoch:       w.info.Epoch,
		LastOrdinal: w.info.LastOrdinal,
		LastTotal:   w.info.Paid,
		Settled:     w.info.Paid,
		Balance:     w.info.Balance,
		Price:       in.Price,
		Deadline:    w.info.Deadline,
		Margin:      uint64(p.cfg.Margin / time.Second),
	}
	if w.has && w.newest.Payment.Epoch == w.info.Epoch {
		intake.LastOrdinal = max(intake.LastOrdinal, w.newest.Payment.Ordinal)
		intake.LastTotal = max(intake.LastTotal, w.newest.Payment.Total)
	}
	if w.info.Revoked() {
		now, err := p.cfg.Chain.Now(ctx)
		if err != nil {
			return nil, fmt.Errorf("read chain time: %w", err)
		}
		intake.Now = uint64(now.Unix())
	}
	sig := payment.Signed{Warrant: chain.PaymentWarrant(p.cfg.Chain, in.Payer, p.agent), PublicKey: w.pubKey}
	price, err := payment.Accept(intake, in.Payment, sig)
	if err != nil {
		var re *payment.RuleError
		if errors.As(err, &re) {
			return nil, &Rejection{Reason: re.Reason.String(), Err: err}
		}
		return nil, err
	}
	unsettled := in.Payment.Total - w.info.Paid
	if cap := p.cfg.ExposureCap; cap > 0 && unsettled > cap {
		p.settler.trigger(w)
		return nil, reject(ReasonExposureCap, "unsettled amount would be %d, above the cap of %d; settling now, retry shortly", unsettled, cap)
	}

	rec := store.Receipt{
		Warrant:    w.id,
		Payment:    in.Payment,
		Price:      price,
		Resource:   in.Resource,
		AcceptedAt: p.cfg.Clock.Now().UTC(),
	}
	if err := p.cfg.Store.Append(ctx, rec); err != nil {
		if errors.Is(err, store.ErrNotNewer) {
			return nil, &Rejection{Reason: payment.ReasonNotIncreasing.String(), Err: err}
		}
		return nil, fmt.Errorf("store payment: %w", err)
	}
	w.newest, w.has = rec, true
	if p.cfg.Threshold > 0 && unsettled >= p.cfg.Threshold {
		p.settler.trigger(w)
	}
	return &Accepted{
		Receipt:   rec,
		Unsettled: unsettled,
		Backed:    w.info.Balance - unsettled, // payment.Accept checked unsettled <= balance
	}, nil
}

// Position is a payer's standing with the provider, as told to consumers
// in a 402 answer.
type Position struct {
	Exists      bool
	Epoch       uint32
	LastOrdinal uint64
	LastTotal   uint64
	Backed      uint64 // what the warrant can still back beyond LastTotal
	Deadline    uint64 // unix s; 0 when not revoked
}

// Position returns payer's standing, reading the chain if the cached state
// is older than InfoMaxAge.
func (p *Provider) Position(ctx context.Context, payer isc.AgentID) (Position, error) {
	w, err := p.warrantFor(string(payer.Bytes()))
	if err != nil {
		return Position{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.infoRead.IsZero() || p.cfg.Clock.Since(w.infoRead) >= p.cfg.InfoMaxAge {
		if err := p.refresh(ctx, w); err != nil {
			return Position{}, err
		}
	}
	pos := Position{Exists: w.info.Exists, Epoch: w.info.Epoch, LastOrdinal: w.info.LastOrdinal, LastTotal: w.info.Paid, Deadline: w.info.Deadline}
	if w.has && w.newest.Payment.Epoch == w.info.Epoch {
		pos.LastOrdinal = max(pos.LastOrdinal, w.newest.Payment.Ordinal)
		pos.LastTotal = max(pos.LastTotal, w.newest.Payment.Total)
	}
	if owed := pos.LastTotal - w.info.Paid; owed <= w.info.Balance {
		pos.Backed = w.info.Balance - owed
	}
	return pos, nil
}
