package provider

import (
	"container/heap"
	"context"
	"time"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/store"
)

// dueQueue holds the warrants triggered for settlement and not yet taken:
// the revoked ones by deadline, earliest first, the others in order of
// arrival. A warrant is queued once; triggered again while queued it only
// moves up (a revocation makes it urgent), and the entry it leaves behind is
// skipped when reached. Guarded by settler.mu.
type dueQueue struct {
	seq    uint64
	queued map[store.WarrantID]dueEntry // each queued warrant's live entry
	urgent urgentHeap
	normal []dueEntry
}

// dueEntry is one queued warrant: deadline is its revoke deadline (unix
// seconds, as its cached state showed it when triggered), 0 when not
// revoked.
type dueEntry struct {
	w        *warrant
	deadline uint64
	seq      uint64
}

func newDueQueue() dueQueue { return dueQueue{queued: map[store.WarrantID]dueEntry{}} }

// push queues w, or moves it up when it is queued less urgently.
func (q *dueQueue) push(w *warrant, deadline uint64) {
	if old, ok := q.queued[w.id]; ok && !moreUrgent(deadline, old.deadline) {
		return // queued already, at least as urgently
	}
	q.seq++
	e := dueEntry{w: w, deadline: deadline, seq: q.seq}
	q.queued[w.id] = e
	if deadline != 0 {
		heap.Push(&q.urgent, e)
	} else {
		q.normal = append(q.normal, e)
	}
}

// moreUrgent reports whether a revoke deadline (0: not revoked) comes
// before another.
func moreUrgent(deadline, than uint64) bool {
	return deadline != 0 && (than == 0 || deadline < than)
}

// pop takes the next queued warrant: revoked ones first, by deadline; with
// urgentOnly nothing else.
func (q *dueQueue) pop(urgentOnly bool) (dueEntry, bool) {
	for q.urgent.Len() > 0 {
		if e := heap.Pop(&q.urgent).(dueEntry); q.take(e) {
			return e, true
		}
	}
	for !urgentOnly && len(q.normal) > 0 {
		e := q.normal[0]
		q.normal[0] = dueEntry{}
		q.normal = q.normal[1:]
		if q.take(e) {
			return e, true
		}
	}
	return dueEntry{}, false
}

// take removes e from the queue if it is its warrant's live entry.
func (q *dueQueue) take(e dueEntry) bool {
	if q.queued[e.w.id].seq != e.seq {
		return false
	}
	delete(q.queued, e.w.id)
	return true
}

func (q *dueQueue) len() int { return len(q.queued) }

// urgentHeap orders entries by deadline, then arrival (container/heap).
type urgentHeap []dueEntry

func (h urgentHeap) Len() int { return len(h) }
func (h urgentHeap) Less(i, j int) bool {
	if h[i].deadline != h[j].deadline {
		return h[i].deadline < h[j].deadline
	}
	return h[i].seq < h[j].seq
}
func (h urgentHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *urgentHeap) Push(x any)   { *h = append(*h, x.(dueEntry)) }
func (h *urgentHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = dueEntry{}
	*h = old[:len(old)-1]
	return e
}

// retryState is a warrant whose last attempt's outcome is unknown (or that
// a dead run left submitted): the next attempt reads the warrant first, and
// goes out at next (zero: with the next settlement that takes the warrant).
type retryState struct {
	w       *warrant
	attempt int       // failed attempts so far
	next    time.Time // clock time of the next attempt; zero = none planned
}

// trigger asks the settler to settle w soon, before any batch not yet
// sent; a revoked w before any other. It never blocks and does no I/O.
func (s *settler) trigger(w *warrant) {
	var deadline uint64
	if info := w.state().info; info.Revoked() {
		deadline = info.Deadline
	}
	s.mu.Lock()
	s.queue.push(w, deadline)
	s.mu.Unlock()
	s.wake()
}

func (s *settler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// takeDue claims up to n triggered warrants that are still due, revoked
// ones first by deadline (urgentOnly: only those). A warrant in a request in
// flight is set aside and queued again once that request is done.
func (s *settler) takeDue(n int, urgentOnly bool) []*warrant {
	var taken []dueEntry
	s.mu.Lock()
	for len(taken) < n {
		e, ok := s.queue.pop(urgentOnly)
		if !ok {
			break
		}
		if s.busy[e.w.id] {
			s.aside[e.w.id] = e
			continue
		}
		s.busy[e.w.id] = true
		taken = append(taken, e)
	}
	s.mu.Unlock()
	out := make([]*warrant, 0, len(taken))
	var stale []*warrant
	for _, e := range taken {
		if s.stillDue(e.w) {
			out = append(out, e.w)
		} else {
			stale = append(stale, e.w)
		}
	}
	s.release(stale)
	return out
}

// claim marks the free warrants of ws as in a request and returns them; the
// others are in a request in flight already, which settles them.
func (s *settler) claim(ws []*warrant) []*warrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*warrant, 0, len(ws))
	for _, w := range ws {
		if !s.busy[w.id] {
			s.busy[w.id] = true
			out = append(out, w)
		}
	}
	return out
}

// claimWait claims w, waiting while it is in a request in flight.
func (s *settler) claimWait(w *warrant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.busy[w.id] {
		s.released.Wait()
	}
	s.busy[w.id] = true
}

// release ends the claims on ws; a warrant triggered meanwhile is queued
// again.
func (s *settler) release(ws []*warrant) {
	if len(ws) == 0 {
		return
	}
	requeued := false
	s.mu.Lock()
	for _, w := range ws {
		delete(s.busy, w.id)
		if e, ok := s.aside[w.id]; ok {
			delete(s.aside, w.id)
			s.queue.push(e.w, e.deadline)
			requeued = true
		}
	}
	s.mu.Unlock()
	s.released.Broadcast()
	if requeued {
		s.wake()
	}
}

// unfinished reports whether w's last attempt has an unknown outcome.
func (s *settler) unfinished(w *warrant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.retries[w.id]
	return ok
}

func (s *settler) attempts(w *warrant) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.retries[w.id]; ok {
		return r.attempt
	}
	return 0
}

// markUnfinished records that a dead run left w's attempt submitted.
func (s *settler) markUnfinished(w *warrant, attempt int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.retries[w.id]; !ok {
		s.retries[w.id] = &retryState{w: w, attempt: attempt}
	}
}

func (s *settler) clearRetry(w *warrant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.retries, w.id)
}

// scheduleRetry plans the next attempt with exponential backoff from
// RetryMin to RetryMax; for a revoked warrant never later than half the
// time left before deadline - Margin, as seen at the last read. Chain time
// is read before the settler's lock is taken.
func (s *settler) scheduleRetry(ctx context.Context, w *warrant, info chain.WarrantInfo) {
	var left time.Duration
	bounded := false
	if info.Revoked() {
		if now, err := s.chain.Now(ctx); err == nil {
			left, bounded = time.Unix(int64(info.Deadline), 0).Add(-s.policy.margin).Sub(now), true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.retries[w.id]
	if r == nil {
		r = &retryState{w: w}
		s.retries[w.id] = r
	}
	r.attempt++
	d := min(s.policy.retryMin<<min(r.attempt-1, 20), s.policy.retryMax)
	if bounded {
		d = max(min(d, left/2), s.policy.retryMin)
	}
	r.next = s.clock.Now().Add(d)
}

// dueRetries returns the warrants whose retry is due at now; it costs the
// retries pending, not the warrants held.
func (s *settler) dueRetries(now time.Time) []*warrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*warrant
	for _, r := range s.retries {
		if !r.next.IsZero() && !r.next.After(now) {
			out = append(out, r.w)
		}
	}
	sortByPayer(out)
	return out
}

// earliestRetry returns the time of the next retry planned.
func (s *settler) earliestRetry() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var at time.Time
	for _, r := range s.retries {
		if !r.next.IsZero() && (at.IsZero() || r.next.Before(at)) {
			at = r.next
		}
	}
	return at, !at.IsZero()
}
