package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/client/store/storetest"
)

func TestMemory(t *testing.T) {
	d := &disk{images: make(map[string]image)}
	storetest.Run(t, d.open)
}

// disk stands in for the directories the suite opens Memory stores on, so
// that the suite's reopen cases run against Memory too: closing a store
// saves what it holds, read back through the Store API, and the next open
// of the dir replays it into a new Memory. Memory's own Close still ends
// the store (ErrClosed is Memory's).
type disk struct {
	mu     sync.Mutex
	images map[string]image
}

// image is what a closed store left in a dir.
type image struct {
	receipts    []store.Receipt // in walk order, so replaying is accepted
	settlements []store.Settlement
	acks        []store.Acknowledgement
}

func (d *disk) open(t *testing.T, dir string) store.Store {
	d.mu.Lock()
	img := d.images[dir]
	d.mu.Unlock()

	ctx := context.Background()
	m := &memoryOnDisk{Memory: store.NewMemory(), disk: d, dir: dir, settled: make(map[store.WarrantID]bool), acked: make(map[store.WarrantID]bool)}
	for _, r := range img.receipts {
		// A credited receipt was appended pending and concluded.
		credited := r.Outcome == store.Credited
		if credited {
			r.Outcome = store.Pending
		}
		if err := m.Append(ctx, r); err != nil {
			t.Fatalf("replay %v: %v", r.Payment, err)
		}
		if !credited {
			continue
		}
		if _, _, err := m.Conclude(ctx, r.Key(), false); err != nil {
			t.Fatalf("replay %v: %v", r.Payment, err)
		}
	}
	for _, s := range img.settlements {
		if err := m.SaveSettlement(ctx, s); err != nil {
			t.Fatalf("replay settlement: %v", err)
		}
	}
	for _, a := range img.acks {
		if err := m.Acknowledge(ctx, a); err != nil {
			t.Fatalf("replay acknowledgement: %v", err)
		}
	}
	return m
}

// memoryOnDisk is a Memory that saves its image to its disk on Close.
type memoryOnDisk struct {
	*store.Memory
	disk *disk
	dir  string

	mu      sync.Mutex
	settled map[store.WarrantID]bool // warrants with a settlement
	acked   map[store.WarrantID]bool // warrants with an acknowledgement
}

func (m *memoryOnDisk) Acknowledge(ctx context.Context, a store.Acknowledgement) error {
	if err := m.Memory.Acknowledge(ctx, a); err != nil {
		return err
	}
	m.mu.Lock()
	m.acked[a.Warrant] = true
	m.mu.Unlock()
	return nil
}

func (m *memoryOnDisk) SaveSettlement(ctx context.Context, s store.Settlement) error {
	if err := m.Memory.SaveSettlement(ctx, s); err != nil {
		return err
	}
	m.mu.Lock()
	m.settled[s.Warrant] = true
	m.mu.Unlock()
	return nil
}

func (m *memoryOnDisk) SaveSettlements(ctx context.Context, ss []store.Settlement) error {
	if err := m.Memory.SaveSettlements(ctx, ss); err != nil {
		return err
	}
	m.mu.Lock()
	for _, s := range ss {
		m.settled[s.Warrant] = true
	}
	m.mu.Unlock()
	return nil
}

func (m *memoryOnDisk) Close() error {
	img, err := m.image()
	if errors.Is(err, store.ErrClosed) {
		return m.Memory.Close()
	}
	if err != nil {
		return err
	}
	if err := m.Memory.Close(); err != nil {
		return err
	}
	m.disk.mu.Lock()
	m.disk.images[m.dir] = img
	m.disk.mu.Unlock()
	return nil
}

func (m *memoryOnDisk) image() (image, error) {
	ctx := context.Background()
	var img image
	err := m.Receipts(ctx, store.ReceiptFilter{}, func(r store.Receipt) error {
		img.receipts = append(img.receipts, r)
		return nil
	})
	if err != nil {
		return image{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for w := range m.settled {
		s, ok, err := m.LastSettlement(ctx, w)
		if err != nil {
			return image{}, err
		}
		if ok {
			img.settlements = append(img.settlements, s)
		}
	}
	for w := range m.acked {
		a, ok, err := m.Acknowledged(ctx, w)
		if err != nil {
			return image{}, err
		}
		if ok {
			img.acks = append(img.acks, a)
		}
	}
	return img, nil
}
