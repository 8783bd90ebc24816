package consumer

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract/payment"
)

// EventKind says what a Transport Event reports.
type EventKind int

const (
	// EventRetried: a paid request failed in transit (the connection broke
	// or timed out before an answer) and was sent once more with the same
	// PAYMENT-SIGNATURE, which the provider serves again without a new
	// charge if it had accepted the payment.
	EventRetried EventKind = iota + 1
	// EventCredited: the provider stored the payment but failed to serve
	// the piece (a 5xx) and credited it: it is not counted as spent, and
	// the next payment to the provider is lowered by the credit.
	EventCredited
)

func (k EventKind) String() string {
	switch k {
	case EventRetried:
		return "retried"
	case EventCredited:
		return "credited"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something the Transport did beyond paying that its caller may
// want to tell a person (TransportOptions.Observe).
type Event struct {
	Kind    EventKind
	URL     string          // the request's URL, redacted
	Payment payment.Payment // the payment concerned
	Err     error           // EventRetried: the failure of the first attempt
	Credit  uint64          // EventCredited: what the provider owes the payer now
}

func (e Event) String() string {
	switch e.Kind {
	case EventRetried:
		return fmt.Sprintf("%s failed in transit (%v); sent again with the same payment (%v), which is charged at most once", e.URL, e.Err, e.Payment)
	case EventCredited:
		return fmt.Sprintf("%s failed after the provider stored the payment (%v): the piece was credited, not charged; the provider takes %d off your next payment", e.URL, e.Payment, e.Credit)
	}
	return fmt.Sprintf("%v %s %v", e.Kind, e.URL, e.Payment)
}

// observe reports e to TransportOptions.Observe, if set.
func (t *Transport) observe(e Event) {
	if t.opts.Observe != nil {
		t.opts.Observe(e)
	}
}

// errNotSent wraps the errors after which a signed payment was not sent.
var errNotSent = errors.New("payment not sent")

// ErrOutcomeUnknown: a payment was sent (twice, the same one) and no
// answer says whether the provider accepted it; it counts as spent.
var ErrOutcomeUnknown = errors.New("consumer: payment outcome unknown")

// outcome is how a paid request went.
type outcome struct {
	resp *http.Response // the answer, when there is one to return
	// res is the provider's PAYMENT-RESPONSE when it accepted the payment.
	res *x402.PaymentResponse
	rej *RejectedError // the provider refused the payment
	// err: the answer never came, the outcome is unknown (resp nil).
	err error
	// notSent: the payment never left the process.
	notSent error
	// ignored: a pre-emptive payment answered with no word on it, below
	// 500: a resource that is not paywalled, whose provider never took it.
	ignored bool
	// credited: the provider stored the payment and credited the piece it
	// failed to serve; resp is its (5xx) answer, res its word.
	credited bool
	// retry: err is a failure in transit, notSent a connection that could
	// not be opened, or the provider could not tell whether it stored the
	// payment: the same payment may be sent again.
	retry bool
}

// send sends req carrying p, and once more with the same header if the
// first attempt failed in transit and req's context is not done (every
// request the Transport pays has a body it can replay, or none). first
// says that p is pre-emptive: req was not sent before.
func (t *Transport) send(req *http.Request, po paidOffer, p payment.Payment, first bool) outcome {
	url := req.URL.Redacted()
	sig, err := x402.Encode(x402.PaymentPayload{
		X402Version: x402.Version,
		Resource:    &po.resource,
		Accepted:    po.offer,
		Payload:     x402.SignedPayment{Payer: t.payerID, Payment: hex.EncodeToString(p.Bytes())},
	})
	if err != nil {
		return outcome{notSent: fmt.Errorf("pay %s: encode %s: %w: %w", url, x402.HeaderSignature, errNotSent, err)}
	}
	paid, err := t.paidRequest(req, sig)
	if err != nil {
		return outcome{notSent: fmt.Errorf("pay %s: replay body: %w: %w", url, errNotSent, err)}
	}
	out := t.attempt(paid, p, first)
	if !out.retry || req.Context().Err() != nil {
		return out
	}
	t.observe(Event{Kind: EventRetried, URL: url, Payment: p, Err: errors.Join(out.err, out.notSent)})
	again, err := t.paidRequest(req, sig)
	if err != nil {
		if out.err == nil {
			return outcome{notSent: fmt.Errorf("%w (and its body could not be replayed for a retry: %v)", out.notSent, err)}
		}
		out.err = fmt.Errorf("%w (and its body could not be replayed for a retry: %v)", out.err, err)
		return out
	}
	second := t.attempt(again, p, first)
	if second.notSent != nil && out.err != nil {
		// The first attempt may have arrived; the retry did not.
		out.err = fmt.Errorf("%w; its retry was not sent: %v", out.err, second.notSent)
		return out
	}
	return second
}

// attempt sends paid, carrying p, and reads the answer. A connection that
// could not be opened sent nothing (notSent); any other failure leaves the
// outcome unknown. Both may be retried.
func (t *Transport) attempt(paid *http.Request, p payment.Payment, first bool) outcome {
	url := paid.URL.Redacted()
	resp, err := t.opts.Base.RoundTrip(paid)
	var op *net.OpError
	switch {
	case err == nil:
		return verdict(url, resp, p, first)
	case errors.As(err, &op) && op.Op == "dial":
		return outcome{notSent: fmt.Errorf("pay %s: %w: %w", url, errNotSent, err), retry: true}
	}
	return outcome{err: fmt.Errorf("pay %s: %v sent, %w: %w", url, p, ErrOutcomeUnknown, err), retry: true}
}

// paidRequest is a copy of req carrying the PAYMENT-SIGNATURE sig, with a
// fresh copy of its body.
func (t *Transport) paidRequest(req *http.Request, sig string) (*http.Request, error) {
	paid := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		paid.Body = body
	}
	paid.Header.Set(x402.HeaderPayer, t.payerID)
	paid.Header.Set(x402.HeaderSignature, sig)
	return paid, nil
}

// verdict reads the provider's answer resp to the payment p.
func verdict(url string, resp *http.Response, p payment.Payment, first bool) outcome {
	rej := &RejectedError{URL: url, Status: resp.StatusCode, Payment: p}
	h := resp.Header.Get(x402.HeaderResponse)
	if h != "" {
		var res x402.PaymentResponse
		if err := x402.Decode(h, &res); err == nil {
			if res.Success {
				return outcome{resp: resp, res: &res}
			}
			if out, ok := stored(url, resp, &res, p); ok {
				return out
			}
			rej.Reason = res.ErrorReason
		} else if resp.StatusCode != http.StatusPaymentRequired {
			return outcome{resp: resp} // garbled, but served: unknown outcome
		}
	}
	switch resp.StatusCode {
	case http.StatusPaymentRequired:
		var again x402.PaymentRequired
		if x402.Decode(resp.Header.Get(x402.HeaderRequired), &again) == nil {
			rej.Message = again.Error
			if rej.Reason == "" {
				rej.Reason = again.Reason
			}
			rej.required = &again
		}
	case http.StatusBadRequest:
		if rej.Reason == "" {
			rej.Reason = ReasonMalformed
		}
	default:
		if rej.Reason != "" {
			break
		}
		// No word on the payment. A paywall always has one for a payment
		// it took; before 500 the resource is not paywalled when the
		// payment was not asked for. Otherwise the outcome is unknown.
		return outcome{resp: resp, ignored: first && h == "" && resp.StatusCode < 500}
	}
	discard(resp)
	return outcome{rej: rej}
}

// stored reads a PAYMENT-RESPONSE without success that says the payment
// was stored (credited) or may have been (outcome unknown): it stands.
func stored(url string, resp *http.Response, res *x402.PaymentResponse, p payment.Payment) (outcome, bool) {
	if res.Extra == nil {
		return outcome{}, false
	}
	switch res.Extra.Outcome {
	case x402.OutcomeCredited:
		return outcome{resp: resp, res: res, credited: true}, true
	case x402.OutcomeUnknown:
		discard(resp)
		return outcome{err: fmt.Errorf("pay %s: %v sent, %w: the provider answered %s and cannot tell whether it stored it",
			url, p, ErrOutcomeUnknown, resp.Status), retry: true}, true
	}
	return outcome{}, false
}
