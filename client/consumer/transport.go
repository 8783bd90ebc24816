package consumer

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// Transport errors, checked with errors.Is. The typed errors below wrap
// them and carry the figures.
var (
	// ErrCapExceeded: paying would pass a spending cap (*CapError).
	ErrCapExceeded = errors.New("consumer: spending cap exceeded")
	// ErrTermsChanged: an origin's price differs from the one pinned when
	// it was last paid (*TermsChangedError).
	ErrTermsChanged = errors.New("consumer: provider's terms changed")
	// ErrRejected: the provider refused the payment (*RejectedError).
	ErrRejected = errors.New("consumer: provider rejected the payment")
	// ErrNoOffer: a 402 answer offers no micropay-warrant payment this
	// payer can make (another scheme, chain or contract instance).
	ErrNoOffer = errors.New("consumer: no usable payment offer")
	// ErrBodyNotReplayable: the request has a body but no GetBody, so it
	// could not be sent again with a payment.
	ErrBodyNotReplayable = errors.New("consumer: request body cannot be replayed")
)

// Reasons a provider gives beyond the payment rules (payment.Reason
// names), as RejectedError.Reason.
const (
	ReasonNoWarrant    = "no_warrant"
	ReasonUnknownPayer = "unknown_payer"
	// ReasonMalformed is set by the Transport when the provider answered
	// the paid request with 400 Bad Request and no reason.
	ReasonMalformed = "malformed"
)

// CapError is a payment the Transport refused to make because of a
// spending cap. Nothing was signed.
type CapError struct {
	Cap   string // "price" (MaxPrice, per piece) or "total" (MaxTotal)
	URL   string
	Price uint64 // what the piece costs
	// Charge is what the payment would add to the payer's total, when
	// that is more than Price: the chain shows settled a payment the
	// provider had refused (Payer.Sign). 0 when the cap stopped it before
	// the charge was known.
	Charge   uint64
	Spent    uint64 // paid so far through the Transport
	InFlight uint64 // reserved by other payments still awaiting the provider's answer
	Limit    uint64 // the cap
}

func (e *CapError) Error() string {
	cost := fmt.Sprintf("costs %d", e.Price)
	if e.Charge > e.Price {
		cost = fmt.Sprintf("costs %d, and its payment would add %d to your total (the chain shows %d settled that the provider had refused)",
			e.Price, e.Charge, e.Charge-e.Price)
	}
	if e.Cap == "price" {
		return fmt.Sprintf("%v: %s %s, above the per-piece cap of %d", ErrCapExceeded, e.URL, cost, e.Limit)
	}
	return fmt.Sprintf("%v: %s %s; spent %d and %d in flight, the total cap is %d (%d short)",
		ErrCapExceeded, e.URL, cost, e.Spent, e.InFlight, e.Limit, e.Spent+e.InFlight+max(e.Price, e.Charge)-e.Limit)
}

// Unwrap makes errors.Is(err, ErrCapExceeded) true.
func (e *CapError) Unwrap() error { return ErrCapExceeded }

// TermsChangedError is an offer whose price differs from the price pinned
// for its origin when it was last paid (Pins.PinPrice; kept across runs
// with OpenPins). Nothing was signed.
// (Network and contract must be the payer's, ErrNoOffer; the provider is
// pinned, *PinError.)
type TermsChangedError struct {
	Origin string // scheme://host[:port]
	Field  string // "price"
	Was    string // the pinned value
	Now    string // the offered one
}

func (e *TermsChangedError) Error() string {
	return fmt.Sprintf("%v: %s changed its %s from %s to %s", ErrTermsChanged, e.Origin, e.Field, e.Was, e.Now)
}

// Unwrap makes errors.Is(err, ErrTermsChanged) true.
func (e *TermsChangedError) Unwrap() error { return ErrTermsChanged }

// RejectedError is a payment the provider refused. The payer's position
// was rolled back (Payer.Refused), so the refused amount is not paid by the
// next payment, and it does not count as spent.
type RejectedError struct {
	URL     string
	Status  int    // HTTP status of the answer
	Reason  string // machine reason: a payment.Reason name or a Reason* constant
	Message string // the provider's explanation
	Payment payment.Payment

	required *x402.PaymentRequired // the offer of a 402 refusal, for the fallback of a pre-emptive payment
}

func (e *RejectedError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%v: %s refused %v (%s): %s", ErrRejected, e.URL, e.Payment, e.Reason, msg)
}

// Unwrap makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Unwrap() error { return ErrRejected }

// Is makes errors.Is(err, ErrNoWarrant) true when the provider's reason is
// that there is no warrant.
func (e *RejectedError) Is(target error) bool {
	return target == ErrNoWarrant && e.Reason == ReasonNoWarrant
}

// TransportOptions configure a Transport. MaxPrice and MaxTotal are
// required: a transport that pays automatically must have a limit.
type TransportOptions struct {
	// Base sends the requests; default http.DefaultTransport.
	Base http.RoundTripper
	// MaxPrice is the most one piece may cost.
	MaxPrice uint64
	// MaxTotal caps the sum of what the Transport pays, over its life.
	MaxTotal uint64
	// AllowPriceChange lets an origin change its price from the one pinned
	// (still within MaxPrice); the new price is pinned once paid. It also
	// turns off pre-emptive payments, which pay the pinned price.
	AllowPriceChange bool
	// Pins bind origins to providers; default NewPins(), for the
	// Transport's life. Give it OpenPins to keep them across runs.
	Pins *Pins
	// RepinOrigin is the one origin (as Origin returns it) whose pin may
	// change: pinned to the provider its 402 names even if it was pinned
	// to another, or that provider to other origins. Empty: none.
	RepinOrigin string
	// Observe, if set, is told of what the Transport did beyond paying
	// (Event: a paid request sent again after a failure in transit, a
	// piece the provider credited). It is called on the request's
	// goroutine while payments to that provider wait, and must not block
	// or call the Transport.
	Observe func(Event)
}

// Transport is an http.RoundTripper that pays 402 answers with micropay
// payments. A request to an origin pinned to a provider (Pins) carries the
// payer's agent ID (MICROPAY-PAYER); other origins do not learn it. On a
// 402 whose PAYMENT-REQUIRED offers a micropay-warrant payment on the
// payer's chain and contract instance, it checks, before signing anything:
//
//   - the origin's pin: an origin (scheme, host and port) is pinned to the
//     provider of the first payment it receives; a 402 naming another
//     provider, or a provider pinned to other origins (a site relaying
//     another's 402), is a *PinError unless TransportOptions.RepinOrigin
//     is that origin;
//   - the origin's price: the price paid to an origin is pinned with it
//     (Pins.PinPrice); a different one is a *TermsChangedError (allowed,
//     and pinned, with TransportOptions.AllowPriceChange);
//   - the per-piece cap (MaxPrice) and the total cap (MaxTotal, counting
//     what was spent and what is in flight), else a *CapError. The caps
//     count the payment's charge (Payer.Sign), which is more than the
//     price when the chain shows settled a payment the provider refused;
//   - the warrant's epoch, from the chain (Payer.Epoch): ErrNoWarrant if
//     there is none. The provider's announced epoch only triggers a fresh
//     read of the chain.
//
// The origin is pinned durably just before the payment is signed, never
// for a payment that is not made. Then it signs with the Payer and sends
// the request once more with
// PAYMENT-SIGNATURE. It returns the provider's answer if it accepted the
// payment, a *RejectedError if it refused it (after rolling the payer's
// position back). If the provider refused for a wrong epoch and the chain
// has moved to a new one, it pays once more under the new epoch.
//
// One round trip per piece: a request to an origin pinned to a provider
// and a price carries the payment from the start (pre-emptive), with the
// same checks, unless AllowPriceChange is set or the outcome of a payment
// to that provider is in doubt (Position.Doubt: an answer never came, or a
// piece was credited): then the provider may hold a credit, which its 402
// states, and the next payment is lowered by it. If the provider refuses it
// with a 402 (a changed price, a new epoch), the payment is rolled back
// like any refused one and the Transport goes on as with that 402: a raised
// price is a *TermsChangedError, nothing paid. An answer below 500 with no
// PAYMENT-RESPONSE means the resource is not paywalled: the payment is
// rolled back too. An answer naming a lower price than the pinned one
// (PAYMENT-RESPONSE's price) ends pre-emptive payments to that origin for
// the Transport's life, so the next 402 shows the change.
//
// A paid request that fails in transit (connection reset, the provider
// restarting, a timeout of the base transport) is sent once more with the
// identical PAYMENT-SIGNATURE while its context is not done; a provider
// that had accepted the payment recognises it and serves the piece again
// without a new charge. The retry is reported to TransportOptions.Observe.
//
// Payments to one provider are serialized, from signing to the provider's
// answer (its response headers): a provider accepts only ordinals above the
// last it accepted, so two payments in flight at once could arrive out of
// order, the later one be refused and its amount roll into the next.
// Requests to different providers, and the unpaid first attempts, run in
// parallel.
//
// Spent counts the charge of every payment the provider accepted, and of
// every payment whose outcome is unknown (the connection failed after
// sending it, or the answer carries no PAYMENT-RESPONSE): the next
// accepted payment's cumulative total includes it either way. A refused
// payment is not counted, nor a credited one: the provider stored it but
// failed to serve the piece (PAYMENT-RESPONSE outcome "credited", reported
// as an EventCredited), and the next payment to it is lowered by the credit
// it states, so that piece is paid by the credit and counted then. A
// Transport is safe for concurrent use.
type Transport struct {
	payer    *Payer
	opts     TransportOptions
	payerID  string // payer agent ID string (MICROPAY-PAYER, payload.payer)
	network  string // x402 network of the payer's chain
	contract string // hname of the micropay contract, hex

	pins *Pins

	mu       sync.Mutex
	spent    uint64
	reserved uint64          // charges (at least prices) of payments in flight
	unpinned map[string]bool // pinned origins not to pay pre-emptively: they answered with a lower price
}

// NewTransport returns a Transport that pays with p.
func NewTransport(p *Payer, opts TransportOptions) (*Transport, error) {
	if p == nil {
		return nil, errors.New("consumer: NewTransport needs a Payer")
	}
	if opts.MaxPrice == 0 || opts.MaxTotal == 0 {
		return nil, errors.New("consumer: TransportOptions.MaxPrice and MaxTotal must be set")
	}
	if opts.Base == nil {
		opts.Base = http.DefaultTransport
	}
	pins := opts.Pins
	if pins == nil {
		pins = NewPins()
	}
	return &Transport{
		payer:    p,
		opts:     opts,
		payerID:  p.Agent().String(),
		network:  x402.Network(p.ChainID().String()),
		contract: contract.Contract.Hname().String(),
		pins:     pins,
		unpinned: map[string]bool{},
	}, nil
}

// Spent returns what the Transport has paid so far: accepted payments and
// those whose outcome is unknown (see Transport).
func (t *Transport) Spent() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spent
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		req.Body.Close()
		return nil, fmt.Errorf("%w: %s %s has a body without GetBody; build it with http.NewRequest from a bytes.Reader, bytes.Buffer or strings.Reader, or set GetBody",
			ErrBodyNotReplayable, req.Method, req.URL.Redacted())
	}
	if po, ok := t.pinnedOffer(req); ok {
		if req.Body != nil {
			req.Body.Close() // every attempt sends a copy from GetBody
		}
		resp, fallback, err := t.payOffer(req, po, true)
		if fallback == nil {
			return resp, err
		}
		return t.pay(req, fallback)
	}
	first := req.Clone(req.Context())
	if t.pins.Bound(Origin(req.URL)) {
		first.Header.Set(x402.HeaderPayer, t.payerID)
	}
	resp, err := t.opts.Base.RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusPaymentRequired {
		return resp, err
	}
	h := resp.Header.Get(x402.HeaderRequired)
	if h == "" {
		return resp, nil // a 402 that is not an x402 paywall: the caller's to handle
	}
	discard(resp)
	var pr x402.PaymentRequired
	if err := x402.Decode(h, &pr); err != nil {
		return nil, fmt.Errorf("402 from %s: %s: %w", req.URL.Redacted(), x402.HeaderRequired, err)
	}
	return t.pay(req, &pr)
}

// paidOffer is an offer the Transport is about to pay, and for what.
type paidOffer struct {
	offer    x402.Requirements
	provider isc.AgentID
	resource x402.Resource
}

// pinnedOffer returns the offer to pay with the first request req: the
// one its 402 would make, built from the origin's pinned provider and
// price. There is none unless the origin has both, price changes are not
// allowed (a payment at the old price could overpay a lowered one), the
// origin is not the one to repin, no answer since showed another price,
// and no payment's outcome to the provider is in doubt (Position.Doubt:
// the provider may hold a credit, which only its 402 states).
func (t *Transport) pinnedOffer(req *http.Request) (paidOffer, bool) {
	u := req.URL
	o := Origin(u)
	if t.opts.AllowPriceChange || o == t.opts.RepinOrigin {
		return paidOffer{}, false
	}
	t.mu.Lock()
	off := t.unpinned[o]
	t.mu.Unlock()
	pinnedTo, bound := t.pins.Provider(o)
	price, priced := t.pins.Price(o)
	if off || !bound || !priced {
		return paidOffer{}, false
	}
	provider, err := isc.AgentIDFromString(pinnedTo)
	if err != nil {
		return paidOffer{}, false
	}
	if pos, err := t.payer.State(req.Context(), provider); err != nil || pos.Doubt {
		return paidOffer{}, false
	}
	return paidOffer{
		offer: x402.Requirements{
			Scheme: x402.Scheme, Network: t.network, Amount: x402.Amount(price), Asset: x402.Asset,
			PayTo: pinnedTo, MaxTimeoutSeconds: schemeTimeout, Extra: x402.Terms{Contract: t.contract},
		},
		provider: provider,
		resource: x402.Resource{URL: u.RequestURI()},
	}, true
}

// schemeTimeout is the maxTimeoutSeconds of every micropay-warrant offer
// (docs/x402-scheme.md): a pre-emptive payment states it as a stock x402
// server, which matches what a payment accepted field for field, wants.
const schemeTimeout = 60

// pay makes the payment pr asks for and sends req again with it.
func (t *Transport) pay(req *http.Request, pr *x402.PaymentRequired) (*http.Response, error) {
	url := req.URL.Redacted()
	offer, err := t.choose(pr, url)
	if err != nil {
		return nil, err
	}
	provider, err := isc.AgentIDFromString(offer.PayTo)
	if err != nil {
		return nil, fmt.Errorf("%w: 402 from %s: payTo %q: %v", ErrNoOffer, url, offer.PayTo, err)
	}
	resp, _, err := t.payOffer(req, paidOffer{offer: offer, provider: provider, resource: pr.Resource}, false)
	return resp, err
}

// payOffer pays po and sends req with the payment. first says that req
// has not been sent before: the payment is pre-emptive. If the provider
// refuses a pre-emptive payment with a 402, payOffer takes it back and
// returns that 402's offer for pay, having paid nothing.
func (t *Transport) payOffer(req *http.Request, po paidOffer, first bool) (*http.Response, *x402.PaymentRequired, error) {
	ctx := req.Context()
	url := req.URL.Redacted()
	o := Origin(req.URL)
	repin := o == t.opts.RepinOrigin
	if err := t.pins.Check(o, po.provider.String(), repin); err != nil {
		return nil, nil, err
	}
	price := uint64(po.offer.Amount)
	// A repin may change the provider, and so the price.
	allowChange := t.opts.AllowPriceChange || repin
	if err := t.pins.CheckPrice(o, price, allowChange); err != nil {
		return nil, nil, err
	}
	if err := t.admit(price, url); err != nil {
		return nil, nil, err
	}
	held := &reservation{amount: price}
	defer t.finish(held)

	release, err := t.payer.acquire(ctx, po.provider)
	if err != nil {
		return nil, nil, fmt.Errorf("pay %s: %w", url, err)
	}
	defer release()
	epoch, err := t.payer.Epoch(ctx, po.provider)
	if err == nil && po.offer.Extra.Epoch != 0 && po.offer.Extra.Epoch != epoch {
		epoch, err = t.payer.RefreshEpoch(ctx, po.provider)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pay %s: %w", url, err)
	}
	approve := func(charge uint64) error {
		if err := t.reserve(held, price, charge, url); err != nil {
			return err
		}
		if err := t.pins.Bind(o, po.provider.String(), repin); err != nil {
			return err
		}
		return t.pins.PinPrice(o, price, allowChange)
	}
	if !first && po.offer.Extra.Payer == t.payerID && po.offer.Extra.Epoch == epoch {
		// After a doubt, the provider's word for what it holds.
		t1 := po.offer.Extra
		if _, err := t.payer.Rebase(ctx, po.provider, t1.Epoch, t1.LastOrdinal, uint64(t1.LastTotal)); err != nil {
			return nil, nil, fmt.Errorf("pay %s: %w", url, err)
		}
	}
	amount := price - min(price, t.creditFor(po, first))
	return t.signAndSend(req, po, paying{epoch: epoch, amount: amount, approve: approve, held: held, first: first})
}

// paying is what signAndSend needs of payOffer.
type paying struct {
	epoch   uint32
	amount  uint64 // the price less the provider's credit
	approve func(charge uint64) error
	held    *reservation
	first   bool
}

// creditFor is what po's provider owes the payer for pieces paid and not
// served, as the 402 being paid states it (its terms for this payer).
// Believing it is safe: a provider that claims too much credit is paid
// too little. A pre-emptive payment has no 402, and is made only when no
// outcome is in doubt (pinnedOffer): the provider owes no credit the payer
// knows of.
func (t *Transport) creditFor(po paidOffer, first bool) uint64 {
	if !first && po.offer.Extra.Payer == t.payerID {
		return uint64(po.offer.Extra.Credit)
	}
	return 0
}

// noteDoubt records in the payer's state whether the outcome of p, to
// po's provider for req, is in doubt. If that cannot be saved, this
// Transport stops paying req's origin pre-emptively, as a doubt would.
func (t *Transport) noteDoubt(req *http.Request, po paidOffer, p payment.Payment, doubt bool) {
	if err := t.payer.NoteDoubt(req.Context(), po.provider, p, doubt); err != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.unpinned[Origin(req.URL)] = true
	}
}

// signAndSend signs po's payment and sends req with it, once more under a
// new epoch if the provider refused it for a wrong one and the chain moved.
// The payer's flight token for po.provider must be held.
func (t *Transport) signAndSend(req *http.Request, po paidOffer, a paying) (*http.Response, *x402.PaymentRequired, error) {
	ctx := req.Context()
	price := uint64(po.offer.Amount)
	for retried := false; ; retried = true {
		p, charge, err := t.payer.Sign(ctx, PayRequest{Provider: po.provider, Epoch: a.epoch, Amount: a.amount, Approve: a.approve})
		if err != nil {
			return nil, nil, fmt.Errorf("pay %s: %w", req.URL.Redacted(), err)
		}
		out := t.send(req, po, p, a.first)
		switch {
		case out.notSent != nil:
			// p never left the process: take it back like a refused one.
			return nil, nil, errors.Join(out.notSent, t.payer.Refused(ctx, po.provider, p, charge))
		case out.ignored:
			// Answered without a word on p: a free resource, whose
			// provider never looked at p. Take it back.
			if err := t.payer.Refused(ctx, po.provider, p, charge); err != nil {
				a.held.spent = charge
			}
			return out.resp, nil, nil
		case out.credited:
			// Stored, the piece not served: the payment stands, the
			// provider owes the piece; not spent. The next payment asks
			// the provider for its credit (the 402 exchange).
			t.noteDoubt(req, po, p, true)
			t.observe(Event{Kind: EventCredited, URL: req.URL.Redacted(), Payment: p, Credit: uint64(out.res.Extra.Credit)})
			return out.resp, nil, nil
		case out.rej == nil:
			// Accepted, or an unknown outcome: the next payment's total
			// includes this one either way. The piece cost its price,
			// part of it paid before as the credit used.
			a.held.spent = charge + price - a.amount
			// Clean only when the provider says it owes nothing more:
			// a credit left over is for the next payment's 402 to state.
			t.noteDoubt(req, po, p, out.res == nil || out.res.Extra == nil || out.res.Extra.Credit > 0)
			t.noteAnswer(req, po, out)
			return out.resp, nil, out.err
		}
		rej := out.rej
		if err := t.payer.Refused(ctx, po.provider, p, charge); err != nil {
			a.held.spent = charge // still in the position's total: the next payment pays it
			return nil, nil, errors.Join(rej, fmt.Errorf("roll back refused payment: %w", err))
		}
		if rej.Reason == payment.ReasonWrongEpoch.String() && !retried {
			fresh, err := t.payer.RefreshEpoch(ctx, po.provider)
			if err != nil {
				return nil, nil, errors.Join(rej, err)
			}
			if fresh != a.epoch {
				a.epoch = fresh
				continue
			}
		}
		if a.first && rej.required != nil && offersOtherTerms(rej.required, po.offer) {
			return nil, rej.required, nil
		}
		return nil, nil, rej
	}
}

// offersOtherTerms reports whether pr offers a micropay-warrant payment at
// another price or to another provider than paid: the refusal of a
// pre-emptive payment that the 402 exchange may resolve (or refuse with
// the right error). A refusal on the same terms would only be repeated.
func offersOtherTerms(pr *x402.PaymentRequired, paid x402.Requirements) bool {
	for _, o := range pr.Accepts {
		if o.Scheme == x402.Scheme && (o.Amount != paid.Amount || o.PayTo != paid.PayTo) {
			return true
		}
	}
	return false
}

// noteAnswer stops pre-emptive payments to req's origin when the provider
// says the piece cost less than the pinned price it was paid: the next
// request goes through the 402 exchange, which shows the new price.
func (t *Transport) noteAnswer(req *http.Request, po paidOffer, out outcome) {
	if out.res == nil || out.res.Extra == nil || out.res.Extra.Price == 0 || out.res.Extra.Price == po.offer.Amount {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unpinned[Origin(req.URL)] = true
}

// choose picks the offer to pay: a micropay-warrant one on the payer's
// chain and contract instance.
func (t *Transport) choose(pr *x402.PaymentRequired, url string) (x402.Requirements, error) {
	var offered []string
	var candidate *x402.Requirements
	for i := range pr.Accepts {
		o := &pr.Accepts[i]
		offered = append(offered, o.Scheme+" on "+o.Network)
		if o.Scheme != x402.Scheme {
			continue
		}
		if candidate == nil || (candidate.Network != t.network && o.Network == t.network) {
			candidate = o
		}
	}
	switch {
	case candidate == nil:
		return x402.Requirements{}, fmt.Errorf("%w: 402 from %s offers [%s], none %s", ErrNoOffer, url, strings.Join(offered, ", "), x402.Scheme)
	case candidate.Network != t.network:
		return x402.Requirements{}, fmt.Errorf("%w: 402 from %s offers %s on %s, the payer is on %s", ErrNoOffer, url, x402.Scheme, candidate.Network, t.network)
	case candidate.Extra.Contract != t.contract:
		return x402.Requirements{}, fmt.Errorf("%w: 402 from %s offers contract %q, the payer's is %s", ErrNoOffer, url, candidate.Extra.Contract, t.contract)
	case candidate.Asset != x402.Asset:
		return x402.Requirements{}, fmt.Errorf("%w: 402 from %s asks for asset %q, the payer pays %q", ErrNoOffer, url, candidate.Asset, x402.Asset)
	case candidate.Extra.Payer != "" && candidate.Extra.Payer != t.payerID:
		return x402.Requirements{}, fmt.Errorf("%w: 402 from %s states the terms of payer %s, not %s", ErrNoOffer, url, candidate.Extra.Payer, t.payerID)
	}
	return *candidate, nil
}

// admit checks price against the caps and reserves it. Every admitted
// payment must be finished.
func (t *Transport) admit(price uint64, url string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if price > t.opts.MaxPrice {
		return &CapError{Cap: "price", URL: url, Price: price, Spent: t.spent, InFlight: t.reserved, Limit: t.opts.MaxPrice}
	}
	// spent + reserved <= MaxTotal always holds, so this cannot overflow.
	if price > t.opts.MaxTotal-t.spent-t.reserved {
		return &CapError{Cap: "total", URL: url, Price: price, Spent: t.spent, InFlight: t.reserved, Limit: t.opts.MaxTotal}
	}
	t.reserved += price
	return nil
}

// reservation is what an admitted payment holds of the total cap, and what
// it spent once the provider accepted it (or its outcome is unknown).
type reservation struct {
	amount uint64 // in t.reserved
	spent  uint64
}

// reserve raises r to the payment's charge, if that is above what r holds,
// within the caps: the charge is what the payment costs the payer.
func (t *Transport) reserve(r *reservation, price, charge uint64, url string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if charge <= r.amount {
		return nil
	}
	others := t.reserved - r.amount
	if charge > t.opts.MaxPrice {
		return &CapError{Cap: "price", URL: url, Price: price, Charge: charge, Spent: t.spent, InFlight: others, Limit: t.opts.MaxPrice}
	}
	if charge-r.amount > t.opts.MaxTotal-t.spent-t.reserved {
		return &CapError{Cap: "total", URL: url, Price: price, Charge: charge, Spent: t.spent, InFlight: others, Limit: t.opts.MaxTotal}
	}
	t.reserved += charge - r.amount
	r.amount = charge
	return nil
}

// finish ends an admitted payment: its reservation is released and what it
// spent counted.
func (t *Transport) finish(r *reservation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reserved -= r.amount
	t.spent += r.spent
}

// Origin returns scheme://host[:port] of u in lower case: the unit the
// Transport pins providers and prices by.
func Origin(u *url.URL) string {
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// discard drains a little of resp's body, so the connection can be reused,
// and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

var _ http.RoundTripper = (*Transport)(nil)
