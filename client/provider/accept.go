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
	ReasonZeroPrice    = "zero_price"    // the piece was priced 0: a payment must buy an increment above zero
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
	Price    uint64 // what the piece costs; must be above zero
	Resource string // what is being bought, for the receipt
	// Client is who sent the payment, as ClientKey gives it: chain look-ups
	// of payers the provider does not know are rate-limited per Client.
	// Empty for trusted callers: not limited.
	Client string
	// Pending stores the receipt as pending: the caller serves the piece
	// and then reports with Conclude whether it was delivered. Without it
	// the receipt is stored as served when Accept returns.
	Pending bool

	w *warrant // Payer's warrant when the caller found it (POST /pay's names); nil: looked up
}

// Accepted is the acknowledgement of a stored payment.
type Accepted struct {
	Receipt   store.Receipt
	Unsettled uint64 // accepted but not yet settled in this epoch
	// Backed is what the warrant can still back beyond this payment's total:
	// the next pieces the consumer can buy before topping up.
	Backed uint64
	// Replayed: the payment was the warrant's newest receipt, for the same
	// resource; nothing new was charged and the piece is served again.
	Replayed bool
	// Credit is the warrant's credit after this payment: what the provider
	// owes the payer for pieces paid and not delivered, taken off the
	// price of the next ones.
	Credit uint64

	w *warrant // the warrant the receipt is of; nil in an Accepted made elsewhere
}

// Accept checks a payment against the provider's rules (payment.Accept,
// the same code the contract settles by, plus the exposure cap), stores it
// durably and only then returns. A refused payment is a *Rejection, one
// refused unjudged because its client looked up too many unknown payers a
// *RateLimitedError; either way nothing is stored. Payments of one warrant
// are serialized; payments of different warrants proceed in parallel and
// share the store's syncs.
//
// The price asked is in.Price less the warrant's credit (never below 0):
// the credit adjusts what the provider asks, the payment rules stay the
// contract's. A payment that is the warrant's newest receipt for the same
// resource (a retry of a request whose answer was lost) is not charged
// again: Accept returns it Replayed, and a credited one takes its credit
// back, since its piece is being served after all (store.Store.Replay).
func (p *Provider) Accept(ctx context.Context, in Payment) (*Accepted, error) {
	start := p.cfg.Clock.Now()
	acc, err := p.accept(ctx, in)
	if err == nil && !in.Pending && acc.Receipt.Outcome == store.Pending {
		acc, err = p.Conclude(ctx, acc, true) // a credited piece replayed
	}
	if m := p.cfg.Metrics; m != nil {
		switch {
		case acc != nil && acc.Replayed:
			m.observePiece(pieceReplayed)
		default:
			m.observeIntake(acc, err, p.cfg.Clock.Since(start))
			if err == nil && acc.Receipt.Outcome == store.Served {
				m.observePiece(pieceServed) // accepted and served at once (not Pending)
			}
		}
	}
	return acc, err
}

// errMaybeStored marks a failure to store a payment: the write may have
// landed, so the outcome is unknown to the consumer, and a retry of the
// same payment is free (a replay if it was stored).
var errMaybeStored = errors.New("the payment may have been stored")

// Conclude records how the piece a pending payment (Payment.Pending)
// bought went: served, or credited when served is false. The record is
// durable with the store's next sync (store.Store.Conclude): a crash
// before it leaves the receipt pending, and the next start credits it,
// the consumer-safe side. It returns acc with the receipt's outcome and the warrant's
// credit as they now are. A credited piece's price is taken off the next
// payments of the warrant; a piece already concluded stays as it was,
// except that a credited newest piece that was delivered after all is
// served (see store.Store.Conclude).
func (p *Provider) Conclude(ctx context.Context, acc *Accepted, served bool) (*Accepted, error) {
	w := acc.w
	if w == nil {
		var err error
		if w, err = p.warrantFor(acc.Receipt.Warrant.Payer); err != nil {
			return acc, err
		}
	}
	w.intakeMu.Lock()
	defer w.intakeMu.Unlock()
	rec, credit, err := p.cfg.Store.Conclude(ctx, acc.Receipt.Key(), served)
	if err != nil {
		return acc, fmt.Errorf("conclude payment %d/%d: %w", acc.Receipt.Payment.Epoch, acc.Receipt.Payment.Ordinal, err)
	}
	w.record(rec, credit)
	if m := p.cfg.Metrics; m != nil {
		m.observeConcluded(acc.Receipt.Outcome, rec.Outcome)
	}
	out := *acc
	out.Receipt, out.Credit = rec, credit
	return &out, nil
}

// record notes what the store now holds of receipt rec, the newest unless
// a newer one is held, and the warrant's credit. The caller holds
// w.intakeMu.
func (w *warrant) record(rec store.Receipt, credit uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.credit = credit
	n := w.newest.Payment
	if !w.has || rec.Payment.Epoch > n.Epoch || (rec.Payment.Epoch == n.Epoch && rec.Payment.Ordinal >= n.Ordinal) {
		w.newest, w.has = rec, true
	}
}

// creditPending credits the pieces whose requests were cut off when the
// provider last stopped (store.Store.CreditPending): New calls it before
// it loads the warrants, so that no request of this provider is in flight.
func (p *Provider) creditPending(ctx context.Context) error {
	credited, err := p.cfg.Store.CreditPending(ctx, string(p.agent.Bytes()))
	if err != nil {
		return fmt.Errorf("provider: credit the pieces cut off at the last stop: %w", err)
	}
	for _, r := range credited {
		p.cfg.Log.Info("credited a piece cut off at the last stop", "epoch", r.Payment.Epoch, "ordinal", r.Payment.Ordinal, "resource", r.Resource, "credit", r.Cost())
	}
	return nil
}

// admit applies the checks that need no warrant state (the resource, the
// price) and finds the payer's warrant: Accept and Verify both start here.
func (p *Provider) admit(ctx context.Context, in Payment) (*warrant, error) {
	if err := store.CheckResource(in.Resource); err != nil {
		return nil, reject(ReasonMalformed, "%w", err) // before any chain read
	}
	if in.Price == 0 {
		return nil, reject(ReasonZeroPrice, "the price is 0: a payment must buy an increment above zero (serve free pieces without one)")
	}
	if in.w != nil {
		return in.w, nil
	}
	return p.lookup(ctx, in.Client, in.Payer)
}

func (p *Provider) accept(ctx context.Context, in Payment) (*Accepted, error) {
	w, err := p.admit(ctx, in)
	if err != nil {
		return nil, err
	}
	w.intakeMu.Lock()
	defer w.intakeMu.Unlock()
	if newest, ok := w.replayOf(in); ok {
		return p.replay(ctx, w, newest)
	}
	ck, increment, err := p.judge(ctx, w, in)
	if err != nil {
		return nil, err
	}
	unsettled := in.Payment.Total - ck.info.Paid
	if cap := p.cfg.ExposureCap; cap > 0 && unsettled > cap {
		p.settler.trigger(w)
		return nil, reject(ReasonExposureCap, "unsettled amount would be %d, above the cap of %d; settling now, retry shortly", unsettled, cap)
	}
	rec := store.Receipt{Warrant: w.id, Payment: in.Payment, Price: increment, Asked: in.Price, Outcome: outcomeOf(in), Resource: in.Resource, AcceptedAt: p.cfg.Clock.Now().UTC()}
	if err := p.cfg.Store.Append(ctx, rec); err != nil {
		if errors.Is(err, store.ErrNotNewer) {
			return nil, &Rejection{Reason: payment.ReasonNotIncreasing.String(), Err: err}
		}
		return nil, fmt.Errorf("store payment: %w: %w", errMaybeStored, err)
	}
	credit := ck.credit
	if increment < in.Price {
		credit -= in.Price - increment // payment.Accept checked increment >= in.Price - credit
	}
	w.record(rec, credit)
	if p.cfg.Threshold > 0 && unsettled >= p.cfg.Threshold {
		p.settler.trigger(w)
	}
	return &Accepted{
		Receipt:   rec,
		Unsettled: unsettled,
		Backed:    ck.info.Balance - unsettled, // payment.Accept checked unsettled <= balance
		Credit:    credit,
		w:         w,
	}, nil
}

// outcomeOf is the outcome a receipt of in is stored with.
func outcomeOf(in Payment) store.Outcome {
	if in.Pending {
		return store.Pending
	}
	return store.Served
}

// replayOf returns w's newest receipt if in is a retry of it: the same
// payment, signature included, for the same resource. Only the newest is
// served again; an older payment, or the newest for another resource, is
// judged as a new payment and refused (its ordinal is not above the last).
func (w *warrant) replayOf(in Payment) (store.Receipt, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.has || w.newest.Payment != in.Payment || w.newest.Resource != in.Resource {
		return store.Receipt{}, false
	}
	return w.newest, true
}

// replay serves the newest receipt's piece again, charging nothing: the
// store takes a credit for the piece back (it is being served after all),
// durably, before the piece is served. The caller holds w.intakeMu.
func (p *Provider) replay(ctx context.Context, w *warrant, newest store.Receipt) (*Accepted, error) {
	rec, credit, err := p.cfg.Store.Replay(ctx, newest.Key())
	if err != nil {
		return nil, fmt.Errorf("replay payment %d/%d: %w: %w", newest.Payment.Epoch, newest.Payment.Ordinal, errMaybeStored, err)
	}
	w.record(rec, credit)
	w.mu.Lock()
	defer w.mu.Unlock()
	acc := &Accepted{Receipt: rec, Replayed: true, Credit: credit, w: w}
	if rec.Payment.Epoch == w.info.Epoch && rec.Payment.Total >= w.info.Paid {
		acc.Unsettled = rec.Payment.Total - w.info.Paid
	}
	if acc.Unsettled <= w.info.Balance {
		acc.Backed = w.info.Balance - acc.Unsettled
	}
	return acc, nil
}

// checked is what a payment is checked against: a copy of the warrant's
// state taken under its lock.
type checked struct {
	info   chain.WarrantInfo
	pubKey []byte
	verify payment.Verifier // pubKey's KeyVerifier
	domain payment.Warrant  // what the payer signs besides the payment
	newest store.Receipt
	has    bool
	credit uint64
}

// intake is the payment rules' view of the warrant for a piece of price.
func (c checked) intake(price uint64, margin time.Duration) payment.Intake {
	in := payment.Intake{
		Epoch: c.info.Epoch, LastOrdinal: c.info.LastOrdinal, LastTotal: c.info.Paid, Settled: c.info.Paid,
		Balance: c.info.Balance, Price: price, Deadline: c.info.Deadline, Margin: uint64(margin / time.Second),
	}
	if c.has && c.newest.Payment.Epoch == c.info.Epoch {
		in.LastOrdinal = max(in.LastOrdinal, c.newest.Payment.Ordinal)
		in.LastTotal = max(in.LastTotal, c.newest.Payment.Total)
	}
	return in
}

// checkable returns w's state for checking a payment, first re-reading the
// warrant when the copy held is stale and the payer's key when none is
// held, never holding w.mu across a read. It refuses a warrant that
// does not exist or whose close timeout is shorter than the margin. The
// caller holds w.intakeMu.
func (p *Provider) checkable(ctx context.Context, w *warrant) (checked, error) {
	if err := p.freshen(ctx, w); err != nil {
		return checked{}, err
	}
	w.mu.Lock()
	ck := checked{info: w.info, pubKey: w.pubKey, newest: w.newest, has: w.has, credit: w.credit}
	w.mu.Unlock()
	if !ck.info.Exists {
		return ck, noWarrant(w.payer, p.agent)
	}
	if margin := uint64(p.cfg.Margin / time.Second); ck.info.CloseTimeout < margin {
		return ck, reject(ReasonShortTimeout, "the warrant's close timeout of %d s is shorter than this provider's settlement margin of %d s; open a warrant with a longer one", ck.info.CloseTimeout, margin)
	}
	if ck.pubKey == nil { // state loaded from the store at start
		pk, err := p.cfg.Chain.PublicKey(ctx, w.payer)
		if err != nil {
			return ck, fmt.Errorf("read public key of %s: %w", w.payer, err)
		}
		if pk == nil {
			return ck, noKey(w.payer)
		}
		w.mu.Lock()
		w.pubKey = pk
		w.mu.Unlock()
		ck.pubKey = pk
	}
	sig := p.signingOf(w, ck.pubKey)
	ck.verify, ck.domain = sig.verify, sig.domain
	return ck, nil
}

// freshen re-reads w's chain state if it is stale, without holding w.mu
// across the read.
func (p *Provider) freshen(ctx context.Context, w *warrant) error {
	if !p.stale(w) {
		return nil
	}
	if err := p.reread(ctx, w); err != nil {
		return fmt.Errorf("read warrant of %s: %w", w.payer, err)
	}
	return nil
}

// stale reports whether w's copy of the chain state must be re-read before
// use: never read, or, unless the provider is following the chain's events
// (which bring every change), older than InfoMaxAge or showing no warrant
// for longer than MissTTL (one may have been opened since).
func (p *Provider) stale(w *warrant) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.infoRead.IsZero() {
		return true
	}
	if p.Following() {
		return false
	}
	maxAge := p.cfg.InfoMaxAge
	if !w.info.Exists {
		maxAge = min(maxAge, p.cfg.Lookups.MissTTL)
	}
	return p.cfg.Clock.Since(w.infoRead) >= maxAge
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
	Credit      uint64 // owed to the payer for pieces paid and not delivered
}

// Position returns payer's standing, reading the chain if the provider
// holds no state for payer's warrant or the state is older than
// InfoMaxAge. Its look-ups are not rate-limited (the paywall's are).
func (p *Provider) Position(ctx context.Context, payer isc.AgentID) (Position, error) {
	return p.position(ctx, "", payer)
}

// position is Position for a request from client (see Payment.Client).
func (p *Provider) position(ctx context.Context, client string, payer isc.AgentID) (Position, error) {
	w, err := p.lookup(ctx, client, payer)
	if _, ok := IsRejection(err); ok {
		if m, ok := p.lookups.recentMiss(string(payer.Bytes())); ok {
			return Position{Epoch: m.info.Epoch}, nil
		}
		return Position{}, nil
	}
	if err != nil {
		return Position{}, err
	}
	if err := p.freshen(ctx, w); err != nil {
		return Position{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	pos := Position{Exists: w.info.Exists, Epoch: w.info.Epoch, LastOrdinal: w.info.LastOrdinal, LastTotal: w.info.Paid, Deadline: w.info.Deadline, Credit: w.credit}
	if w.has && w.newest.Payment.Epoch == w.info.Epoch {
		pos.LastOrdinal = max(pos.LastOrdinal, w.newest.Payment.Ordinal)
		pos.LastTotal = max(pos.LastTotal, w.newest.Payment.Total)
	}
	if owed := pos.LastTotal - w.info.Paid; owed <= w.info.Balance {
		pos.Backed = w.info.Balance - owed
	}
	return pos, nil
}
