package waspchain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/clients/apiclient"
	"github.com/iotaledger/wasp/clients/chainclient"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

// signer serializes one key's nonce taking and submission.
type signer struct {
	mu    sync.Mutex
	known bool   // next is valid: the last submit of this key was accepted or refused
	next  uint64 // one past the nonce of the last request the node accepted
}

func (c *Chain) signer(key *cryptolib.KeyPair) *signer {
	id := string(key.GetPublicKey().AsBytes())
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.signers[id]
	if !ok {
		s = &signer{}
		c.signers[id] = s
	}
	return s
}

// Post signs req as an off-ledger request to the micropay contract, submits
// it to the node and waits for its receipt and events.
func (c *Chain) Post(ctx context.Context, key *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.post(ctx, key, contract.Contract.Hname(), req)
}

// post is Post to any contract of the chain.
func (c *Chain) post(ctx context.Context, key *cryptolib.KeyPair, target isc.Hname, req chain.Request) (*chain.Receipt, error) {
	id, err := c.submit(ctx, key, target, req)
	if err != nil {
		return nil, err
	}
	return c.await(ctx, id)
}

// submit takes the signer's next nonce, signs the request and sends it to
// the nodes in turn (see send). An error wraps chain.ErrUnknownOutcome
// unless the request surely did not reach a mempool.
func (c *Chain) submit(ctx context.Context, key *cryptolib.KeyPair, target isc.Hname, req chain.Request) (isc.RequestID, error) {
	s := c.signer(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	agent := chain.AgentOf(key)
	nonce, err := c.nonce(ctx, agent)
	if err != nil {
		return isc.RequestID{}, fmt.Errorf("nonce of %s: %w", agent, err)
	}
	if s.known && s.next > nonce {
		nonce = s.next
	}
	signed := c.sign(key, target, req, nonce)
	switch sent, err := c.send(ctx, signed); {
	case err == nil:
		s.known, s.next = true, signed.Nonce()+1
		return signed.ID(), nil
	case !sent:
		// Every node answered with an error: the request is not in a
		// mempool and its nonce is free again.
		return isc.RequestID{}, fmt.Errorf("node refused request %s: %w", signed.ID(), err)
	default:
		s.known = false
		return isc.RequestID{}, fmt.Errorf("submit request %s: %w: %w", signed.ID(), chain.ErrUnknownOutcome, err)
	}
}

// sign builds and signs req to the target contract exactly as wasp's
// chainclient (PostOffLedgerRequest) does, with the given nonce.
func (c *Chain) sign(key *cryptolib.KeyPair, target isc.Hname, req chain.Request, nonce uint64) isc.OffLedgerRequest {
	params := chainclient.PostRequestParams{Args: req.Params, Nonce: nonce}
	if req.Allowance > 0 {
		params.Allowance = isc.NewAssetsBaseTokens(req.Allowance)
	}
	r := isc.NewOffLedgerRequest(c.id, target, isc.Hn(req.Entry), params.Args, nonce, params.GasBudget())
	r.WithAllowance(params.Allowance)
	r.WithNonce(nonce)
	return r.Sign(key)
}

// send sends the signed request to the node calls go to first and, when a
// node gives no answer (the request may or may not have arrived), the very
// same signed bytes to the next: one request ID, one nonce, so the chain
// runs it at most once however many nodes got it. A node that answers that
// it already has the request (processed, or in its mempool) reconciles an
// earlier unanswered send: the request landed. sent is false only if every
// attempt was refused by an answer, so that no node can have the request.
func (c *Chain) send(ctx context.Context, signed isc.OffLedgerRequest) (sent bool, err error) {
	body := apiclient.OffLedgerRequest{ChainId: c.id.String(), Request: iotago.EncodeHex(signed.Bytes())}
	start := int(c.cur.Load())
	for i := range c.nodes {
		k := (start + i) % len(c.nodes)
		resp, perr := c.nodes[k].api.RequestsApi.OffLedger(ctx).OffLedgerRequest(body).Execute()
		err = callError(resp, perr)
		switch {
		case err == nil:
			c.cur.Store(int32(k))
			return true, nil
		case refused(perr):
			c.cur.Store(int32(k))
			if sent && alreadyHas(err) {
				return true, nil
			}
			return sent, err
		case ctx.Err() != nil || !noAnswer(err):
			return true, err
		}
		sent = true // no answer: it may have arrived
		err = fmt.Errorf("%s: %w", c.nodes[k].url, err)
	}
	return sent, fmt.Errorf("%w: %w", ErrUnreachable, err)
}

// alreadyHas reports whether a node's refusal says it has the request: wasp
// answers "request already processed", and its mempool "already in mempool".
func alreadyHas(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "already processed") || strings.Contains(msg, "already in mempool")
}

// refused reports whether a submit error is an answer of the node (or a
// failure to build the HTTP request), as opposed to a failure after which the
// request may have arrived: the generated client returns its
// GenericOpenAPIError only in the former cases.
func refused(err error) bool {
	var g *apiclient.GenericOpenAPIError
	return errors.As(err, &g)
}

func (c *Chain) nonce(ctx context.Context, agent isc.AgentID) (uint64, error) {
	var r *apiclient.AccountNonceResponse
	err := c.each(ctx, func(n *node) error {
		var resp *http.Response
		var err error
		r, resp, err = n.api.CorecontractsApi.AccountsGetAccountNonce(ctx, c.id.String(), agent.String()).Execute()
		return callError(resp, err)
	})
	if err != nil {
		return 0, err
	}
	if r == nil {
		return 0, errors.New("empty answer")
	}
	return iotago.DecodeUint64(r.Nonce)
}

// maxWaitSeconds is the longest wait a Wasp node grants one call of the
// wait endpoint.
const maxWaitSeconds = 60

// await waits for the receipt of request id, then reads its events.
func (c *Chain) await(ctx context.Context, id isc.RequestID) (*chain.Receipt, error) {
	unknown := func(what string, err error) error {
		return fmt.Errorf("request %s: %s: %w: %w", id, what, chain.ErrUnknownOutcome, err)
	}
	wctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var (
		rec    *chain.Receipt
		vmErr  string
		retry  = newBackoff()
		lastEr error
	)
	for rec == nil {
		secs := int32(maxWaitSeconds)
		if dl, ok := wctx.Deadline(); ok {
			secs = int32(min(maxWaitSeconds, max(1, time.Until(dl).Round(time.Second)/time.Second)))
		}
		n := c.nodes[c.cur.Load()]
		r, resp, err := n.api.ChainsApi.WaitForRequest(wctx, c.id.String(), id.String()).TimeoutSeconds(secs).Execute()
		switch {
		case err == nil && r != nil && r.GasBudget != "":
			rec, vmErr, err = receiptFromAPI(id, r)
			if err != nil {
				return nil, unknown("receipt", err)
			}
			continue
		case err == nil:
			// A Wasp node answers an empty receipt for a request it found
			// unprocessable for now; it may still run it.
			lastEr = errors.New("the node answered an empty receipt")
		case resp != nil && !retryable(resp.StatusCode):
			return nil, unknown("wait for receipt", callError(resp, err))
		default:
			lastEr = callError(resp, err)
			if noAnswer(lastEr) {
				c.next(n) // ask another node for the same request ID
			}
		}
		if err := retry.wait(wctx); err != nil {
			if ctx.Err() != nil {
				return nil, unknown("wait for receipt", ctx.Err())
			}
			return nil, unknown(fmt.Sprintf("no receipt within %s", c.timeout), lastEr)
		}
	}
	events, err := c.events(ctx, id)
	if err != nil {
		// The request was processed, but the receipt the caller needs is
		// incomplete: reading state is the way to learn what it did.
		return rec, unknown("events", err)
	}
	rec.Events = events
	if vmErr != "" {
		return rec, &chain.Rejected{Receipt: rec, Message: vmErr}
	}
	return rec, nil
}

// events reads the events of a processed request, retrying what may be
// transient for up to the receipt timeout.
func (c *Chain) events(ctx context.Context, id isc.RequestID) ([]*isc.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	retry := newBackoff()
	for {
		var r *apiclient.EventsResponse
		err := c.each(ctx, func(n *node) error {
			var resp *http.Response
			var err error
			r, resp, err = n.api.CorecontractsApi.BlocklogGetEventsOfRequest(ctx, c.id.String(), id.String()).Execute()
			return callError(resp, err)
		})
		if err == nil {
			if r == nil {
				return nil, errors.New("empty answer")
			}
			return eventsFromAPI(r.Events)
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && !retryable(apiErr.StatusCode) {
			return nil, err
		}
		if werr := retry.wait(ctx); werr != nil {
			return nil, fmt.Errorf("%w (last error: %w)", werr, err)
		}
	}
}

// retryable reports whether a call answered with status may succeed if
// repeated: timeouts, overload and server errors.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// backoff spaces retries: 100 ms doubling up to 2 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) wait(ctx context.Context) error {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, 2*time.Second)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
