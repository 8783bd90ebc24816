package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
)

// DefaultSettleBatch is the number of warrants the settler settles per
// settleMany request when Config.SettleBatch is 0: at 100 the contract's gas
// per warrant is under a quarter of a settle's (docs/protocol.md §8).
const DefaultSettleBatch = 100

// settleInFlight is Config.SettleInFlight with its default (0 or less: 1).
func settleInFlight(n int) int { return max(n, 1) }

// settleBatchSize is Config.SettleBatch with its default (0 or less) and
// bounded by what one request may carry.
func settleBatchSize(n int) int {
	if n <= 0 {
		return DefaultSettleBatch
	}
	return min(n, contract.MaxSettlementsPerRequest)
}

// settled is one warrant's result of settleAll.
type settled struct {
	w   *warrant
	s   *store.Settlement // nil: nothing to do
	err error
}

// settleAll settles ws, the most urgent first: revoked warrants in order of
// their deadlines, in batches of their own, then the others in the order
// given, Config.SettleInFlight requests at a time. Before each batch of the
// others it settles the warrants triggered meanwhile (a revocation the feed
// reported, say), so no revoked warrant waits behind more than the
// requests in flight. Each batch is one settleMany
// request (a lone warrant, a settle); every warrant's outcome is recorded
// as settle records it.
func (p *Provider) settleAll(ctx context.Context, ws []*warrant) []settled {
	urgent, rest := byUrgency(ws)
	var out []settled
	for _, b := range chunks(urgent, p.settler.batch) {
		out = append(out, p.settleBatch(ctx, b)...)
	}
	return append(out, p.sendBatches(ctx, chunks(rest, p.settler.batch))...)
}

// sendBatches settles batches, Config.SettleInFlight requests at a time,
// each after the warrants triggered meanwhile.
func (p *Provider) sendBatches(ctx context.Context, batches [][]*warrant) []settled {
	results := make([][]settled, len(batches))
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(batches) {
				return
			}
			p.settleTriggered(ctx)
			results[i] = p.settleBatch(ctx, batches[i])
		}
	}
	var wg sync.WaitGroup
	for range min(p.settler.inFlight, len(batches)) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
	var out []settled
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}

// chunks splits ws into slices of at most n.
func chunks(ws []*warrant, n int) [][]*warrant {
	var out [][]*warrant
	for len(ws) > 0 {
		k := min(n, len(ws))
		out = append(out, ws[:k])
		ws = ws[k:]
	}
	return out
}

// settleTriggered settles, urgent first, the triggered warrants that are
// still due, logging each outcome.
func (p *Provider) settleTriggered(ctx context.Context) {
	var due []*warrant
	for _, w := range p.settler.takeDue() {
		if p.stillDue(w) {
			due = append(due, w)
		}
	}
	if len(due) == 0 {
		return
	}
	urgent, rest := byUrgency(due)
	for _, ws := range [][]*warrant{urgent, rest} {
		for _, b := range chunks(ws, p.settler.batch) {
			p.logSettled(p.settleBatch(ctx, b), "trigger")
		}
	}
}

// byUrgency splits ws, without repeats, into the revoked warrants, by
// deadline, and the others in their order, as their cached state shows them.
func byUrgency(ws []*warrant) (urgent, rest []*warrant) {
	seen := make(map[store.WarrantID]bool, len(ws))
	deadline := map[*warrant]uint64{}
	for _, w := range ws {
		if seen[w.id] {
			continue
		}
		seen[w.id] = true
		if info := w.state().info; info.Revoked() {
			deadline[w] = info.Deadline
			urgent = append(urgent, w)
		} else {
			rest = append(rest, w)
		}
	}
	sort.SliceStable(urgent, func(i, j int) bool { return deadline[urgent[i]] < deadline[urgent[j]] })
	return urgent, rest
}

// settleBatch settles ws (distinct warrants, at most a request's worth) in
// one request: each warrant is read and its attempt recorded as settle
// does, then the warrants with a payment to send go out in one settleMany
// (a lone one in a settle), and each outcome is recorded: settled, refused
// (that warrant alone), or unknown and reconciled by reading it.
func (p *Provider) settleBatch(ctx context.Context, ws []*warrant) []settled {
	ws = append([]*warrant(nil), ws...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].id.Payer < ws[j].id.Payer }) // one lock order
	for _, w := range ws {
		w.settleMu.Lock()
		defer w.settleMu.Unlock()
	}
	out := make([]settled, 0, len(ws))
	var as []*attempt
	for _, w := range ws {
		a, done, err := p.prepare(ctx, w)
		if a == nil {
			out = append(out, settled{w: w, s: done, err: err})
			continue
		}
		as = append(as, a)
	}
	if len(as) == 1 {
		s, err := p.send(ctx, as[0])
		return append(out, settled{w: as[0].w, s: s, err: err})
	}
	if len(as) == 0 {
		return out
	}
	items := make([]contract.Settlement, len(as))
	for i, a := range as {
		items[i] = contract.Settlement{Payer: a.w.payer, Payment: a.rec.Payment}
	}
	for i, r := range p.sendMany(ctx, items) {
		s, err := p.finish(ctx, as[i], r)
		out = append(out, settled{w: as[i].w, s: s, err: err})
	}
	return out
}

// sendMany posts items in one settleMany request and returns each item's
// outcome: a whole-request rejection refuses them all, and a lost answer or
// events that do not account for the items leave them all unknown.
func (p *Provider) sendMany(ctx context.Context, items []contract.Settlement) []sent {
	start := p.cfg.Clock.Now()
	receipt, err := chain.SettleMany(ctx, p.cfg.Chain, p.cfg.Key, items)
	base := sent{elapsed: p.cfg.Clock.Since(start), err: err}
	if receipt != nil {
		base.requestID = receipt.RequestID.String()
	}
	var outcomes []chain.ItemOutcome
	switch {
	case chain.IsRejected(err):
		base.refused, base.err = err.Error(), nil
	case err == nil:
		if outcomes, err = chain.ItemOutcomes(receipt, items); err != nil {
			base.err = fmt.Errorf("%w: %w", chain.ErrUnknownOutcome, err)
		}
	}
	out := make([]sent, len(items))
	for i := range out {
		out[i] = base
		switch {
		case outcomes == nil:
		case outcomes[i].Settled != nil:
			out[i].paid = outcomes[i].Settled.Paid
		default:
			out[i].refused = fmt.Sprintf("%s: item %d refused: %s", contract.FuncSettleMany.Name, i+1, outcomes[i].Refused)
		}
	}
	return out
}

// logSettled logs each result of settleAll or settleBatch.
func (p *Provider) logSettled(rs []settled, why string) {
	for _, r := range rs {
		p.logSettlement(r.w, why, r.s, r.err)
	}
}

// settleNowAll is SettleNow for every warrant with receipts.
func (p *Provider) settleNowAll(ctx context.Context) ([]store.Settlement, error) {
	var out []store.Settlement
	var errs []error
	for _, r := range p.settleAll(ctx, p.withReceipts()) {
		if r.s != nil {
			out = append(out, *r.s)
		}
		if r.err != nil {
			errs = append(errs, fmt.Errorf("warrant of %s: %w", r.w.payer, r.err))
		}
	}
	return out, errors.Join(errs...)
}
