package devnet

import (
	"errors"
	"fmt"
	"sort"

	"github.com/iotaledger/wasp/packages/isc"
)

// maxPooled bounds the requests waiting to run, so a client sending
// requests with nonces far ahead cannot grow the pool without limit.
const maxPooled = 10_000

// maxBatch bounds the requests run in one block.
const maxBatch = 100

// mempool holds accepted off-ledger requests until their nonce comes up.
// It is not safe for concurrent use: the Devnet's mutex guards it.
type mempool struct {
	reqs map[isc.RequestID]pooled
	seq  uint64
}

type pooled struct {
	req isc.OffLedgerRequest
	seq uint64 // arrival order: among requests with one nonce, the first runs
}

func newMempool() *mempool { return &mempool{reqs: map[isc.RequestID]pooled{}} }

func (p *mempool) has(id isc.RequestID) bool {
	_, ok := p.reqs[id]
	return ok
}

func (p *mempool) len() int { return len(p.reqs) }

var errPoolFull = errors.New("mempool is full")

func (p *mempool) add(req isc.OffLedgerRequest) error {
	if len(p.reqs) >= maxPooled {
		return errPoolFull
	}
	p.seq++
	p.reqs[req.ID()] = pooled{req: req, seq: p.seq}
	return nil
}

func (p *mempool) remove(id isc.RequestID) { delete(p.reqs, id) }

// bySender returns the pooled requests grouped by sender, each group in
// nonce order, then arrival order.
func (p *mempool) bySender() map[string][]pooled {
	groups := map[string][]pooled{}
	for _, e := range p.reqs {
		k := string(e.req.SenderAccount().Bytes())
		groups[k] = append(groups[k], e)
	}
	for _, g := range groups {
		sort.Slice(g, func(i, j int) bool {
			if a, b := g[i].req.Nonce(), g[j].req.Nonce(); a != b {
				return a < b
			}
			return g[i].seq < g[j].seq
		})
	}
	return groups
}

// ready returns up to limit requests that can run now: for each sender, the
// run of consecutive nonces starting at the account's nonce, one request
// per nonce. nonceOf returns an account's nonce in the latest state.
func (p *mempool) ready(nonceOf func(isc.AgentID) uint64, limit int) []isc.Request {
	var out []isc.Request
	for _, g := range p.bySender() {
		next := nonceOf(g[0].req.SenderAccount())
		for _, e := range g {
			if len(out) == limit {
				return out
			}
			switch n := e.req.Nonce(); {
			case n < next:
				continue // stale, or a second request with a nonce already taken
			case n == next:
				out = append(out, e.req)
				next++
			}
		}
	}
	return out
}

// prune drops the requests whose nonce is below their account's: the chain
// would skip them. It returns their IDs with the reason.
func (p *mempool) prune(nonceOf func(isc.AgentID) uint64) map[isc.RequestID]string {
	dropped := map[isc.RequestID]string{}
	for _, g := range p.bySender() {
		n := nonceOf(g[0].req.SenderAccount())
		for _, e := range g {
			if e.req.Nonce() < n {
				dropped[e.req.ID()] = fmt.Sprintf("nonce %d below the account's %d", e.req.Nonce(), n)
				p.remove(e.req.ID())
			}
		}
	}
	return dropped
}
