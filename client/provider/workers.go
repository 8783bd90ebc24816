package provider

import (
	"slices"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// Bounds of the workers that run a POST /pay batch's payers.
const (
	// maxIdleWorkers is how many parked workers are kept at most.
	maxIdleWorkers = 256
	// workerIdle is how long a parked worker waits for a task before it
	// exits.
	workerIdle = 10 * time.Second
)

// workers runs tasks on goroutines that outlive a task, so that their
// stacks, grown by the signature check and the store's reads, are kept
// rather than grown anew for every payer of every batch: new goroutines
// spent 10 % of the batch path's CPU in runtime.copystack
// (docs/performance.md). A task never waits for a free worker: with none
// parked, a new one starts. A worker parks after its task, up to
// maxIdleWorkers of them, and exits after workerIdle with no task, so
// there is nothing to shut down.
type workers struct {
	clock clock.Clock // for workerIdle

	mu      sync.Mutex
	parked  []chan func() // each a parked worker's inbox (capacity 1: a send never blocks)
	started int           // workers started, for tests
}

// do runs fn on a parked worker, or on a new one.
func (w *workers) do(fn func()) {
	w.mu.Lock()
	if n := len(w.parked); n > 0 {
		inbox := w.parked[n-1]
		w.parked = w.parked[:n-1]
		w.mu.Unlock()
		inbox <- fn
		return
	}
	w.started++
	w.mu.Unlock()
	go w.work(fn)
}

// work runs fn and then every task handed to it while parked.
func (w *workers) work(fn func()) {
	inbox := make(chan func(), 1)
	for {
		fn()
		idle := w.clock.Timer(workerIdle) // before parking: a parked worker's wait has begun
		w.mu.Lock()
		if len(w.parked) >= maxIdleWorkers {
			w.mu.Unlock()
			idle.Stop()
			return
		}
		w.parked = append(w.parked, inbox)
		w.mu.Unlock()

		select {
		case fn = <-inbox:
			idle.Stop()
		case <-idle.C:
			w.mu.Lock()
			i := slices.Index(w.parked, inbox)
			if i >= 0 {
				w.parked = slices.Delete(w.parked, i, i+1)
			}
			w.mu.Unlock()
			if i >= 0 {
				return
			}
			fn = <-inbox // taken just as the wait ended: its task is sent or on its way
		}
	}
}

// parkedWorkers returns how many workers are parked, and how many were
// ever started (for tests).
func (w *workers) parkedWorkers() (parked, started int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.parked), w.started
}
