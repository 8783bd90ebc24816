package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// Offer is what a paywalled request costs.
type Offer struct {
	Price       uint64 // base tokens; 0 serves the request free
	Description string
	MimeType    string
}

// PriceFunc prices a request.
type PriceFunc func(r *http.Request) Offer

// FixedPrice prices every request the same.
func FixedPrice(price uint64, description string) PriceFunc {
	return func(*http.Request) Offer { return Offer{Price: price, Description: description} }
}

// maxTimeout is the x402 maxTimeoutSeconds the provider announces: how long
// it takes to answer a paid request.
const maxTimeout = 60

// Paywall wraps next so that every request priced above zero must carry a
// payment: a request without one gets 402 with a PAYMENT-REQUIRED header
// stating the offer (and, when the request names its payer in
// MICROPAY-PAYER, that payer's position); a request with a PAYMENT-SIGNATURE
// is served once the payment is durably stored, with a PAYMENT-RESPONSE
// header. A refused payment gets 402 again, with the reason; a malformed
// header gets 400; a client that named too many payers the provider does not
// know gets 429 with Retry-After (see LookupLimits); a failure to check or
// store gets 503 and no service (with PAYMENT-RESPONSE outcome "unknown"
// when the payment may have been stored: a retry of it is free).
//
// A consumer pays only for pieces it received. The payment is stored
// pending; when next has written its whole response (and it was flushed)
// the piece is concluded served. When next answers 5xx, the piece is
// credited durably before that status is written, and PAYMENT-RESPONSE
// says so (charged 0, the credit), so the next payment of the warrant may
// fall short of the price by the credit. A write that fails (the client
// went away) or a panic in next credits the piece too. A payment that
// repeats the warrant's newest receipt for the same resource is served
// again without a new charge (outcome "replayed").
func (p *Provider) Paywall(price PriceFunc, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offer := price(r)
		if offer.Price == 0 {
			next.ServeHTTP(w, r)
			return
		}
		res := x402.Resource{URL: r.URL.String(), Description: offer.Description, MimeType: offer.MimeType}
		header := r.Header.Get(x402.HeaderSignature)
		if header == "" {
			p.paymentRequired(w, r, res, offer, nil, x402.HeaderSignature+" header is required", "")
			return
		}
		payload, err := x402.DecodePaymentPayload(header)
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, err)
			return
		}
		if err := p.checkAccepted(payload.Accepted); err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, err)
			return
		}
		payer, known, err := p.payerNamed(payload.Payload.Payer)
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, fmt.Errorf("payer %q: %w", payload.Payload.Payer, err))
			return
		}
		pay, err := payload.Payment()
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, err)
			return
		}
		in := Payment{Payer: payer, Payment: pay, Price: offer.Price, Resource: r.URL.Path, Client: ClientKey(r.RemoteAddr), Pending: true, w: known}
		acc, err := p.Accept(r.Context(), in)
		if rej, ok := IsRejection(err); ok {
			p.paymentRequired(w, r, res, offer, payer, rej.Err.Error(), rej.Reason)
			return
		}
		if tooMany(w, err) {
			return
		}
		if err != nil {
			p.unavailable(w, in, err)
			return
		}
		if known == nil {
			p.rememberName(payload.Payload.Payer, acc.w)
		}
		p.serve(w, r, acc, next)
	})
}

// unavailable answers 503 to a payment that could not be checked or
// stored; when it may have been stored, PAYMENT-RESPONSE says the outcome
// is unknown and that a retry of the same payment is free.
func (p *Provider) unavailable(w http.ResponseWriter, in Payment, err error) {
	if errors.Is(err, errMaybeStored) {
		pay := in.Payment
		resp, _ := x402.Encode(x402.PaymentResponse{
			ErrorReason: x402.ReasonOutcomeUnknown, Network: x402.Network(p.ChainID().String()), Payer: in.Payer.String(),
			Extra: &x402.Settlement{Epoch: pay.Epoch, Ordinal: pay.Ordinal, Total: x402.Amount(pay.Total), Outcome: x402.OutcomeUnknown},
		})
		w.Header().Set(x402.HeaderResponse, resp)
		httpError(w, http.StatusServiceUnavailable, x402.ReasonOutcomeUnknown, fmt.Errorf("%w; retrying the same payment is free: %w", errMaybeStored, err))
		return
	}
	httpError(w, http.StatusServiceUnavailable, "unavailable", err)
}

// serve runs next for the accepted pending payment acc and concludes the
// piece: credited, durably, before a 5xx status goes out, or when a write
// fails or next panics; served once next returned and its response was
// flushed.
func (p *Provider) serve(w http.ResponseWriter, r *http.Request, acc *Accepted, next http.Handler) {
	ctx := context.WithoutCancel(r.Context()) // conclude even when the client has gone
	payer := acc.Receipt.Warrant.Payer
	pw := &pieceWriter{ResponseWriter: w}
	pw.fail = func() {
		pw.header(p.conclude(ctx, acc, payer, false))
	}
	pw.header(p.paymentResponse(acc))
	concluded := false
	defer func() {
		if !concluded && !pw.failed {
			p.conclude(ctx, acc, payer, false) // next panicked
		}
	}()
	next.ServeHTTP(pw, r)
	concluded = true
	if pw.failed {
		return
	}
	if err := http.NewResponseController(pw.ResponseWriter).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		pw.writeErr = err
	}
	p.conclude(ctx, acc, payer, pw.writeErr == nil)
}

// conclude concludes the piece of acc and returns the PAYMENT-RESPONSE
// that tells how it went; a failure to record it is logged and told as
// an unknown outcome (the receipt stays pending, credited at the next
// start, and a retry of the payment is served as a replay).
func (p *Provider) conclude(ctx context.Context, acc *Accepted, payer string, served bool) x402.PaymentResponse {
	done, err := p.Conclude(ctx, acc, served)
	if err != nil {
		p.cfg.Log.Error("record how a paid piece went", "payer", fmt.Sprintf("%x", payer), "ordinal", acc.Receipt.Payment.Ordinal, "served", served, "err", err)
		resp := p.paymentResponse(acc)
		resp.Success, resp.ErrorReason = false, x402.ReasonOutcomeUnknown
		resp.Extra.Price, resp.Extra.Outcome = 0, x402.OutcomeUnknown
		return resp
	}
	return p.paymentResponse(done)
}

// pieceWriter watches a paid response: before a 5xx status is written it
// calls fail, which credits the piece and sets PAYMENT-RESPONSE; it keeps
// the first write error.
type pieceWriter struct {
	http.ResponseWriter
	fail     func()
	status   int // first final status written; 0 before
	failed   bool
	writeErr error
}

// header sets the PAYMENT-RESPONSE header to resp.
func (pw *pieceWriter) header(resp x402.PaymentResponse) {
	h, _ := x402.Encode(resp)
	pw.Header().Set(x402.HeaderResponse, h)
}

func (pw *pieceWriter) WriteHeader(code int) {
	if pw.status == 0 && code >= http.StatusOK { // 1xx are interim
		pw.status = code
		if code >= http.StatusInternalServerError {
			pw.failed = true
			pw.fail()
		}
	}
	pw.ResponseWriter.WriteHeader(code)
}

func (pw *pieceWriter) Write(b []byte) (int, error) {
	if pw.status == 0 {
		pw.WriteHeader(http.StatusOK)
	}
	n, err := pw.ResponseWriter.Write(b)
	if err != nil && pw.writeErr == nil {
		pw.writeErr = err
	}
	return n, err
}

// Flush sends what was written so far (a streaming handler's
// http.Flusher), keeping a failure as a write error.
func (pw *pieceWriter) Flush() {
	if pw.status == 0 {
		pw.WriteHeader(http.StatusOK)
	}
	if err := http.NewResponseController(pw.ResponseWriter).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) && pw.writeErr == nil {
		pw.writeErr = err
	}
}

// Unwrap gives http.ResponseController the underlying writer (Flush,
// deadlines).
func (pw *pieceWriter) Unwrap() http.ResponseWriter { return pw.ResponseWriter }

// checkAccepted checks that a payment names this provider, chain and scheme.
func (p *Provider) checkAccepted(a x402.Requirements) error {
	if want := x402.Network(p.ChainID().String()); a.Network != want {
		return fmt.Errorf("payment is for network %q, this provider settles on %q", a.Network, want)
	}
	if want := p.agent.String(); a.PayTo != want {
		return fmt.Errorf("payment is for provider %q, this is %q", a.PayTo, want)
	}
	return nil
}

func (p *Provider) requirements(offer Offer) x402.Requirements {
	return x402.Requirements{
		Scheme:            x402.Scheme,
		Network:           x402.Network(p.ChainID().String()),
		Amount:            x402.Amount(offer.Price),
		Asset:             x402.Asset,
		PayTo:             p.agent.String(),
		MaxTimeoutSeconds: maxTimeout,
		Extra:             x402.Terms{Contract: contract.Contract.Hname().String()},
	}
}

// paymentRequired answers 402. payer may be nil; then the MICROPAY-PAYER
// header, if any, names whose position to include.
func (p *Provider) paymentRequired(w http.ResponseWriter, r *http.Request, res x402.Resource, offer Offer, payer isc.AgentID, msg, reason string) {
	req := p.requirements(offer)
	if payer == nil {
		if s := r.Header.Get(x402.HeaderPayer); s != "" {
			payer, _ = isc.AgentIDFromString(s) // a bad hint only costs the position
		}
	}
	if payer != nil {
		if pos, err := p.position(r.Context(), ClientKey(r.RemoteAddr), payer); err == nil && pos.Exists {
			req.Extra.Payer = payer.String()
			req.Extra.Epoch, req.Extra.LastOrdinal, req.Extra.Deadline = pos.Epoch, pos.LastOrdinal, pos.Deadline
			req.Extra.LastTotal, req.Extra.Backed = x402.Amount(pos.LastTotal), x402.Amount(pos.Backed)
			req.Extra.Credit = x402.Amount(pos.Credit)
		}
	}
	pr := x402.PaymentRequired{X402Version: x402.Version, Error: msg, Reason: reason, Resource: res, Accepts: []x402.Requirements{req}}
	h, _ := x402.Encode(pr)
	w.Header().Set(x402.HeaderRequired, h)
	if reason != "" {
		fail, _ := x402.Encode(x402.PaymentResponse{Success: false, ErrorReason: reason, Network: req.Network, Payer: req.Extra.Payer})
		w.Header().Set(x402.HeaderResponse, fail)
	}
	writeJSON(w, http.StatusPaymentRequired, map[string]any{"error": msg, "reason": reason, "accepts": pr.Accepts})
}

// paymentResponse is the PAYMENT-RESPONSE of acc: served (Price is what
// the payment added to the total), replayed (Price 0) or credited
// (Success false, Price 0).
func (p *Provider) paymentResponse(acc *Accepted) x402.PaymentResponse {
	pay := acc.Receipt.Payment
	resp := x402.PaymentResponse{
		Success: true, Network: x402.Network(p.chainName), Payer: p.payerText(acc),
		Extra: &x402.Settlement{
			Epoch: pay.Epoch, Ordinal: pay.Ordinal, Total: x402.Amount(pay.Total), Price: x402.Amount(acc.Receipt.Price),
			Backed: x402.Amount(acc.Backed), Unsettled: x402.Amount(acc.Unsettled),
			Outcome: x402.OutcomeServed, Credit: x402.Amount(acc.Credit),
		},
	}
	switch {
	case acc.Receipt.Outcome == store.Credited:
		resp.Success, resp.ErrorReason = false, x402.ReasonCredited
		resp.Extra.Price, resp.Extra.Outcome = 0, x402.OutcomeCredited
	case acc.Replayed:
		resp.Extra.Price, resp.Extra.Outcome = 0, x402.OutcomeReplayed
	}
	return resp
}

// payerText is the payer of acc's receipt as agent ID text: its
// warrant's, made once, when acc knows its warrant.
func (p *Provider) payerText(acc *Accepted) string {
	if acc.w != nil {
		if name := acc.w.name(); name != "" {
			return name
		}
	}
	payerBytes := acc.Receipt.Warrant.Payer
	a, err := isc.AgentIDFromBytes([]byte(payerBytes))
	if err != nil {
		return fmt.Sprintf("%x", payerBytes)
	}
	return a.String()
}

// PayRequest is the body of a POST to PayHandler: a payment relayed by a
// metered service that is not HTTP (a telecom switch, a charging station).
type PayRequest struct {
	Payer    string `json:"payer"`   // agent ID
	Payment  string `json:"payment"` // hex of the 85-byte wire payment
	Resource string `json:"resource"`
	// Price, if present, is the price the meter expects to be charged; the
	// request is refused unless it equals the configured PayConfig.Price.
	// The provider's configuration sets the price, never the request.
	Price *x402.Amount `json:"price,omitempty"`
}

// PayResponse is PayHandler's answer to an accepted payment.
type PayResponse struct {
	Accepted bool            `json:"accepted"`
	Receipt  x402.Settlement `json:"receipt"`
}

// PayConfig configures PayHandler.
type PayConfig struct {
	// Price is what one metered piece costs, in base tokens: a posted
	// payment must raise the warrant's total by at least this. Above zero.
	Price uint64
	// Token is the meters' credential: every request must carry
	// "Authorization: Bearer <Token>". At least 2*TokenBytes characters
	// (LoadOrCreateToken makes one).
	Token string
}

// maxPayBody bounds a PayRequest body, and each payment of a PayBatch.
const maxPayBody = 4 << 10

// PayHandler returns the endpoint of trusted meters: payments POSTed as JSON
// PayRequest with the meter credential, each buying one piece at the
// configured price (less the warrant's credit). A meter that batches posts
// up to MaxPayBatch payments in one PayBatch and gets a PayBatchResponse:
// 200 with each payment's own result (accepted with its receipt, or
// refused with the reason a single POST would get), each accepted one
// stored before the answer; a batch over MaxPayBatch is refused whole
// (413), as is a malformed one (400). A meter that did not get
// the answer posts the same payment and resource again: it is answered
// as a replay (receipt outcome "replayed", price 0), not charged again.
// The piece counts as served once the answer is written; a provider that
// stops before that credits it. It answers 200 with a PayResponse once stored, 401
// without the credential, 402 with {"reason", "error"} when refused, 400
// when malformed, 413 when the body is over 4 KiB, 503 when the payment
// could not be checked or stored. The meter's look-ups of unknown payers
// are not rate-limited (it holds the credential); remembered misses still
// cost no chain read.
func (p *Provider) PayHandler(cfg PayConfig) (http.Handler, error) {
	if cfg.Price == 0 {
		return nil, errors.New("provider: PayConfig.Price is 0: a metered piece must cost something")
	}
	if len(cfg.Token) < 2*TokenBytes {
		return nil, fmt.Errorf("provider: meter token of %d characters, want at least %d", len(cfg.Token), 2*TokenBytes)
	}
	want := sha256.Sum256([]byte(cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			httpError(w, http.StatusMethodNotAllowed, ReasonMalformed, errors.New("use POST"))
			return
		}
		if !bearerMatches(r, want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="micropay-meter"`)
			httpError(w, http.StatusUnauthorized, "unauthorized", errors.New("POST /pay is for the provider's meters: send Authorization: Bearer <meter token>"))
			return
		}
		reqs, batch, status, err := decodePayBody(w, r)
		if err != nil {
			httpError(w, status, ReasonMalformed, err)
			return
		}
		if batch {
			p.payBatch(w, r, reqs, cfg.Price)
			return
		}
		req := reqs[0]
		in, err := p.payRequest(req, cfg.Price)
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, err)
			return
		}
		in.Pending = true
		acc, err := p.Accept(r.Context(), in)
		if rej, ok := IsRejection(err); ok {
			httpError(w, http.StatusPaymentRequired, rej.Reason, rej.Err)
			return
		}
		if err != nil {
			p.unavailable(w, in, err)
			return
		}
		if in.w == nil {
			p.rememberName(req.Payer, acc.w)
		}
		p.serve(w, r, acc, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, PayResponse{Accepted: true, Receipt: *p.paymentResponse(acc).Extra})
		}))
	}), nil
}

// bearerMatches reports, in constant time, whether r carries the bearer
// token whose SHA-256 is want.
func bearerMatches(r *http.Request, want [sha256.Size]byte) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// payRequest decodes req's payer and payment into a Payment priced at
// price, refusing a request that expects another price; a payer named as
// before is not parsed again (payerNamed).
func (p *Provider) payRequest(req PayRequest, price uint64) (Payment, error) {
	if req.Price != nil && uint64(*req.Price) != price {
		return Payment{}, fmt.Errorf("price %d differs from this provider's configured price of %d a piece: the provider sets the price", uint64(*req.Price), price)
	}
	payer, w, err := p.payerNamed(req.Payer)
	if err != nil {
		return Payment{}, fmt.Errorf("payer %q: %w", req.Payer, err)
	}
	var raw [payment.WireSize]byte
	if hex.DecodedLen(len(req.Payment)) != len(raw) {
		return Payment{}, fmt.Errorf("payment: %w: %d hex digits, want %d", payment.ErrMalformed, len(req.Payment), 2*len(raw))
	}
	if _, err := hex.Decode(raw[:], []byte(req.Payment)); err != nil {
		return Payment{}, fmt.Errorf("payment: %w", err)
	}
	pay, err := payment.Decode(raw[:])
	if err != nil {
		return Payment{}, err
	}
	return Payment{Payer: payer, Payment: pay, Price: price, Resource: req.Resource, w: w}, nil
}

// tooMany answers 429 with Retry-After if err is a *RateLimitedError.
func tooMany(w http.ResponseWriter, err error) bool {
	var rl *RateLimitedError
	if !errors.As(err, &rl) {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(rl.RetryAfter)))
	httpError(w, http.StatusTooManyRequests, ReasonRateLimited, rl)
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, reason string, err error) {
	writeJSON(w, status, map[string]string{"reason": reason, "error": err.Error()})
}
