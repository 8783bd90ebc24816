package sim

import (
	"container/heap"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/contract/payment"
)

// This file is the consumers' side of the engine: the events (pieces,
// revocations, cheats) in a queue ordered by time, and what a consumer
// does at each.

type eventKind uint8

const (
	evPiece eventKind = iota + 1
	evRevoke
	evCheat
)

type event struct {
	at   time.Duration
	seq  uint64
	kind eventKind
	who  int // consumer index, or cheat index
}

// eventQueue is a min-heap by (at, seq): simultaneous events run in the
// order they were scheduled.
type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return x
}

func (g *engine) push(at time.Duration, kind eventKind, who int) {
	g.seq++
	heap.Push(&g.queue, &event{at: at, seq: g.seq, kind: kind, who: who})
}

// scheduleEvents draws, in a fixed order, every consumer's first piece,
// the revocations and the cheats.
func (g *engine) scheduleEvents() {
	sc := g.sc
	interval := time.Duration(sc.Pieces.Interval)
	for _, c := range g.consumers {
		g.push(time.Duration(g.rng.Int63n(int64(interval))), evPiece, c.idx)
	}
	if r := sc.Revocations; r.Fraction > 0 {
		n := int(r.Fraction*float64(len(g.consumers)) + 0.5)
		for _, i := range g.rng.Perm(len(g.consumers))[:n] {
			at := time.Duration(r.From) + time.Duration(g.rng.Int63n(int64(r.To-r.From)+1))
			g.consumers[i].revokeAt = at
			g.push(at, evRevoke, i)
		}
	}
	g.scheduleCheats()
}

func (g *engine) schedulePiece(c *consumer, at time.Duration) {
	p := g.sc.Pieces
	next := at + time.Duration(p.Interval)
	if j := int64(p.Jitter); j > 0 {
		next += time.Duration(g.rng.Int63n(2*j+1) - j)
	}
	if next <= time.Duration(g.sc.Duration) {
		g.push(next, evPiece, c.idx)
	}
}

func (g *engine) handle(ev *event) error {
	switch ev.kind {
	case evRevoke:
		return g.revoke(g.consumers[ev.who])
	case evCheat:
		return g.runCheat(g.cheats[ev.who])
	}
	return fmt.Errorf("unknown event kind %d", ev.kind)
}

// offer offers a payment to the consumer's provider and books the
// outcome; reason is "" when the provider acknowledged it.
func (g *engine) offer(c *consumer, p payment.Payment, price uint64, cheat bool) (reason string, err error) {
	if g.providers[c.prov].down {
		reason = reasonProviderDown
	} else if reason, err = g.accept(c, p, price, cheatResource(cheat)); err != nil {
		return "", err
	}
	g.rep.Payments.Attempted++
	if reason == "" {
		g.rep.Payments.Accepted++
	} else {
		g.rejected(reason, cheat)
	}
	return reason, nil
}

// cheatResource is what a cheating payment claims to buy: another resource
// than the honest pieces' (""), so that a cheater re-sending its newest
// payment asks for a new piece with it, which is refused, rather than
// retrying the piece it bought, which is served again free (docs/protocol.md §9).
func cheatResource(cheat bool) string {
	if cheat {
		return "/cheat"
	}
	return ""
}

// accept has the consumer's provider check and store a payment for
// resource. It books nothing, so offers of different warrants may run in
// parallel.
func (g *engine) accept(c *consumer, p payment.Payment, price uint64, resource string) (reason string, err error) {
	pr := g.providers[c.prov]
	_, err = pr.p.Accept(g.ctx, provider.Payment{Payer: c.agent, Payment: p, Price: price, Resource: resource})
	if err == nil {
		return "", nil
	}
	if rj, ok := provider.IsRejection(err); ok {
		return rj.Reason, nil
	}
	return "", fmt.Errorf("consumer %d: provider %d: %w", c.idx, pr.idx, err)
}

func (g *engine) rejected(reason string, cheat bool) {
	g.rep.Payments.Rejected++
	g.rep.Payments.RejectedByReason[reason]++
	if !cheat {
		g.rep.Payments.HonestRejectedByReason[reason]++
	}
}

// acknowledge books a payment the provider acknowledged.
func (g *engine) acknowledge(c *consumer, p payment.Payment) {
	b := c.book(p.Epoch)
	g.providers[c.prov].exposure += int64(p.Total) - int64(b.acked)
	b.acked, b.ackedOrdinal = p.Total, p.Ordinal
	b.payments++
	c.acked, c.hasAcked, c.pending = p, true, nil
}

// maybeTopUp tops the warrant up when the next piece would leave it
// backing less than the policy's floor.
func (g *engine) maybeTopUp(c *consumer) error {
	tp := g.sc.Warrant.TopUp
	price := g.sc.Pieces.Price
	if tp.Amount == 0 || c.topUps >= tp.Max || c.deposited-c.total >= price+tp.Below {
		return nil
	}
	err := g.post(&c.party, func(ch chain.Chain) (*chain.Receipt, error) {
		return chain.AddWarrant(g.ctx, ch, c.key, chain.AddWarrantRequest{Provider: g.providers[c.prov].agent, Amount: tp.Amount})
	})
	if err != nil {
		if chain.IsRejected(err) {
			g.note("consumer %d: top-up rejected: %v", c.idx, err)
			c.topUps = tp.Max
			return nil
		}
		return fmt.Errorf("consumer %d: top up: %w", c.idx, err)
	}
	c.topUps++
	c.deposited += tp.Amount
	g.rep.Activity.TopUps++
	return nil
}

// revoke revokes the consumer's warrant; it buys nothing more from now
// on. The request itself joins the step's other revocations in one block
// at the end of the step's events (flushRevokes): all run at the step's
// chain time anyway.
func (g *engine) revoke(c *consumer) error {
	if c.revoked {
		return nil
	}
	c.revoked, c.pending = true, nil
	g.revoking = append(g.revoking, c)
	if g.opts.NoSharedBlocks {
		return g.flushRevokes()
	}
	return nil
}

// flushRevokes sends the queued revocations, a block per setupBatch.
func (g *engine) flushRevokes() error {
	if len(g.revoking) == 0 {
		return nil
	}
	cs := g.revoking
	g.revoking = nil
	var items []setupItem
	for _, c := range cs {
		col := &solochain.Collector{Chain: g.e}
		_, _ = chain.Revoke(g.ctx, col, c.key, g.providers[c.prov].agent, chain.DefaultRevokeDeposit)
		items = append(items, setupItem{req: col.Items[0], payer: &c.party})
	}
	if err := g.runBatches(items); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	for _, c := range cs {
		c.revokes++
		g.rep.Activity.Revoked++
	}
	return nil
}

// offer is one piece a consumer offers to pay for, prepared in event
// order, then signed and checked by the provider in parallel with the
// other offers of its run, then booked in event order again.
type offer struct {
	c       *consumer
	sign    bool // a new payment: sign (ordinal, total)
	ordinal uint64
	total   uint64
	pay     payment.Payment
	ackOnly bool // fault: acknowledged without reaching the provider

	reason string // "" when acknowledged
	err    error
}

// runDue runs the events due by t in order. Consecutive pieces form a run
// whose signatures and provider checks (the CPU-heavy part) go in
// parallel; a run ends before any other event and before a consumer's
// second piece in it, so every consumer still sees its events in order.
// Payments of different warrants are independent in the provider, and
// every shared tally is booked in event order, so the outcome is the same
// as one at a time.
func (g *engine) runDue(t time.Duration) error {
	var run []*offer
	for g.queue.Len() > 0 && g.queue[0].at <= t {
		ev := heap.Pop(&g.queue).(*event)
		if ev.kind != evPiece {
			if err := g.settleRun(run); err != nil {
				return err
			}
			run = run[:0]
			if err := g.handle(ev); err != nil {
				return err
			}
			continue
		}
		c := g.consumers[ev.who]
		if c.inRun {
			if err := g.settleRun(run); err != nil {
				return err
			}
			run = run[:0]
		}
		o, err := g.preparePiece(c, ev.at)
		if err != nil {
			return err
		}
		if o != nil {
			c.inRun = true
			run = append(run, o)
		}
	}
	if err := g.settleRun(run); err != nil {
		return err
	}
	return g.flushRevokes()
}

// preparePiece is a consumer about to buy one piece, in event order: it
// schedules its next piece, is turned away if its provider is down, tops
// up if its policy says so, and picks the payment to offer: a new one, or
// the one its provider refused last time. nil: nothing to offer.
func (g *engine) preparePiece(c *consumer, at time.Duration) (*offer, error) {
	if !c.active() {
		return nil, nil
	}
	g.schedulePiece(c, at)
	if g.providers[c.prov].down {
		g.rep.Payments.Attempted++
		g.rejected(reasonProviderDown, false)
		return nil, nil
	}
	o := &offer{c: c}
	if c.pending == nil {
		if err := g.maybeTopUp(c); err != nil {
			return nil, err
		}
		price := g.sc.Pieces.Price
		if c.deposited-c.total < price {
			c.exhausted = true
			return nil, nil
		}
		c.ordinal++
		c.total += price
		o.sign, o.ordinal, o.total = true, c.ordinal, c.total
	} else {
		o.pay = *c.pending
	}
	if f := g.opts.faults; f.ackUnstored == c.idx+1 && at >= f.ackUnstoredAfter {
		o.ackOnly = true
	}
	return o, nil
}

// settleRun signs and offers a run of pieces in parallel, then books the
// outcomes in order.
func (g *engine) settleRun(run []*offer) error {
	if len(run) == 0 {
		return nil
	}
	price := g.sc.Pieces.Price
	parallel(len(run), func(i int) {
		o := run[i]
		if o.sign {
			o.pay = o.c.sign(o.ordinal, o.total)
		}
		if !o.ackOnly {
			o.reason, o.err = g.accept(o.c, o.pay, price, "")
		}
	})
	for _, o := range run {
		c := o.c
		c.inRun = false
		if o.err != nil {
			return o.err
		}
		g.rep.Payments.Attempted++
		if o.reason == "" {
			g.rep.Payments.Accepted++
			g.acknowledge(c, o.pay)
			continue
		}
		g.rejected(o.reason, false)
		p := o.pay
		c.pending = &p // offered again at the next piece
	}
	return nil
}

// parallel calls f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}
