package facilitator

import (
	"encoding/json"

	"github.com/micropay/micropay/client/x402"
)

// Request is the body of POST /verify and POST /settle (x402 v2's
// VerifyRequest and SettleRequest).
type Request struct {
	X402Version         int               `json:"x402Version"`
	PaymentPayload      PaymentPayload    `json:"paymentPayload"`
	PaymentRequirements x402.Requirements `json:"paymentRequirements"`
}

// PaymentPayload is x402 v2's PaymentPayload with the micropay-warrant
// payload and the extensions the client sent.
type PaymentPayload struct {
	X402Version int                        `json:"x402Version"`
	Resource    *x402.Resource             `json:"resource,omitempty"`
	Accepted    x402.Requirements          `json:"accepted"`
	Payload     x402.SignedPayment         `json:"payload"`
	Extensions  map[string]json.RawMessage `json:"extensions,omitempty"`
}

// VerifyResponse is x402 v2's VerifyResponse.
type VerifyResponse struct {
	IsValid        bool         `json:"isValid"`
	InvalidReason  string       `json:"invalidReason,omitempty"`
	InvalidMessage string       `json:"invalidMessage,omitempty"`
	Payer          string       `json:"payer,omitempty"`
	Extra          *VerifyExtra `json:"extra,omitempty"`
}

// VerifyExtra is micropay's part of a VerifyResponse.
type VerifyExtra struct {
	// Price is what settling the payment would charge.
	Price x402.Amount `json:"price"`
	// Position is the payer's standing with the provider, on a refusal
	// whose warrant exists: what a corrective 402 tells the client
	// (docs/x402-scheme.md, "The corrective 402").
	Position *x402.Terms `json:"position,omitempty"`
}

// SettleResponse is x402 v2's SettleResponse. Transaction is the
// commitment identifier "micropay:<epoch>:<ordinal>": the payment is
// stored, and redeemed on chain later in a batch.
type SettleResponse struct {
	Success      bool             `json:"success"`
	ErrorReason  string           `json:"errorReason,omitempty"`
	ErrorMessage string           `json:"errorMessage,omitempty"`
	Payer        string           `json:"payer,omitempty"`
	Transaction  string           `json:"transaction"`
	Network      string           `json:"network"`
	Amount       *x402.Amount     `json:"amount,omitempty"`
	Extra        *x402.Settlement `json:"extra,omitempty"`
}

// SupportedKind is one entry of GET /supported's kinds.
type SupportedKind struct {
	X402Version int            `json:"x402Version"`
	Scheme      string         `json:"scheme"`
	Network     string         `json:"network"`
	Extra       map[string]any `json:"extra,omitempty"`
}

// SupportedResponse is GET /supported's answer.
type SupportedResponse struct {
	Kinds      []SupportedKind     `json:"kinds"`
	Extensions []string            `json:"extensions"`
	Signers    map[string][]string `json:"signers"`
}

// Reasons a facilitator answers with (x402's error codes, and the
// scheme's own: ReasonPrefix and a rule name).
const (
	ReasonVersion      = "invalid_x402_version"
	ReasonScheme       = "unsupported_scheme"
	ReasonNetwork      = "invalid_network"
	ReasonRequirements = "invalid_payment_requirements"
	ReasonPayload      = "invalid_payload"
	ReasonFunds        = "insufficient_funds"
	ReasonVerifyError  = "unexpected_verify_error"
	ReasonSettleError  = "unexpected_settle_error"
	// ReasonPrefix prefixes a micropay rule name (provider.Rejection.Reason):
	// "invalid_micropay_warrant_bad_signature".
	ReasonPrefix = "invalid_micropay_warrant_"
)

// PaymentIdentifier is the x402 extension whose id makes /settle
// idempotent.
const PaymentIdentifier = "payment-identifier"
