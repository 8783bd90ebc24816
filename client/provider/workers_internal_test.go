package provider

import (
	"runtime"
	"sync"
	"testing"

	"github.com/benbjohnson/clock"
)

// waitParked spins (yielding, not sleeping) until n workers are parked.
func waitParked(w *workers, n int) {
	for {
		if parked, _ := w.parkedWorkers(); parked == n {
			return
		}
		runtime.Gosched()
	}
}

// TestWorkersRunTasksAtOnceAndReuseParkedOnes: two tasks that each wait
// for the other both finish (a task never waits for a free worker); a
// worker parks after its task and takes the next one instead of a new
// goroutine; a parked worker exits after workerIdle of the clock.
func TestWorkersRunTasksAtOnceAndReuseParkedOnes(t *testing.T) {
	clk := clock.NewMock()
	w := &workers{clock: clk}
	a, b := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	w.do(func() { defer wg.Done(); close(a); <-b })
	w.do(func() { defer wg.Done(); close(b); <-a })
	wg.Wait()
	waitParked(w, 2)

	ran := make(chan int, 8)
	for i := range 8 {
		wg.Add(1)
		w.do(func() { defer wg.Done(); ran <- i })
		wg.Wait()
		waitParked(w, 2) // one at a time, each finding a parked worker
	}
	close(ran)
	seen := map[int]bool{}
	for i := range ran {
		seen[i] = true
	}
	if len(seen) != 8 {
		t.Fatalf("ran %v, want each of 8 tasks once", seen)
	}
	if _, started := w.parkedWorkers(); started != 2 {
		t.Fatalf("%d workers started for 10 tasks, two at most at once: want 2", started)
	}

	clk.Add(workerIdle)
	waitParked(w, 0)
	w.do(func() {}) // a new worker, the others gone
	if _, started := w.parkedWorkers(); started != 3 {
		t.Fatalf("%d workers started, want 3 after the idle ones exited", started)
	}
}
