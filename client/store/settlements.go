package store

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble"
)

// SettlementSaver saves many settlement records at once: what a settler
// that settles many warrants per request writes before sending the request
// and after its outcome is known. Pebble and Memory implement it.
//
// It is a seam of its own, not part of Store, so that a Store that wraps
// another (to watch its SaveSettlement calls, say) is not bypassed by a
// SaveSettlements promoted from the store it embeds: a caller that finds no
// SettlementSaver saves the records one at a time.
type SettlementSaver interface {
	// SaveSettlements durably records each of ss as the latest settlement
	// of its warrant, all of them or, on error, none; a warrant named
	// twice keeps the later record. It returns once they are durable
	// (one synced write for a durable store).
	SaveSettlements(ctx context.Context, ss []Settlement) error
}

var (
	_ SettlementSaver = (*Pebble)(nil)
	_ SettlementSaver = (*Memory)(nil)
)

// SaveSettlements implements SettlementSaver: one pebble batch, synced once.
func (s *Pebble) SaveSettlements(ctx context.Context, ss []Settlement) error {
	if err := checkSettlements(ctx, ss); err != nil {
		return err
	}
	if len(ss) == 0 {
		return nil
	}
	if !s.enter() {
		return ErrClosed
	}
	defer s.exit()
	b := s.db.NewBatch()
	defer b.Close()
	var value []byte
	for _, st := range ss {
		value = appendSettlementValue(value[:0], st)
		if err := b.Set(warrantKeyWithPrefix(prefixSettlement, st.Warrant), value, nil); err != nil {
			return fmt.Errorf("save settlements: %s: %w", warrantHex(st.Warrant), err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("save %d settlements: %w", len(ss), err)
	}
	return nil
}

// SaveSettlements implements SettlementSaver.
func (m *Memory) SaveSettlements(ctx context.Context, ss []Settlement) error {
	if err := checkSettlements(ctx, ss); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, st := range ss {
		st.UpdatedAt = canonicalTime(st.UpdatedAt)
		mw := m.warrants[st.Warrant]
		if mw == nil {
			mw = &memoryWarrant{}
			m.warrants[st.Warrant] = mw
		}
		mw.settlement = &st
	}
	return nil
}

// checkSettlements refuses a batch when ctx is done or a record names a
// warrant the store cannot key.
func checkSettlements(ctx context.Context, ss []Settlement) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, st := range ss {
		if err := checkWarrant(st.Warrant); err != nil {
			return err
		}
	}
	return nil
}
