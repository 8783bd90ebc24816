package store

import (
	"cmp"
	"context"
	"fmt"
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
	receipts   []Receipt // in order of acceptance, which is (epoch, ordinal) order
	credit     uint64
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
	credit, err := appendCredit(r, mw.credit)
	if err != nil {
		return err
	}
	mw.receipts, mw.credit = append(mw.receipts, r), credit
	return nil
}

// Conclude implements Store.
func (m *Memory) Conclude(ctx context.Context, k ReceiptKey, served bool) (Receipt, uint64, error) {
	return m.update(ctx, k, "conclude", func(r Receipt, credit uint64, newest bool) (Receipt, uint64, error) {
		return conclude(r, credit, newest, served)
	})
}

// Replay implements Store.
func (m *Memory) Replay(ctx context.Context, k ReceiptKey) (Receipt, uint64, error) {
	return m.update(ctx, k, "replay", replayed)
}

// update applies change to the receipt k and its warrant's credit.
func (m *Memory) update(ctx context.Context, k ReceiptKey, what string, change func(r Receipt, credit uint64, newest bool) (Receipt, uint64, error)) (Receipt, uint64, error) {
	if err := ctx.Err(); err != nil {
		return Receipt{}, 0, err
	}
	if err := checkWarrant(k.Warrant); err != nil {
		return Receipt{}, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Receipt{}, 0, ErrClosed
	}
	mw := m.warrants[k.Warrant]
	var i int
	found := false
	if mw != nil {
		i, found = slices.BinarySearchFunc(mw.receipts, k, func(r Receipt, k ReceiptKey) int {
			return cmp.Or(cmp.Compare(r.Payment.Epoch, k.Epoch), cmp.Compare(r.Payment.Ordinal, k.Ordinal))
		})
	}
	if !found {
		return Receipt{}, 0, fmt.Errorf("%s receipt %d/%d of warrant %s: %w", what, k.Epoch, k.Ordinal, warrantHex(k.Warrant), ErrNoReceipt)
	}
	r, credit, err := change(mw.receipts[i], mw.credit, i == len(mw.receipts)-1)
	if err != nil {
		return Receipt{}, 0, fmt.Errorf("%s: %w", what, err)
	}
	mw.receipts[i], mw.credit = r, credit
	return r, credit, nil
}

// CreditPending implements Store.
func (m *Memory) CreditPending(ctx context.Context, provider string) ([]Receipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var keys []ReceiptKey
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	for w, mw := range m.warrants {
		for _, r := range mw.receipts {
			if w.Provider == provider && r.Outcome == Pending {
				keys = append(keys, r.Key())
			}
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(keys, func(a, b ReceiptKey) int {
		return cmp.Or(compareWarrants(a.Warrant, b.Warrant), cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Ordinal, b.Ordinal))
	})
	out := make([]Receipt, 0, len(keys))
	for _, k := range keys {
		r, _, err := m.Conclude(ctx, k, false)
		if err != nil {
			return out, fmt.Errorf("credit pending: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
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
			Credit:   mw.credit,
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
