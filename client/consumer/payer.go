package consumer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// Payer errors, checked with errors.Is.
var (
	// ErrWrongEpoch: Pay was asked to sign under an epoch that is not the
	// warrant's current one on chain (or is below the payer's own).
	ErrWrongEpoch = errors.New("consumer: not the warrant's current epoch")
	// ErrExhausted: the warrant's ordinals or totals would overflow 64 bits.
	ErrExhausted = errors.New("consumer: warrant exhausted")
	// ErrNotNewest: Refused was given a payment that is not the newest one
	// signed for its warrant.
	ErrNotNewest = errors.New("consumer: not the newest payment")
	// ErrNoWarrant: the payer has no warrant for the provider on chain (or
	// the provider says so, see RejectedError).
	ErrNoWarrant = errors.New("consumer: no warrant")
	// ErrStateMismatch: the chain reports a warrant position this payer
	// never signed (*StateMismatchError).
	ErrStateMismatch = errors.New("consumer: payer state does not match the chain")
)

// StateMismatchError is a payment the payer refused to sign because the
// chain reports more settled on the warrant than this payer ever signed: a
// last ordinal above its newest, or a paid amount above its highest total.
// Either its state was lost or another installation signs with the same
// key, or the node misreports the chain (the default node URL is plain
// http). Signing on top of the chain's figure would let the provider settle
// whatever the node made up, so nothing was signed; Payer.Resync (the
// command `micropay warrant resync`) adopts the chain's figures once a
// person has checked them.
type StateMismatchError struct {
	Provider string
	Position Position          // the payer's, in the chain's epoch
	Chain    chain.WarrantInfo // what the chain reported
}

func (e *StateMismatchError) Error() string {
	return fmt.Sprintf("%v: for the warrant to %s in epoch %d the chain reports ordinal %d and %d paid, "+
		"above anything this payer signed (ordinal %d, highest total %d); nothing was signed. "+
		"The payer's state was lost or is shared with another installation, or the node misreports the chain: "+
		"check the warrant on a node you trust, then adopt its figures with `micropay warrant resync %s`",
		ErrStateMismatch, e.Provider, e.Chain.Epoch, e.Chain.LastOrdinal, e.Chain.Paid, e.Position.Ordinal, e.Position.Signed, e.Provider)
}

// Unwrap makes errors.Is(err, ErrStateMismatch) true.
func (e *StateMismatchError) Unwrap() error { return ErrStateMismatch }

// PayerChain is what a Payer needs of a chain: its ID (the payments are
// bound to it) and getWarrantInfo (to learn each warrant's epoch from the
// chain rather than from a provider).
type PayerChain interface {
	ID() isc.ChainID
	WarrantInfo(ctx context.Context, payer, provider isc.AgentID) (chain.WarrantInfo, error)
}

var _ PayerChain = chain.Chain(nil)

// Payer signs payments with one key on one chain. Per provider it keeps a
// Position (epoch, newest ordinal, total) in a StateStore and saves the new
// position — durably, with a durable store — before it computes the
// signature, so that no crash can make it sign two different totals under
// one ordinal: an ordinal is used once it is saved, whether or not its
// payment ever leaves the process.
//
// A Payer is safe for concurrent use. Payments to one provider are
// serialized; payments to different providers proceed in parallel (and
// share the durable store's syncs). A store must be used by one Payer at a
// time: the per-provider locks live in the Payer.
type Payer struct {
	chain  PayerChain
	key    ed25519.PrivateKey
	agent  isc.AgentID
	states StateStore

	mu       sync.Mutex
	warrants map[string]*payerWarrant // by provider AgentID.Bytes()
}

// payerWarrant is the payer's view of its warrant for one provider. mu
// guards pos, loaded, info and infoOK.
type payerWarrant struct {
	provider isc.AgentID
	warrant  payment.Warrant
	// flight is held (a token in a 1-buffered channel) by a Transport from
	// signing a payment until the provider has answered it, so payments
	// reach the provider in ordinal order.
	flight chan struct{}

	mu     sync.Mutex
	pos    Position
	loaded bool // pos was loaded from the store and matches it
	info   chain.WarrantInfo
	infoOK bool // info was read from the chain at least once
}

// NewPayer returns a payer that signs with key for warrants on c and keeps
// its positions in states. The caller keeps ownership of states and closes
// it after the payer's last use.
func NewPayer(c PayerChain, key *cryptolib.KeyPair, states StateStore) *Payer {
	return &Payer{
		chain:    c,
		key:      key.GetPrivateKey().AsStdKey(),
		agent:    chain.AgentOf(key),
		states:   states,
		warrants: map[string]*payerWarrant{},
	}
}

// Agent returns the payer's agent ID, the payer of its warrants.
func (p *Payer) Agent() isc.AgentID { return p.agent }

// ChainID returns the chain the payer's payments are bound to.
func (p *Payer) ChainID() isc.ChainID { return p.chain.ID() }

// Warrant returns what the payer's payments to provider are signed over.
// The caller owns the result.
func (p *Payer) Warrant(provider isc.AgentID) payment.Warrant {
	w := p.warrantFor(provider).warrant
	w.Payer, w.Provider = bytes.Clone(w.Payer), bytes.Clone(w.Provider)
	return w
}

func (p *Payer) warrantFor(provider isc.AgentID) *payerWarrant {
	key := string(provider.Bytes())
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.warrants[key]
	if !ok {
		w = &payerWarrant{
			provider: provider,
			warrant: payment.Warrant{
				ChainID:  p.chain.ID(),
				Contract: uint32(contract.Contract.Hname()),
				Payer:    p.agent.Bytes(),
				Provider: provider.Bytes(),
			},
			flight: make(chan struct{}, 1),
		}
		p.warrants[key] = w
	}
	return w
}

// PayRequest is a payment for Payer.Sign to sign.
type PayRequest struct {
	Provider isc.AgentID
	// Epoch must be the warrant's current one on chain (see Pay).
	Epoch uint32
	// Amount is what the piece costs: the new total is the position's
	// total plus Amount, or more when the chain shows a payment settled
	// that the payer counted as refused (see Sign).
	Amount uint64
	// Approve, if set, is called with the payment's charge — how much its
	// total rises above the position's total — after every check and
	// before anything is saved or signed. An error from it refuses the
	// payment, changing nothing, and is returned as is. It runs with the
	// warrant's lock held: it must not call the Payer.
	Approve func(charge uint64) error
}

// Pay signs the next payment to provider under epoch: ordinal one above the
// newest signed, total amount above the position's total. It is Sign with
// no Approve; see Sign.
func (p *Payer) Pay(ctx context.Context, provider isc.AgentID, epoch uint32, amount uint64) (payment.Payment, error) {
	pay, _, err := p.Sign(ctx, PayRequest{Provider: provider, Epoch: epoch, Amount: amount})
	return pay, err
}

// Sign signs the payment req asks for and returns it with its charge: how
// much its total rises above the position's total. An epoch above the
// payer's starts the new epoch at ordinal 0 and total 0.
//
// The epoch must be the warrant's current one on chain: Sign checks it
// against the chain (a cached read, refreshed when the epoch is above it),
// so an epoch a provider announced can be passed as is. It fails with
// ErrWrongEpoch for any other epoch and for one below the payer's own.
//
// Chain figures never raise the position beyond what this payer signed: a
// last settled ordinal above the payer's newest ordinal, or a paid amount
// above the highest total it signed in the epoch, is a *StateMismatchError
// (ErrStateMismatch) and nothing is signed; Resync adopts the chain's
// figures once a person has confirmed them. A paid amount between the
// position's total and the highest signed total — a payment the provider
// said it refused but kept and settled — raises the total it builds on,
// and the charge counts it. It fails with ErrExhausted rather than
// overflow.
//
// The new position is saved before the payment is signed; on a save error
// nothing is signed.
func (p *Payer) Sign(ctx context.Context, req PayRequest) (payment.Payment, uint64, error) {
	w := p.warrantFor(req.Provider)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := p.load(ctx, w); err != nil {
		return payment.Payment{}, 0, fmt.Errorf("pay %s: %w", req.Provider, err)
	}
	if err := p.checkEpoch(ctx, w, req.Epoch); err != nil {
		return payment.Payment{}, 0, fmt.Errorf("pay %s: %w", req.Provider, err)
	}
	next, charge, err := w.advance(req.Epoch, req.Amount)
	if err != nil {
		return payment.Payment{}, 0, fmt.Errorf("pay %s: %w", req.Provider, err)
	}
	if req.Approve != nil {
		if err := req.Approve(charge); err != nil {
			return payment.Payment{}, 0, err
		}
	}
	if err := p.states.Save(ctx, w.warrant, next); err != nil {
		w.loaded = false // the store may or may not hold next: reload before the next payment
		return payment.Payment{}, 0, fmt.Errorf("pay %s: save position before signing: %w", req.Provider, err)
	}
	w.pos = next
	return payment.Sign(p.key, w.warrant, next.Epoch, next.Ordinal, next.Total), charge, nil
}

// advance returns the position after a payment of amount under epoch, the
// chain's current one (checkEpoch), and its charge. w.mu must be held.
func (w *payerWarrant) advance(epoch uint32, amount uint64) (Position, uint64, error) {
	base := w.pos
	if epoch > base.Epoch {
		base = Position{Epoch: epoch}
	}
	if w.info.LastOrdinal > base.Ordinal || w.info.Paid > base.Signed {
		return Position{}, 0, &StateMismatchError{Provider: w.provider.String(), Position: base, Chain: w.info}
	}
	// Paid is at most a total this payer signed: a payment it was told
	// was refused but that was settled after all.
	next := base
	next.Total = max(base.Total, w.info.Paid)
	if next.Ordinal == math.MaxUint64 {
		return Position{}, 0, fmt.Errorf("%w: ordinal %d is the last one of epoch %d", ErrExhausted, next.Ordinal, epoch)
	}
	if next.Total > math.MaxUint64-amount {
		return Position{}, 0, fmt.Errorf("%w: total %d + %d overflows", ErrExhausted, next.Total, amount)
	}
	next.Ordinal++
	next.Total += amount
	next.Signed = max(next.Signed, next.Total)
	return next, next.Total - base.Total, nil
}

// checkEpoch accepts epoch only if it is the warrant's current epoch on
// chain and not below the payer's own. w.mu must be held.
func (p *Payer) checkEpoch(ctx context.Context, w *payerWarrant, epoch uint32) error {
	if epoch < w.pos.Epoch {
		return fmt.Errorf("%w: epoch %d is below the payer's epoch %d", ErrWrongEpoch, epoch, w.pos.Epoch)
	}
	if !w.infoOK || epoch > w.info.Epoch {
		// The chain's epoch only grows: a cached one below epoch may be
		// stale, one above it is not.
		if err := p.refresh(ctx, w); err != nil {
			return err
		}
	}
	if epoch != w.info.Epoch {
		return fmt.Errorf("%w: epoch %d, but the chain's is %d", ErrWrongEpoch, epoch, w.info.Epoch)
	}
	return nil
}

// Refused records that the provider refused pay, the newest payment signed
// for it, and did not keep it; amount is what pay added to the total (its
// charge, Sign). The
// next payment then builds on the total before pay again, so the refused
// amount is not paid twice. The ordinal stays used. It fails with
// ErrNotNewest, changing nothing, if a later payment was signed since.
//
// A provider that said it refused a payment but kept it can settle at most
// that payment's total, which the next payment's total equals or exceeds:
// believing it costs at most one piece's price.
func (p *Payer) Refused(ctx context.Context, provider isc.AgentID, pay payment.Payment, amount uint64) error {
	w := p.warrantFor(provider)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := p.load(ctx, w); err != nil {
		return fmt.Errorf("refused %s: %w", provider, err)
	}
	if pay.Epoch != w.pos.Epoch || pay.Ordinal != w.pos.Ordinal || pay.Total != w.pos.Total {
		return fmt.Errorf("refused %s: %w: %v, newest is %v", provider, ErrNotNewest, pay, w.pos)
	}
	if amount > pay.Total {
		return fmt.Errorf("refused %s: amount %d is above the payment's total %d", provider, amount, pay.Total)
	}
	next := w.pos
	next.Total -= amount
	if err := p.save(ctx, w, next); err != nil {
		return fmt.Errorf("refused %s: %w", provider, err)
	}
	return nil
}

// save saves next as w's position. w.mu must be held.
func (p *Payer) save(ctx context.Context, w *payerWarrant, next Position) error {
	if err := p.states.Save(ctx, w.warrant, next); err != nil {
		w.loaded = false // the store may or may not hold next: reload before the next payment
		return fmt.Errorf("save position: %w", err)
	}
	w.pos = next
	return nil
}

// NoteDoubt records whether the outcome of pay, a payment to provider, is
// in doubt (Position.Doubt): true when its answer never came or its piece
// was credited, false after the provider's clean answer to it. It saves
// only a change, and changes nothing if pay is not of the payer's current
// epoch.
func (p *Payer) NoteDoubt(ctx context.Context, provider isc.AgentID, pay payment.Payment, doubt bool) error {
	w := p.warrantFor(provider)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := p.load(ctx, w); err != nil {
		return fmt.Errorf("note outcome for %s: %w", provider, err)
	}
	if pay.Epoch != w.pos.Epoch || w.pos.Doubt == doubt {
		return nil
	}
	next := w.pos
	next.Doubt = doubt
	if err := p.save(ctx, w, next); err != nil {
		return fmt.Errorf("note outcome for %s: %w", provider, err)
	}
	return nil
}

// Rebase lowers the total the next payment to provider builds on to
// lastTotal, the provider's word for the newest payment it holds (its 402
// terms for this payer), when the payer's position is in doubt
// (Position.Doubt) and the provider says it holds none of the payments in
// doubt: its lastOrdinal is below the payer's newest in the same epoch and
// lastTotal below the position's total. The payments whose answer never
// came never reached it, and the next payment then does not pay for them.
// Believing a provider that does hold them costs nothing: it can settle at
// most the highest total signed, which the next payment's total may equal
// but never lowers. It reports whether it changed the position.
func (p *Payer) Rebase(ctx context.Context, provider isc.AgentID, epoch uint32, lastOrdinal, lastTotal uint64) (bool, error) {
	w := p.warrantFor(provider)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := p.load(ctx, w); err != nil {
		return false, fmt.Errorf("rebase %s: %w", provider, err)
	}
	pos := w.pos
	if !pos.Doubt || epoch != pos.Epoch || lastOrdinal >= pos.Ordinal || lastTotal >= pos.Total {
		return false, nil
	}
	next := pos
	next.Total = lastTotal
	if err := p.save(ctx, w, next); err != nil {
		return false, fmt.Errorf("rebase %s: %w", provider, err)
	}
	return true, nil
}

// State returns the payer's position on its warrant for provider; the zero
// Position when it never paid that provider.
func (p *Payer) State(ctx context.Context, provider isc.AgentID) (Position, error) {
	w := p.warrantFor(provider)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := p.load(ctx, w); err != nil {
		return Position{}, fmt.Errorf("state %s: %w", provider, err)
	}
	return w.pos, nil
}

// Epoch returns the current epoch of the warrant for provider as the chain
// last told the payer, reading the chain the first time and while no
// warrant exists. With no warrant on chain it returns the epoch the next
// warrant gets and an error wrapping ErrNoWarrant.
func (p *Payer) Epoch(ctx context.Context, provider isc.AgentID) (uint32, error) {
	w := p.warrantFor(provider)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.infoOK || !w.info.Exists {
		if err := p.refresh(ctx, w); err != nil {
			return 0, fmt.Errorf("epoch %s: %w", provider, err)
		}
	}
	return w.info.Epoch, w.noWarrant()
}

// RefreshEpoch is Epoch after reading the chain again: call it when a
// provider reports a wrong epoch.
func (p *Payer) RefreshEpoch(ctx context.Context, provider isc.AgentID) (uint32, error) {
	w := p.warrantFor(provider)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := p.refresh(ctx, w); err != nil {
		return 0, fmt.Errorf("epoch %s: %w", provider, err)
	}
	return w.info.Epoch, w.noWarrant()
}

// noWarrant returns an error wrapping ErrNoWarrant if the cached info says
// there is no warrant. w.mu must be held.
func (w *payerWarrant) noWarrant() error {
	if w.info.Exists {
		return nil
	}
	return fmt.Errorf("%w for provider %s on chain (its next epoch is %d)", ErrNoWarrant, w.provider, w.info.Epoch)
}

// refresh reads the warrant from the chain. w.mu must be held.
func (p *Payer) refresh(ctx context.Context, w *payerWarrant) error {
	info, err := p.chain.WarrantInfo(ctx, p.agent, w.provider)
	if err != nil {
		return fmt.Errorf("read warrant from chain: %w", err)
	}
	w.info, w.infoOK = info, true
	return nil
}

// load reads w's position from the store unless it is loaded. w.mu must be
// held.
func (p *Payer) load(ctx context.Context, w *payerWarrant) error {
	if w.loaded {
		return nil
	}
	pos, _, err := p.states.Load(ctx, w.warrant)
	if err != nil {
		return fmt.Errorf("load position: %w", err)
	}
	w.pos, w.loaded = pos, true
	return nil
}

// acquire takes provider's flight token: the holder alone has a payment to
// provider in flight. It waits until the token is free or ctx is done.
func (p *Payer) acquire(ctx context.Context, provider isc.AgentID) (release func(), err error) {
	w := p.warrantFor(provider)
	select {
	case w.flight <- struct{}{}:
		return func() { <-w.flight }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
