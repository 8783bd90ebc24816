package sim

import (
	"context"
	"sort"
	"sync"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/solochain"
)

// blockGroup runs the providers' settlement work side by side, one
// goroutine per provider, and puts their requests into shared blocks: a
// block is cut when every provider still working waits on its request, and
// holds them in provider order.
//
// Every block costs the VM's per-block work and a state commit; sharing
// blocks divides that by up to the number of providers. Grouping is
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

// task is one worker of a group: work for provider prov.
type task struct {
	prov *prov
	work func(ctx context.Context)
}

type queuedPost struct {
	prov   int
	signer *cryptolib.KeyPair
	req    chain.Request
	rec    *chain.Receipt
	err    error
	done   bool
}

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
			t.work(ctx)
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
	q := &queuedPost{prov: prov, signer: signer, req: req}
	b.queued = append(b.queued, q)
	b.cond.Broadcast()
	for !q.done {
		b.cond.Wait()
	}
	return q.rec, q.err, true
}

// runBlock runs the queued requests, in provider order, as one block
// (solochain.Embedded.PostBatch: each outcome what Post's would be), then
// scans the block.
func (g *engine) runBlock(batch []*queuedPost) error {
	sort.Slice(batch, func(i, j int) bool { return batch[i].prov < batch[j].prov })
	reqs := make([]solochain.BatchRequest, len(batch))
	for i, q := range batch {
		reqs[i] = solochain.BatchRequest{Signer: q.signer, Request: q.req}
	}
	for i, o := range g.e.PostBatch(g.ctx, reqs) {
		batch[i].rec, batch[i].err = o.Receipt, o.Err
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

// settleEverything has every provider that is up settle every warrant at
// once (SettleNow of all: settleMany batches, as a schedule sends them),
// side by side, and returns the providers' errors by index.
func (g *engine) settleEverything() ([]error, error) {
	errs := make([]error, len(g.providers))
	err := g.runProviders(func(ctx context.Context, pr *prov) {
		pr.p.RunOnce(ctx)
		_, errs[pr.idx] = pr.p.SettleNow(ctx, nil)
	})
	return errs, err
}
