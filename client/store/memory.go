package store

import (
	"context"
	"slices"
	"sync"
)

var _ Store = (*Memory)(nil)

// Memory is a Store held in memory: for tests, and as a default for a
// provider that needs no durability (it loses everything on exit). It has
// the semantics of Pebble, checked by the same conformance suite (storetest).
// The zero value is not usable; call NewMemory.
type Memory struct {
	mu       sync.RWMutex
	closed   bool
	warrants map[WarrantID]*memoryWarrant
	acks     map[WarrantID]Acknowledgement
}

type memoryWarrant struct {
	receipts   []Receipt // in order of acceptance
	settlement *Settlement
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{warrants: make(map[WarrantID]*memoryWarrant), acks: make(map[WarrantID]Acknowledgement)}
}

// Append implements Store. It is "durable" as soon as it returns.
func (m *Memory) Append(ctx context.Context, r Receipt) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkReceipt(r); err != nil {
		return err
	}
	r.AcceptedAt = canonicalTime(r.AcceptedAt)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	mw := m.warrants[r.Warrant]
	if mw == nil {
		mw = &memoryWarrant{}
		m.warrants[r.Warrant] = mw
	}
	if n := len(mw.receipts); n > 0 && !newer(r, mw.receipts[n-1].Payment.Epoch, mw.receipts[n-1].Payment.Ordinal) {
		return notNewer(r, mw.receipts[n-1].Payment.Epoch, mw.receipts[n-1].Payment.Ordinal)
	}
	mw.receipts = append(mw.receipts, r)
	return nil
}

// Newest implements Store.
func (m *Memory) Newest(ctx context.Context, w WarrantID) (Receipt, bool, error) {
	if err := ctx.Err(); err != nil {
		return Receipt{}, false, err
	}
	if err := checkWarrant(w); err != nil {
		return Receipt{}, false, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Receipt{}, false, ErrClosed
	}
	mw := m.warrants[w]
	if mw == nil || len(mw.receipts) == 0 {
		return Receipt{}, false, nil
	}
	return mw.receipts[len(mw.receipts)-1], true, nil
}

// Warrants implements Store.
func (m *Memory) Warrants(ctx context.Context) ([]WarrantSummary, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	var out []WarrantSummary
	for w, mw := range m.warrants {
		if len(mw.receipts) == 0 {
			continue // a settlement alone does not list a warrant
		}
		ws := WarrantSummary{
			Warrant:  w,
			Newest:   mw.receipts[len(mw.receipts)-1],
			Receipts: uint64(len(mw.receipts)),
		}
		if mw.settlement != nil {
			s := *mw.settlement
			ws.LastSettlement = &s
		}
		out = append(out, ws)
	}
	slices.SortFunc(out, func(a, b WarrantSummary) int { return compareWarrants(a.Warrant, b.Warrant) })
	return out, nil
}

// Receipts implements Store. It walks a copy of the matching receipts taken
// when it starts, without holding a lock, so fn may call the store.
func (m *Memory) Receipts(ctx context.Context, f ReceiptFilter, fn func(Receipt) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	matched, err := m.matching(f)
	if err != nil {
		return err
	}
	for _, r := range matched {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// matching returns the receipts f selects, in walk order.
func (m *Memory) matching(f ReceiptFilter) ([]Receipt, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	var warrants []WarrantID
	if f.Warrant != nil {
		if err := checkWarrant(*f.Warrant); err != nil {
			return nil, err
		}
		warrants = []WarrantID{*f.Warrant}
	} else {
		for w := range m.warrants {
			warrants = append(warrants, w)
		}
		slices.SortFunc(warrants, compareWarrants)
	}
	var out []Receipt
	for _, w := range warrants {
		mw := m.warrants[w]
		if mw == nil {
			continue
		}
		for _, r := range mw.receipts {
			if acceptedIn(f, r.AcceptedAt) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// SaveSettlement implements Store.
func (m *Memory) SaveSettlement(ctx context.Context, s Settlement) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkWarrant(s.Warrant); err != nil {
		return err
	}
	s.UpdatedAt = canonicalTime(s.UpdatedAt)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	mw := m.warrants[s.Warrant]
	if mw == nil {
		mw = &memoryWarrant{}
		m.warrants[s.Warrant] = mw
	}
	mw.settlement = &s
	return nil
}

// LastSettlement implements Store.
func (m *Memory) LastSettlement(ctx context.Context, w WarrantID) (Settlement, bool, error) {
	if err := ctx.Err(); err != nil {
		return Settlement{}, false, err
	}
	if err := checkWarrant(w); err != nil {
		return Settlement{}, false, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Settlement{}, false, ErrClosed
	}
	mw := m.warrants[w]
	if mw == nil || mw.settlement == nil {
		return Settlement{}, false, nil
	}
	return *mw.settlement, true, nil
}

// Close implements Store. It drops the contents.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	m.warrants, m.acks = nil, nil
	return nil
}

// Acknowledge implements Store.
func (m *Memory) Acknowledge(ctx context.Context, a Acknowledgement) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkWarrant(a.Warrant); err != nil {
		return err
	}
	a.AcknowledgedAt = canonicalTime(a.AcknowledgedAt)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.acks[a.Warrant] = a
	return nil
}

// Acknowledged implements Store.
func (m *Memory) Acknowledged(ctx context.Context, w WarrantID) (Acknowledgement, bool, error) {
	if err := ctx.Err(); err != nil {
		return Acknowledgement{}, false, err
	}
	if err := checkWarrant(w); err != nil {
		return Acknowledgement{}, false, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Acknowledgement{}, false, ErrClosed
	}
	a, ok := m.acks[w]
	return a, ok, nil
}
