package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/solo"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
)

// blockGroup runs the providers' settlement work side by side, one
// goroutine per provider, and puts their requests into shared blocks: a
// block is cut when every provider still working waits on its request, and
// holds them in provider order.
//
// Solo checks its whole account ledger after every block, so a block costs
// time in proportion to the number of accounts; sharing blocks divides the
// settlement cost by up to the number of providers. Grouping is
// deterministic: chain state changes only when a block is cut, while every
// worker waits, so each provider's sequence of requests is what it would be
// alone, and the k-th block carries the k-th request of each provider that
// has one.
type blockGroup struct {
	g *engine

	mu      sync.Mutex
	cond    *sync.Cond
	active  bool
	working int
	queued  []*queuedPost
}

// task is one worker of a group: work for provider prov, in slot slot
// (several workers of one provider take slots 0, 1, ...).
type task struct {
	prov *prov
	slot int
	work func(ctx context.Context)
}

type queuedPost struct {
	prov   int
	slot   int
	signer *cryptolib.KeyPair
	req    chain.Request
	rec    *chain.Receipt
	err    error
	done   bool
}

// slotKey carries a worker's slot in its context down to the provider's
// chain seam.
type slotKey struct{}

func newBlockGroup(g *engine) *blockGroup {
	b := &blockGroup{g: g}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// run runs the tasks concurrently and cuts blocks until all have returned.
func (b *blockGroup) run(ctx context.Context, tasks []task) error {
	if len(tasks) == 0 {
		return nil
	}
	b.mu.Lock()
	b.active, b.working = true, len(tasks)
	b.mu.Unlock()
	for _, t := range tasks {
		go func() {
			defer b.finish()
			t.work(context.WithValue(ctx, slotKey{}, t.slot))
		}()
	}
	var err error
	b.mu.Lock()
	for {
		for b.working > 0 && len(b.queued) < b.working {
			b.cond.Wait()
		}
		if b.working == 0 {
			break
		}
		batch := b.queued
		b.queued = nil
		if berr := b.g.runBlock(batch); berr != nil && err == nil {
			err = berr
		}
		for _, q := range batch {
			q.done = true
		}
		b.cond.Broadcast()
	}
	b.active = false
	b.mu.Unlock()
	return err
}

func (b *blockGroup) finish() {
	b.mu.Lock()
	b.working--
	b.cond.Broadcast()
	b.mu.Unlock()
}

// post queues a request of provider prov and waits for its block; ok is
// false when no group is running (the caller posts directly).
func (b *blockGroup) post(ctx context.Context, prov int, signer *cryptolib.KeyPair, req chain.Request) (rec *chain.Receipt, err error, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.active {
		return nil, nil, false
	}
	slot, _ := ctx.Value(slotKey{}).(int)
	q := &queuedPost{prov: prov, slot: slot, signer: signer, req: req}
	b.queued = append(b.queued, q)
	b.cond.Broadcast()
	for !q.done {
		b.cond.Wait()
	}
	return q.rec, q.err, true
}

// runBlock runs the queued requests as one block of off-ledger requests,
// with the semantics of solochain.Embedded.Post for each: a receipt with
// the request's events, a *chain.Rejected for a contract rejection, and
// chain.ErrUnknownOutcome if Solo failed. Then it scans the block.
func (g *engine) runBlock(batch []*queuedPost) error {
	sort.Slice(batch, func(i, j int) bool {
		if batch[i].prov != batch[j].prov {
			return batch[i].prov < batch[j].prov
		}
		return batch[i].slot < batch[j].slot
	})
	err := solochain.Do(func() {
		reqs := make([]isc.Request, len(batch))
		nonces := map[int]uint64{} // a provider's requests in one block take consecutive nonces
		for i, q := range batch {
			n, ok := nonces[q.prov]
			if !ok {
				n = g.e.Chain.Nonce(chain.AgentOf(q.signer))
			}
			nonces[q.prov] = n + 1
			cp := solo.CallParamsFromDict(contract.Contract.Name, q.req.Entry, q.req.Params).WithGasBudget(math.MaxUint64).WithNonce(n)
			if q.req.Allowance > 0 {
				cp.AddAllowanceBaseTokens(q.req.Allowance)
			}
			reqs[i] = cp.NewRequestOffLedger(g.e.Chain, q.signer)
		}
		results := g.e.Chain.RunOffLedgerRequests(reqs)
		byID := map[isc.RequestID]int{}
		for i, r := range reqs {
			byID[r.ID()] = i
		}
		for _, res := range results {
			i, ok := byID[res.Request.ID()]
			if !ok {
				continue
			}
			q := batch[i]
			q.rec = &chain.Receipt{RequestID: res.Request.ID(), GasBurned: res.Receipt.GasBurned, GasFee: res.Receipt.GasFeeCharged}
			events, err := g.e.Chain.GetEventsForRequest(res.Request.ID())
			if err != nil {
				g.e.Ctx.Fatalf("events of %s: %v", res.Request.ID(), err)
			}
			q.rec.Events = events
			if vmErr := g.e.Chain.ResolveVMError(res.Receipt.Error).AsGoError(); vmErr != nil {
				q.err = &chain.Rejected{Receipt: q.rec, Message: vmErr.Error()}
			}
		}
		for _, q := range batch {
			if q.rec == nil {
				q.err = fmt.Errorf("%w: request was skipped by the VM", chain.ErrUnknownOutcome)
			}
		}
	})
	if err != nil {
		for _, q := range batch {
			q.rec, q.err = nil, fmt.Errorf("%w: %v", chain.ErrUnknownOutcome, err)
		}
	}
	return g.sync()
}

// providersUp returns the providers that are not down, in index order.
func (g *engine) providersUp() []*prov {
	var out []*prov
	for _, pr := range g.providers {
		if !pr.down {
			out = append(out, pr)
		}
	}
	return out
}

// runProviders does work for every provider that is up, side by side, with
// their requests sharing blocks.
func (g *engine) runProviders(work func(ctx context.Context, pr *prov)) error {
	var tasks []task
	for _, pr := range g.providersUp() {
		tasks = append(tasks, task{prov: pr, work: func(ctx context.Context) { work(ctx, pr) }})
	}
	return g.runTasks(tasks)
}

func (g *engine) runTasks(tasks []task) error {
	if g.opts.NoSharedBlocks {
		for _, t := range tasks {
			t.work(g.ctx)
		}
		return nil
	}
	return g.group.run(g.ctx, tasks)
}

// finalSlots is how many warrants of one provider the final settlement
// settles side by side.
const finalSlots = 64

// settleEverything has every provider that is up settle every warrant
// (SettleNow), finalSlots warrants of a provider at a time, and returns
// the providers' errors by index.
func (g *engine) settleEverything() ([]error, error) {
	errs := make([][]error, len(g.providers))
	var tasks []task
	for _, pr := range g.providersUp() {
		var ws []store.WarrantID
		for _, c := range g.consumers {
			if c.prov == pr.idx {
				ws = append(ws, pr.p.WarrantID(c.agent))
			}
		}
		slots := min(finalSlots, max(len(ws), 1))
		errs[pr.idx] = make([]error, slots)
		for slot := range slots {
			tasks = append(tasks, task{prov: pr, slot: slot, work: func(ctx context.Context) {
				if slot == 0 {
					pr.p.RunOnce(ctx)
				}
				var es []error
				for i := slot; i < len(ws); i += slots {
					if _, err := pr.p.SettleNow(ctx, &ws[i]); err != nil {
						es = append(es, err)
					}
				}
				errs[pr.idx][slot] = errors.Join(es...)
			}})
		}
	}
	err := g.runTasks(tasks)
	out := make([]error, len(g.providers))
	for i, es := range errs {
		out[i] = errors.Join(es...)
	}
	return out, err
}
