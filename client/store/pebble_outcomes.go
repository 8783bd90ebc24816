package store

import (
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble"
)

// outcomeSyncer makes Conclude's writes durable in the background. A
// Conclude writes without a sync of its own and asks for one here; one
// WAL sync at a time runs, and the asks that arrive meanwhile share the
// next. Pebble's write-ahead log is one sequential file, so any synced
// write (an Append's, this syncer's) also makes every write before it
// durable: under load an outcome rides the next payment's sync, and the
// syncer's own sync finds nothing left to do but costs little.
type outcomeSyncer struct {
	mu      sync.Mutex
	running bool  // a sync loop is running
	again   bool  // an ask arrived while it ran: sync once more
	err     error // the first failed background sync, reported by the next Conclude
}

// syncOutcomes asks for a WAL sync covering every write made so far and
// returns at once.
func (s *Pebble) syncOutcomes() {
	o := &s.outcomes
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.running {
		o.again = true
		return
	}
	if !s.enter() {
		return // closing: pebble's Close syncs the log
	}
	o.running = true
	go s.outcomeSyncLoop()
}

// outcomeSyncLoop syncs the WAL until no ask is left.
func (s *Pebble) outcomeSyncLoop() {
	defer s.exit()
	o := &s.outcomes
	for {
		err := s.db.LogData(nil, pebble.Sync)
		o.mu.Lock()
		if err != nil && o.err == nil {
			o.err = fmt.Errorf("store: background sync of outcomes: %w", err)
		}
		if !o.again {
			o.running = false
			o.mu.Unlock()
			return
		}
		o.again = false
		o.mu.Unlock()
	}
}

// outcomeSyncErr returns the first failed background sync, if any.
func (s *Pebble) outcomeSyncErr() error {
	s.outcomes.mu.Lock()
	defer s.outcomes.mu.Unlock()
	return s.outcomes.err
}
