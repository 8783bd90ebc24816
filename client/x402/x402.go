// Package x402 carries micropay payments over HTTP with the x402 v2 header
// conventions: a 402 answer with a PAYMENT-REQUIRED header, the signed
// payment in a PAYMENT-SIGNATURE header, the outcome in PAYMENT-RESPONSE;
// each header is base64 of a JSON object.
//
// micropay is its own x402 scheme, "micropay-warrant": the payment is an
// 85-byte cumulative promise under a warrant (docs/protocol.md) that the
// provider settles later in batches, so PAYMENT-RESPONSE reports the
// accepted total and the backed balance left, not a transaction.
package x402

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/micropay/micropay/contract/payment"
)

// Header names.
const (
	HeaderRequired  = "PAYMENT-REQUIRED"
	HeaderSignature = "PAYMENT-SIGNATURE"
	HeaderResponse  = "PAYMENT-RESPONSE"
	// HeaderPayer is micropay's own request header: the payer's agent ID,
	// so that a 402 answer can state that payer's position (epoch, last
	// accepted ordinal and total, backed balance).
	HeaderPayer = "MICROPAY-PAYER"
)

// Version is the x402 protocol version spoken.
const Version = 2

// Scheme is micropay's x402 scheme name.
const Scheme = "micropay-warrant"

// Asset names the ISC chain's base token.
const Asset = "base"

// maxHeader bounds a decoded header; a micropay header is well under 2 KiB.
const maxHeader = 16 << 10

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("x402: malformed header")

// Network returns the x402 network name of an ISC chain: "iota-isc:" and the
// chain ID in bech32.
func Network(chainID string) string { return "iota-isc:" + chainID }

// Resource describes what is being paid for.
type Resource struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
}

// Terms are the micropay specifics of an offer (x402 "extra").
type Terms struct {
	Contract string `json:"contract"` // hname of the micropay contract, hex
	// The payer's position as the provider sees it; present when the
	// request named its payer (HeaderPayer) and a warrant exists.
	Payer       string `json:"payer,omitempty"`
	Epoch       uint32 `json:"epoch,omitempty"`
	LastOrdinal uint64 `json:"lastOrdinal,omitempty"`
	LastTotal   Amount `json:"lastTotal,omitempty"`
	// Backed is what the warrant can still back beyond LastTotal.
	Backed Amount `json:"backed,omitempty"`
	// Deadline is the revoke deadline (unix s) when revoked.
	Deadline uint64 `json:"deadline,omitempty"`
	// Credit is what the provider owes the payer for pieces it was paid
	// for and did not serve: the next payment may raise LastTotal by the
	// price less Credit (never below zero).
	Credit Amount `json:"credit,omitempty"`
}

// Requirements is one accepted way to pay (an entry of "accepts").
type Requirements struct {
	Scheme            string `json:"scheme"`
	Network           string `json:"network"`
	Amount            Amount `json:"amount"` // price of this piece, base tokens
	Asset             string `json:"asset"`
	PayTo             string `json:"payTo"` // provider agent ID
	MaxTimeoutSeconds int    `json:"maxTimeoutSeconds"`
	Extra             Terms  `json:"extra"`
}

// PaymentRequired is the PAYMENT-REQUIRED object.
type PaymentRequired struct {
	X402Version int            `json:"x402Version"`
	Error       string         `json:"error,omitempty"`
	Reason      string         `json:"reason,omitempty"` // machine-readable rejection reason
	Resource    Resource       `json:"resource"`
	Accepts     []Requirements `json:"accepts"`
}

// SignedPayment is the micropay payload of a PAYMENT-SIGNATURE.
type SignedPayment struct {
	Payer   string `json:"payer"`   // payer agent ID
	Payment string `json:"payment"` // hex of the 85-byte wire payment
}

// PaymentPayload is the PAYMENT-SIGNATURE object.
type PaymentPayload struct {
	X402Version int           `json:"x402Version"`
	Resource    *Resource     `json:"resource,omitempty"`
	Accepted    Requirements  `json:"accepted"`
	Payload     SignedPayment `json:"payload"`
}

// Payment decodes the wire payment carried by p.
func (p *PaymentPayload) Payment() (payment.Payment, error) {
	b, err := hex.DecodeString(p.Payload.Payment)
	if err != nil {
		return payment.Payment{}, fmt.Errorf("%w: payload.payment: %v", ErrMalformed, err)
	}
	return payment.Decode(b)
}

// Outcomes of a paid request, in Settlement.Outcome. A consumer that gets
// no PAYMENT-RESPONSE at all (connection reset, timeout) after sending a
// payment is in the OutcomeUnknown case too.
const (
	// OutcomeServed: the payment was accepted and the piece served; Price
	// is what the piece cost.
	OutcomeServed = "served"
	// OutcomeReplayed: the payment is the provider's newest receipt of the
	// warrant, already accepted for this resource; the piece is served
	// again and Price is 0. Only the newest payment, for the same
	// resource, is served again.
	OutcomeReplayed = "replayed"
	// OutcomeCredited: the payment was stored but the piece failed (the
	// answer is a 5xx); Price is 0 and Credit includes the piece's price,
	// which the provider takes off the next payment of the warrant.
	OutcomeCredited = "credited"
	// OutcomeUnknown: the provider could not tell whether it stored the
	// payment (a storage failure). The payment may have been accepted;
	// retrying the same payment for the same resource is free: it is
	// served as a replay if it was stored, accepted once if it was not.
	OutcomeUnknown = "unknown"
)

// Reasons of a PAYMENT-RESPONSE with Success false that carries a
// Settlement (ErrorReason).
const (
	ReasonCredited       = "credited"        // see OutcomeCredited
	ReasonOutcomeUnknown = "outcome_unknown" // see OutcomeUnknown
)

// Settlement is micropay's part of a PAYMENT-RESPONSE ("extra").
type Settlement struct {
	Epoch     uint32 `json:"epoch"`
	Ordinal   uint64 `json:"ordinal"`
	Total     Amount `json:"total"`  // accepted cumulative total
	Price     Amount `json:"price"`  // what this piece cost: 0 when replayed or credited
	Backed    Amount `json:"backed"` // what the warrant can still back beyond Total
	Unsettled Amount `json:"unsettled"`
	// Outcome is one of the Outcome* constants; empty from a provider that
	// predates them, meaning OutcomeServed.
	Outcome string `json:"outcome,omitempty"`
	// Credit is what the provider owes the payer after this request for
	// pieces paid and not served (see Terms.Credit): the next payment of
	// the warrant may raise Total by the price less Credit.
	Credit Amount `json:"credit,omitempty"`
}

// PaymentResponse is the PAYMENT-RESPONSE object. Transaction is empty: a
// micropay payment is settled later, in a batch.
type PaymentResponse struct {
	Success     bool        `json:"success"`
	ErrorReason string      `json:"errorReason,omitempty"`
	Transaction string      `json:"transaction"`
	Network     string      `json:"network"`
	Payer       string      `json:"payer"`
	Extra       *Settlement `json:"extra,omitempty"`
}

// Amount is a base-token amount, a decimal string in JSON as x402 has it.
type Amount uint64

// MarshalJSON encodes a as a decimal string.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(a), 10) + `"`), nil
}

// UnmarshalJSON decodes a decimal string (or a bare number).
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("amount %q: %w", s, err)
	}
	*a = Amount(v)
	return nil
}

// Encode returns the header value of v: base64 of its JSON.
func Encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Decode parses a header value into v; errors wrap ErrMalformed.
func Decode(header string, v any) error {
	if len(header) == 0 {
		return fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(header) > maxHeader {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(header), maxHeader)
	}
	b, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return fmt.Errorf("%w: base64: %v", ErrMalformed, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: json: %v", ErrMalformed, err)
	}
	return nil
}

// DecodePaymentPayload parses a PAYMENT-SIGNATURE header and checks its
// version and scheme.
func DecodePaymentPayload(header string) (*PaymentPayload, error) {
	var p PaymentPayload
	if err := Decode(header, &p); err != nil {
		return nil, err
	}
	if p.X402Version != Version {
		return nil, fmt.Errorf("%w: x402Version %d, want %d", ErrMalformed, p.X402Version, Version)
	}
	if p.Accepted.Scheme != Scheme {
		return nil, fmt.Errorf("%w: scheme %q, want %q", ErrMalformed, p.Accepted.Scheme, Scheme)
	}
	if p.Payload.Payer == "" {
		return nil, fmt.Errorf("%w: payload.payer is empty", ErrMalformed)
	}
	return &p, nil
}
