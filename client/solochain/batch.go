package solochain

import (
	"context"
	"fmt"
	"math"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/solo"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

// BatchRequest is one request of PostBatch.
type BatchRequest struct {
	Signer  *cryptolib.KeyPair
	Request chain.Request
	// Contract names the contract the request calls; "" is micropay.
	Contract string
	// NoEvents leaves the receipt's Events empty, which saves a view call
	// per request for callers that read no events (bulk funding, say).
	NoEvents bool
}

// BatchOutcome is what Post would have returned for one request of a batch.
type BatchOutcome struct {
	Receipt *chain.Receipt
	Err     error
}

// PostBatch runs reqs as off-ledger requests in one block, in order, each
// signed by its Signer; several requests of one signer take its consecutive
// nonces. Solo checks its whole account ledger after every block, so many
// requests in one block cost far less than one block each. Each outcome
// means what Post's would: a receipt (with the request's events unless
// NoEvents), a *chain.Rejected when the contract rejected the request, and
// chain.ErrUnknownOutcome when Solo failed or the VM skipped the request
// (a block has a gas limit: keep batches to what one block can hold).
// Posts and batches are serialized with each other.
func (e *Embedded) PostBatch(ctx context.Context, reqs []BatchRequest) []BatchOutcome {
	out := make([]BatchOutcome, len(reqs))
	if err := ctx.Err(); err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	e.postMu.Lock()
	defer e.postMu.Unlock()
	err := Do(func() { e.runBatch(reqs, out) })
	for i := range out {
		switch {
		case err != nil:
			out[i] = BatchOutcome{Err: fmt.Errorf("%w: %v", chain.ErrUnknownOutcome, err)}
		case out[i].Receipt == nil && out[i].Err == nil:
			out[i].Err = fmt.Errorf("%w: the request was skipped by the VM", chain.ErrUnknownOutcome)
		}
	}
	return out
}

// runBatch builds, runs and reads back one block of reqs into out. It runs
// inside Do.
func (e *Embedded) runBatch(reqs []BatchRequest, out []BatchOutcome) {
	nonces := map[string]uint64{}
	byID := make(map[isc.RequestID]int, len(reqs))
	offLedger := make([]isc.Request, len(reqs))
	for i, r := range reqs {
		agent := chain.AgentOf(r.Signer)
		k := string(agent.Bytes())
		n, ok := nonces[k]
		if !ok {
			n = e.Chain.Nonce(agent)
		}
		nonces[k] = n + 1
		target := r.Contract
		if target == "" {
			target = contract.Contract.Name
		}
		cp := solo.CallParamsFromDict(target, r.Request.Entry, r.Request.Params).WithGasBudget(math.MaxUint64).WithNonce(n)
		if r.Request.Allowance > 0 {
			cp.AddAllowanceBaseTokens(r.Request.Allowance)
		}
		offLedger[i] = cp.NewRequestOffLedger(e.Chain, r.Signer)
		byID[offLedger[i].ID()] = i
	}
	for _, res := range e.runOffLedger(offLedger) {
		i, ok := byID[res.Request.ID()]
		if !ok {
			continue
		}
		rec := &chain.Receipt{RequestID: res.Request.ID(), GasBurned: res.Receipt.GasBurned, GasFee: res.Receipt.GasFeeCharged}
		if !reqs[i].NoEvents {
			events, err := e.Chain.GetEventsForRequest(rec.RequestID)
			if err != nil {
				e.Ctx.Fatalf("events of %s: %v", rec.RequestID, err)
			}
			rec.Events = events
		}
		out[i].Receipt = rec
		if vmErr := e.Chain.ResolveVMError(res.Receipt.Error).AsGoError(); vmErr != nil {
			out[i].Err = &chain.Rejected{Receipt: rec, Message: vmErr.Error()}
		}
	}
}

// Collector is a chain seam that runs nothing: Post records each request
// in Items, as a BatchRequest without events, and answers an empty
// receipt. The requests the chain package builds (chain.AddWarrant, say)
// are collected this way and then run by the thousand in one block with
// PostBatch. Reads go to the embedded Chain.
type Collector struct {
	chain.Chain
	Items []BatchRequest
}

// Post implements chain.Chain by collecting req.
func (c *Collector) Post(_ context.Context, signer *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	c.Items = append(c.Items, BatchRequest{Signer: signer, Request: req, NoEvents: true})
	return &chain.Receipt{}, nil
}
