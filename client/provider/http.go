package provider

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/iotaledger/wasp/packages/isc"
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
// header gets 400; a failure to check or store gets 503 and no service.
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
		payer, err := isc.AgentIDFromString(payload.Payload.Payer)
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, fmt.Errorf("payer %q: %w", payload.Payload.Payer, err))
			return
		}
		pay, err := payload.Payment()
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, err)
			return
		}
		acc, err := p.Accept(r.Context(), Payment{Payer: payer, Payment: pay, Price: offer.Price, Resource: r.URL.Path})
		if rej, ok := IsRejection(err); ok {
			p.paymentRequired(w, r, res, offer, payer, rej.Err.Error(), rej.Reason)
			return
		}
		if err != nil {
			httpError(w, http.StatusServiceUnavailable, "unavailable", err)
			return
		}
		resp, _ := x402.Encode(p.paymentResponse(payer, acc))
		w.Header().Set(x402.HeaderResponse, resp)
		next.ServeHTTP(w, r)
	})
}

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
		if pos, err := p.Position(r.Context(), payer); err == nil && pos.Exists {
			req.Extra.Payer = payer.String()
			req.Extra.Epoch, req.Extra.LastOrdinal, req.Extra.Deadline = pos.Epoch, pos.LastOrdinal, pos.Deadline
			req.Extra.LastTotal, req.Extra.Backed = x402.Amount(pos.LastTotal), x402.Amount(pos.Backed)
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

func (p *Provider) paymentResponse(payer isc.AgentID, acc *Accepted) x402.PaymentResponse {
	pay := acc.Receipt.Payment
	return x402.PaymentResponse{
		Success: true, Network: x402.Network(p.ChainID().String()), Payer: payer.String(),
		Extra: &x402.Settlement{
			Epoch: pay.Epoch, Ordinal: pay.Ordinal, Total: x402.Amount(pay.Total), Price: x402.Amount(acc.Receipt.Price),
			Backed: x402.Amount(acc.Backed), Unsettled: x402.Amount(acc.Unsettled),
		},
	}
}

// PayRequest is the body of a POST to PayHandler: a payment relayed by a
// metered service that is not HTTP (a telecom switch, a charging station).
type PayRequest struct {
	Payer    string      `json:"payer"`   // agent ID
	Payment  string      `json:"payment"` // hex of the 85-byte wire payment
	Price    x402.Amount `json:"price"`
	Resource string      `json:"resource"`
}

// PayResponse is PayHandler's answer to an accepted payment.
type PayResponse struct {
	Accepted bool            `json:"accepted"`
	Receipt  x402.Settlement `json:"receipt"`
}

// maxPayBody bounds a PayRequest body.
const maxPayBody = 4 << 10

// PayHandler accepts payments POSTed as JSON PayRequest: 200 with a
// PayResponse once stored, 402 with {"reason", "error"} when refused, 400
// when malformed, 503 when the payment could not be checked or stored.
func (p *Provider) PayHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			httpError(w, http.StatusMethodNotAllowed, ReasonMalformed, errors.New("use POST"))
			return
		}
		var req PayRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPayBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, fmt.Errorf("body: %w", err))
			return
		}
		payer, err := isc.AgentIDFromString(req.Payer)
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, fmt.Errorf("payer %q: %w", req.Payer, err))
			return
		}
		raw, err := hex.DecodeString(req.Payment)
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, fmt.Errorf("payment: %w", err))
			return
		}
		pay, err := payment.Decode(raw)
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, err)
			return
		}
		acc, err := p.Accept(r.Context(), Payment{Payer: payer, Payment: pay, Price: uint64(req.Price), Resource: req.Resource})
		if rej, ok := IsRejection(err); ok {
			httpError(w, http.StatusPaymentRequired, rej.Reason, rej.Err)
			return
		}
		if err != nil {
			httpError(w, http.StatusServiceUnavailable, "unavailable", err)
			return
		}
		writeJSON(w, http.StatusOK, PayResponse{Accepted: true, Receipt: *p.paymentResponse(payer, acc).Extra})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, reason string, err error) {
	writeJSON(w, status, map[string]string{"reason": reason, "error": err.Error()})
}
