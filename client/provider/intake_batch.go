package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/micropay/micropay/client/x402"
)

// MaxPayBatch is the most payments one POST /pay body may carry
// (PayBatch); a body with more is refused whole with 413.
const MaxPayBatch = 64

// maxPayBatchBody bounds a POST /pay body carrying a batch: MaxPayBatch
// payments of at most maxPayBody each.
const maxPayBatchBody = MaxPayBatch * maxPayBody

// PayBatch is the body of a POST /pay carrying several payments, for a
// meter that batches: each is judged and stored on its own, as if posted
// alone, and answered in a PayResult of its own (PayBatchResponse).
type PayBatch struct {
	Payments []PayRequest `json:"payments"`
}

// PayBatchResponse is PayHandler's answer to a PayBatch: one result per
// payment, in the order of the request.
type PayBatchResponse struct {
	Results []PayResult `json:"results"`
}

// PayResult is the outcome of one payment of a PayBatch: accepted with
// its receipt (stored durably before the answer), or refused with the
// reason and error a single POST would have answered.
type PayResult struct {
	Accepted bool             `json:"accepted"`
	Receipt  *x402.Settlement `json:"receipt,omitempty"`
	Reason   string           `json:"reason,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// payBody is a POST /pay body: one payment (PayRequest's fields) or a
// batch (Payments), never both.
type payBody struct {
	PayRequest
	Payments json.RawMessage `json:"payments"`
}

// decodePayBody reads a POST /pay body: the payments it carries, and
// whether it carried them as a batch. A single payment's body keeps its
// bound of maxPayBody bytes; a batch may carry MaxPayBatch such payments.
// On failure it returns the HTTP status to answer: 413 for a body or a
// batch over its bound, 400 for anything else malformed.
func decodePayBody(w http.ResponseWriter, r *http.Request) ([]PayRequest, bool, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayBatchBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, false, http.StatusRequestEntityTooLarge, fmt.Errorf("body is over %d bytes", tooBig.Limit)
		}
		return nil, false, http.StatusBadRequest, fmt.Errorf("body: %w", err)
	}
	var env payBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, false, http.StatusBadRequest, fmt.Errorf("body: %w", err)
	}
	if env.Payments == nil {
		if len(body) > maxPayBody {
			return nil, false, http.StatusRequestEntityTooLarge, fmt.Errorf("body is over %d bytes", maxPayBody)
		}
		return []PayRequest{env.PayRequest}, false, 0, nil
	}
	if env.PayRequest != (PayRequest{}) {
		return nil, true, http.StatusBadRequest, errors.New("body: a body carries one payment (payer, payment, resource) or a batch (payments), not both")
	}
	reqs, status, err := decodeBatch(env.Payments)
	return reqs, true, status, err
}

// decodeBatch decodes the payments array of a batch, refusing more than
// MaxPayBatch without decoding them.
func decodeBatch(raw json.RawMessage) ([]PayRequest, int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, http.StatusBadRequest, errors.New("body: payments must be an array of payments")
	}
	var reqs []PayRequest
	for dec.More() {
		if len(reqs) == MaxPayBatch {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body: a batch carries at most %d payments; send the rest in another request", MaxPayBatch)
		}
		var req PayRequest
		if err := dec.Decode(&req); err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("body: payment %d: %w", len(reqs), err)
		}
		reqs = append(reqs, req)
	}
	if _, err := dec.Token(); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("body: payments: %w", err)
	}
	if len(reqs) == 0 {
		return nil, http.StatusBadRequest, errors.New("body: a batch carries at least one payment")
	}
	return reqs, 0, nil
}

// payBatch judges and stores each payment of reqs on its own, each
// buying a piece at price: the payments of one payer one after another in
// the order given, different payers' at once (sharing the store's syncs).
// It answers 200 with a PayResult per payment once every accepted one is
// stored, and then concludes their pieces: served when the answer was
// written, credited otherwise.
func (p *Provider) payBatch(w http.ResponseWriter, r *http.Request, reqs []PayRequest, price uint64) {
	ctx := context.WithoutCancel(r.Context()) // conclude even when the meter has gone
	results := make([]PayResult, len(reqs))
	accs := make([]*Accepted, len(reqs))
	ins := make([]Payment, len(reqs))
	byPayer := map[string][]int{} // by the payer's ID bytes, however a request spells it
	for i, req := range reqs {
		in, err := p.payRequest(req, price)
		if err != nil {
			results[i] = PayResult{Reason: ReasonMalformed, Error: err.Error()}
			continue
		}
		ins[i] = in
		key := string(in.Payer.Bytes())
		if in.w != nil {
			key = in.w.id.Payer
		}
		byPayer[key] = append(byPayer[key], i)
	}
	p.inPayerOrder(byPayer, func(i int) { accs[i], results[i] = p.payOne(r.Context(), ins[i], reqs[i].Payer) })

	concluded := false
	defer func() {
		if !concluded {
			p.concludeAll(ctx, byPayer, accs, false) // the answer panicked
		}
	}()
	writeJSON(w, http.StatusOK, PayBatchResponse{Results: results})
	err := http.NewResponseController(w).Flush()
	concluded = true
	p.concludeAll(ctx, byPayer, accs, err == nil || errors.Is(err, http.ErrNotSupported))
}

// payOne accepts in, a payment of a batch whose payer the request named
// payerText, as a pending piece and returns it with its result.
func (p *Provider) payOne(ctx context.Context, in Payment, payerText string) (*Accepted, PayResult) {
	in.Pending = true
	acc, err := p.Accept(ctx, in)
	if rej, ok := IsRejection(err); ok {
		return nil, PayResult{Reason: rej.Reason, Error: rej.Err.Error()}
	}
	if errors.Is(err, errMaybeStored) {
		return nil, PayResult{Reason: x402.ReasonOutcomeUnknown, Error: fmt.Sprintf("%v; retrying the same payment is free: %v", errMaybeStored, err)}
	}
	if err != nil {
		return nil, PayResult{Reason: "unavailable", Error: err.Error()}
	}
	if in.w == nil {
		p.rememberName(payerText, acc.w)
	}
	return acc, PayResult{Accepted: true, Receipt: p.paymentResponse(acc).Extra}
}

// concludeAll concludes the piece of every accepted payment of a batch.
func (p *Provider) concludeAll(ctx context.Context, byPayer map[string][]int, accs []*Accepted, served bool) {
	p.inPayerOrder(byPayer, func(i int) {
		if acc := accs[i]; acc != nil {
			p.conclude(ctx, acc, acc.Receipt.Warrant.Payer, served)
		}
	})
}

// inPayerOrder calls fn for the indexes of each payer in order, the
// payers at once (on p's workers), and returns when every call has.
func (p *Provider) inPayerOrder(byPayer map[string][]int, fn func(i int)) {
	var wg sync.WaitGroup
	for _, idx := range byPayer {
		wg.Add(1)
		p.workers.do(func() {
			defer wg.Done()
			for _, i := range idx {
				fn(i)
			}
		})
	}
	wg.Wait()
}
