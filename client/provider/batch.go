package provider

import (
	"context"
	"sort"

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

// settled is one warrant's result of a settlement: the record made (nil:
// nothing to do) or why none could be, and which work it was part of.
type settled struct {
	w   *warrant
	s   *store.Settlement
	err error
	why string
}

// batchDone is what a request's goroutine hands back to settleAll.
type batchDone struct {
	rs   []settled
	bulk bool // it took one of the bulk lane's places, else the urgent lane's
}

// settleAll settles ws and everything triggered until it is done, the most
// urgent first. Revoked warrants, of ws or triggered, go out by deadline as
// soon as they are known, each batch in a request of its own in a lane of
// its own (policy.inFlight requests at once, beside as many of the bulk): a
// revocation never waits for a slow batch to come back, nor is it added to
// one. The other triggered warrants go before the
// batches of ws not sent yet. The rest of ws goes out in batches of
// policy.batch, policy.inFlight requests at a time. It returns every
// result, ws's labelled why; once ctx is done it starts no more requests
// and returns when those in flight are done.
func (s *settler) settleAll(ctx context.Context, ws []*warrant, why string) []settled {
	urgent, rest := byUrgency(ws)
	s.mu.Lock()
	for _, w := range urgent {
		s.queue.push(w, w.state().info.Deadline)
	}
	s.mu.Unlock()
	bulk := chunks(rest, s.policy.batch)
	done := make(chan batchDone)
	running, bulkRunning := 0, 0
	start := func(ws []*warrant, why string, isBulk bool) {
		running++
		if isBulk {
			bulkRunning++
		}
		go func() {
			rs := s.settleBatch(ctx, ws, why)
			s.release(ws)
			done <- batchDone{rs: rs, bulk: isBulk}
		}()
	}
	var out []settled
	for {
		for running-bulkRunning < s.policy.inFlight && ctx.Err() == nil {
			next := s.takeDue(s.policy.batch, true)
			if len(next) == 0 {
				break
			}
			start(next, "revoked", false)
		}
		for bulkRunning < s.policy.inFlight && ctx.Err() == nil {
			next, label := s.takeDue(s.policy.batch, false), "trigger"
			for len(next) == 0 && len(bulk) > 0 {
				next, label, bulk = s.claim(bulk[0]), why, bulk[1:]
			}
			if len(next) == 0 {
				break
			}
			start(next, label, true)
		}
		if running == 0 {
			return out
		}
		select {
		case d := <-done:
			running--
			if d.bulk {
				bulkRunning--
			}
			out = append(out, d.rs...)
		case <-s.kick:
		}
	}
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

// byUrgency splits ws, without repeats, into the revoked warrants and the
// others in their order, as their cached state shows them.
func byUrgency(ws []*warrant) (urgent, rest []*warrant) {
	seen := make(map[store.WarrantID]bool, len(ws))
	for _, w := range ws {
		if seen[w.id] {
			continue
		}
		seen[w.id] = true
		if w.state().info.Revoked() {
			urgent = append(urgent, w)
		} else {
			rest = append(rest, w)
		}
	}
	return urgent, rest
}

// sortByPayer orders ws by payer, the order the provider lists warrants in.
func sortByPayer(ws []*warrant) {
	sort.Slice(ws, func(i, j int) bool { return ws[i].id.Payer < ws[j].id.Payer })
}

// settleBatch settles ws (claimed by the caller, distinct, at most a
// request's worth) in one request: it decides from each warrant's state
// what to send, records the attempts in one write, sends them in one
// settleMany (a lone one in a settle) and records each outcome, again in
// one write: settled, refused (that warrant alone), or unknown and
// reconciled by reading the warrant.
func (s *settler) settleBatch(ctx context.Context, ws []*warrant, why string) []settled {
	as, out := s.prepare(ctx, ws)
	if len(as) > 0 {
		out = append(out, s.submit(ctx, as)...)
	}
	for i := range out {
		out[i].why = why
	}
	return out
}
