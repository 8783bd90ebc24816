// Package storetest is the conformance suite of store.Store: every
// implementation runs it, so the in-memory and the durable store keep the
// same semantics.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

// Run runs the conformance suite. open opens the store kept in dir; the
// suite calls it again on the same dir after closing the store it returned,
// and expects to find what was written ("write, close, reopen: still
// there"). Each case uses its own dir from t.TempDir. The suite closes
// every store it opens.
func Run(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, open func(*testing.T) store.Store)
	}{
		{"AppendAndNewest", testAppendAndNewest},
		{"NotNewer", testNotNewer},
		{"BadWarrant", testBadWarrant},
		{"ResourceCap", testResourceCap},
		{"Warrants", testWarrants},
		{"ReceiptsFilters", testReceiptsFilters},
		{"ReceiptsStopOnError", testReceiptsStopOnError},
		{"ReceiptsReentrant", testReceiptsReentrant},
		{"Settlement", testSettlement},
		{"SaveSettlements", testSaveSettlements},
		{"Acknowledgement", testAcknowledgement},
		{"ReturnedValuesAreCopies", testReturnedValuesAreCopies},
		{"ConcurrentDifferentWarrants", testConcurrentDifferentWarrants},
		{"ConcurrentSameOrdinals", testConcurrentSameOrdinals},
		{"Reopen", testReopen},
		{"Outcomes", testOutcomes},
		{"Replay", testReplay},
		{"CreditPending", testCreditPending},
		{"Closed", testClosed},
		{"ContextCancelled", testContextCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Every open of a case is on the case's dir; the cleanup
			// tolerates a store the case closed itself.
			dir := t.TempDir()
			c.run(t, func(t *testing.T) store.Store {
				t.Helper()
				s := open(t, dir)
				t.Cleanup(func() {
					if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
						t.Errorf("close: %v", err)
					}
				})
				return s
			})
		})
	}
}

// base is the acceptance time of the first receipt of a case.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// warrant returns a warrant whose payer and provider look like ISC agent
// IDs (kind byte, then 32 bytes) made of the given bytes.
func warrant(payer, provider byte) store.WarrantID {
	return store.WarrantID{
		Payer:    "\x01\x00" + strings.Repeat(string([]byte{payer}), 32),
		Provider: "\x01\x00" + strings.Repeat(string([]byte{provider}), 32),
	}
}

// receipt returns a receipt of w; its signature and resource derive from
// its (epoch, ordinal), its price is 10, its total 10 × ordinal.
func receipt(w store.WarrantID, epoch uint32, ordinal uint64, at time.Time) store.Receipt {
	r := store.Receipt{
		Warrant:    w,
		Payment:    payment.Payment{Epoch: epoch, Ordinal: ordinal, Total: 10 * ordinal},
		Price:      10,
		Resource:   fmt.Sprintf("/meter/%d/%d", epoch, ordinal),
		AcceptedAt: at,
	}
	for i := range r.Payment.Signature {
		r.Payment.Signature[i] = byte(uint64(i) + ordinal + uint64(epoch)<<4)
	}
	return r
}

func mustAppend(t *testing.T, s store.Store, rs ...store.Receipt) {
	t.Helper()
	for _, r := range rs {
		if err := s.Append(context.Background(), r); err != nil {
			t.Fatalf("append %v of %x: %v", r.Payment, r.Warrant.Payer, err)
		}
	}
}

// requireReceipt fails unless got is want as the store gives it back: the
// same instant, in UTC.
func requireReceipt(t *testing.T, what string, got, want store.Receipt) {
	t.Helper()
	if !got.AcceptedAt.Equal(want.AcceptedAt) || got.AcceptedAt.Location() != time.UTC {
		t.Fatalf("%s: accepted at %v, want %v in UTC", what, got.AcceptedAt, want.AcceptedAt)
	}
	got.AcceptedAt, want.AcceptedAt = time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func requireSettlement(t *testing.T, what string, got, want store.Settlement) {
	t.Helper()
	if !got.UpdatedAt.Equal(want.UpdatedAt) || got.UpdatedAt.Location() != time.UTC {
		t.Fatalf("%s: updated at %v, want %v in UTC", what, got.UpdatedAt, want.UpdatedAt)
	}
	got.UpdatedAt, want.UpdatedAt = time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func requireNewest(t *testing.T, s store.Store, w store.WarrantID, want store.Receipt) {
	t.Helper()
	got, ok, err := s.Newest(context.Background(), w)
	if err != nil || !ok {
		t.Fatalf("newest: ok %v, err %v", ok, err)
	}
	requireReceipt(t, "newest", got, want)
}

func requireNoNewest(t *testing.T, s store.Store, w store.WarrantID) {
	t.Helper()
	got, ok, err := s.Newest(context.Background(), w)
	if err != nil || ok {
		t.Fatalf("newest of a warrant without receipts: %+v, ok %v, err %v", got, ok, err)
	}
}

// all returns the receipts f selects, in walk order.
func all(t *testing.T, s store.Store, f store.ReceiptFilter) []store.Receipt {
	t.Helper()
	var out []store.Receipt
	if err := s.Receipts(context.Background(), f, func(r store.Receipt) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("receipts: %v", err)
	}
	return out
}

func requireReceipts(t *testing.T, what string, got, want []store.Receipt) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d receipts, want %d:\n got %v\nwant %v", what, len(got), len(want), ordinals(got), ordinals(want))
	}
	for i := range want {
		requireReceipt(t, fmt.Sprintf("%s [%d]", what, i), got[i], want[i])
	}
}

func ordinals(rs []store.Receipt) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%x…/%d.%d", r.Warrant.Payer[2:3], r.Payment.Epoch, r.Payment.Ordinal)
	}
	return out
}

func testAppendAndNewest(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w, other := warrant(0xaa, 0xbb), warrant(0xaa, 0xbc)
	requireNoNewest(t, s, w)

	r1 := receipt(w, 1, 1, base)
	mustAppend(t, s, r1)
	requireNewest(t, s, w, r1)

	// A time in another zone, with a monotonic reading, comes back as the
	// same instant in UTC.
	r2 := receipt(w, 1, 2, time.Now().In(time.FixedZone("UTC+5", 5*3600)))
	mustAppend(t, s, r2)
	requireNewest(t, s, w, r2)
	requireNoNewest(t, s, other)
	requireReceipts(t, "receipts", all(t, s, store.ReceiptFilter{}), []store.Receipt{r1, r2})

	// Large values and an empty resource survive.
	r3 := receipt(w, 1<<32-1, 1<<64-1, time.Time{})
	r3.Payment.Total, r3.Price, r3.Resource = 1<<64-1, 1<<64-1, ""
	mustAppend(t, s, r3)
	requireNewest(t, s, w, r3)
}

func testNotNewer(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	w := warrant(0xaa, 0xbb)
	mustAppend(t, s, receipt(w, 1, 1, base), receipt(w, 1, 5, base))
	newest := receipt(w, 1, 5, base)

	for _, bad := range []struct {
		name    string
		epoch   uint32
		ordinal uint64
	}{
		{"equal ordinal", 1, 5},
		{"lower ordinal", 1, 4},
		{"first ordinal again", 1, 1},
		{"lower epoch, higher ordinal", 0, 9},
	} {
		r := receipt(w, bad.epoch, bad.ordinal, base)
		r.Resource = "rejected"
		if err := s.Append(ctx, r); !errors.Is(err, store.ErrNotNewer) {
			t.Fatalf("%s (%d, %d): got %v, want ErrNotNewer", bad.name, bad.epoch, bad.ordinal, err)
		}
		requireNewest(t, s, w, newest)
	}

	// A new epoch starts over at ordinal 1; the old epoch is then closed.
	next := receipt(w, 2, 1, base.Add(time.Second))
	mustAppend(t, s, next)
	requireNewest(t, s, w, next)
	if err := s.Append(ctx, receipt(w, 1, 6, base)); !errors.Is(err, store.ErrNotNewer) {
		t.Fatalf("old epoch after a new one: got %v, want ErrNotNewer", err)
	}

	sums, err := s.Warrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].Receipts != 3 {
		t.Fatalf("rejected appends were counted: %+v", sums)
	}
	if got := all(t, s, store.ReceiptFilter{}); len(got) != 3 {
		t.Fatalf("rejected appends were stored: %v", ordinals(got))
	}
}

func testBadWarrant(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	long := store.WarrantID{Payer: strings.Repeat("p", 256), Provider: "provider"}
	if err := s.Append(ctx, receipt(long, 1, 1, base)); err == nil || errors.Is(err, store.ErrNotNewer) {
		t.Fatalf("append with a 256-byte payer: got %v, want a validation error", err)
	}
	if err := s.SaveSettlement(ctx, store.Settlement{Warrant: long}); err == nil {
		t.Fatal("settlement with a 256-byte payer was saved")
	}
	// 255 bytes and empty IDs are keyable.
	edge := store.WarrantID{Payer: strings.Repeat("p", 255), Provider: ""}
	r := receipt(edge, 1, 1, base)
	mustAppend(t, s, r)
	requireNewest(t, s, edge, r)
}

// testResourceCap: a resource longer than store.MaxResourceLen is refused
// with ErrResourceTooLong and stores nothing; one of exactly that length is
// kept whole.
func testResourceCap(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	w := warrant(1, 2)
	long := receipt(w, 1, 1, base)
	long.Resource = strings.Repeat("x", store.MaxResourceLen+1)
	err := s.Append(ctx, long)
	if !errors.Is(err, store.ErrResourceTooLong) || !strings.Contains(err.Error(), fmt.Sprint(store.MaxResourceLen)) {
		t.Fatalf("append with a %d-byte resource: got %v, want ErrResourceTooLong naming the limit", len(long.Resource), err)
	}
	requireNoNewest(t, s, w)
	edge := receipt(w, 1, 1, base)
	edge.Resource = strings.Repeat("y", store.MaxResourceLen)
	mustAppend(t, s, edge)
	requireNewest(t, s, w, edge)
}

func testWarrants(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	if sums, err := s.Warrants(ctx); err != nil || len(sums) != 0 {
		t.Fatalf("empty store: %+v, %v", sums, err)
	}

	// Payers of different lengths, one a prefix of another, and two
	// providers of one payer: listed by payer, then provider, as bytes.
	short := store.WarrantID{Payer: "\x01\x00", Provider: "\x02"} // a prefix of the payers below
	a := warrant(0xaa, 0x02)
	b := warrant(0xaa, 0x01)
	c := store.WarrantID{Payer: "\x00\xff\xff", Provider: "\x01"}
	d := warrant(0x10, 0x30)
	counts := map[store.WarrantID]int{a: 3, b: 1, c: 2, d: 4, short: 1}
	var newest = map[store.WarrantID]store.Receipt{}
	for _, w := range []store.WarrantID{a, short, d, b, c} {
		for i := range counts[w] {
			epoch := uint32(1 + i/2) // two per epoch: the count spans epochs
			r := receipt(w, epoch, uint64(i%2+1), base.Add(time.Duration(i)*time.Millisecond))
			mustAppend(t, s, r)
			newest[w] = r
		}
	}
	settled := store.Settlement{Warrant: d, Epoch: 2, Ordinal: 1, Total: 10, State: store.Landed, Attempt: 1, Paid: 10, UpdatedAt: base}
	if err := s.SaveSettlement(ctx, settled); err != nil {
		t.Fatal(err)
	}
	// A settlement alone does not list a warrant.
	if err := s.SaveSettlement(ctx, store.Settlement{Warrant: warrant(0x77, 0x77), State: store.Submitted}); err != nil {
		t.Fatal(err)
	}

	sums, err := s.Warrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	order := []store.WarrantID{c, short, d, b, a}
	if len(sums) != len(order) {
		t.Fatalf("%d warrants, want %d: %+v", len(sums), len(order), sums)
	}
	for i, want := range order {
		got := sums[i]
		if got.Warrant != want {
			t.Fatalf("warrant %d is %x/%x, want %x/%x", i, got.Warrant.Payer, got.Warrant.Provider, want.Payer, want.Provider)
		}
		if got.Receipts != uint64(counts[want]) {
			t.Fatalf("warrant %d: %d receipts, want %d", i, got.Receipts, counts[want])
		}
		requireReceipt(t, fmt.Sprintf("warrant %d newest", i), got.Newest, newest[want])
		if want == d {
			if got.LastSettlement == nil {
				t.Fatalf("warrant %d: no settlement", i)
			}
			requireSettlement(t, "summary settlement", *got.LastSettlement, settled)
		} else if got.LastSettlement != nil {
			t.Fatalf("warrant %d: settlement %+v, want none", i, got.LastSettlement)
		}
	}
}

func testReceiptsFilters(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	a, b, none := warrant(0x01, 0x01), warrant(0x02, 0x01), warrant(0x03, 0x01)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	// Interleaved acceptance times across warrants; the walk is per
	// warrant, in acceptance order.
	a1, b1, a2, b2, a3 := receipt(a, 1, 1, at(0)), receipt(b, 1, 1, at(1)), receipt(a, 1, 2, at(2)), receipt(b, 2, 1, at(3)), receipt(a, 3, 7, at(4))
	mustAppend(t, s, b1, a1, a2, b2, a3)

	for _, c := range []struct {
		name string
		f    store.ReceiptFilter
		want []store.Receipt
	}{
		{"all", store.ReceiptFilter{}, []store.Receipt{a1, a2, a3, b1, b2}},
		{"warrant", store.ReceiptFilter{Warrant: &b}, []store.Receipt{b1, b2}},
		{"warrant without receipts", store.ReceiptFilter{Warrant: &none}, nil},
		{"since is inclusive", store.ReceiptFilter{Since: at(2)}, []store.Receipt{a2, a3, b2}},
		{"until is exclusive", store.ReceiptFilter{Until: at(2)}, []store.Receipt{a1, b1}},
		{"since and until", store.ReceiptFilter{Since: at(1), Until: at(4)}, []store.Receipt{a2, b1, b2}},
		{"warrant, since and until", store.ReceiptFilter{Warrant: &a, Since: at(1), Until: at(4)}, []store.Receipt{a2}},
		{"empty window", store.ReceiptFilter{Since: at(3), Until: at(3)}, nil},
		{"since in another zone", store.ReceiptFilter{Since: at(3).In(time.FixedZone("x", -7200))}, []store.Receipt{a3, b2}},
	} {
		requireReceipts(t, c.name, all(t, s, c.f), c.want)
	}
}

func testReceiptsStopOnError(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w := warrant(0x01, 0x02)
	for i := range 5 {
		mustAppend(t, s, receipt(w, 1, uint64(i+1), base))
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.Receipts(context.Background(), store.ReceiptFilter{}, func(r store.Receipt) error {
		calls++
		if r.Payment.Ordinal == 3 {
			return fmt.Errorf("at %d: %w", r.Payment.Ordinal, stop)
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("got %v, want fn's error", err)
	}
	if calls != 3 {
		t.Fatalf("fn called %d times after returning an error at the 3rd", calls)
	}
}

// testReceiptsReentrant calls the store from within a walk: it must not
// deadlock, and the walk sees the store as it was when it started.
func testReceiptsReentrant(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	w := warrant(0x01, 0x02)
	mustAppend(t, s, receipt(w, 1, 1, base), receipt(w, 1, 2, base))
	var seen []uint64
	err := s.Receipts(ctx, store.ReceiptFilter{}, func(r store.Receipt) error {
		seen = append(seen, r.Payment.Ordinal)
		if _, _, err := s.Newest(ctx, w); err != nil {
			return err
		}
		return s.Append(ctx, receipt(w, 1, 10+r.Payment.Ordinal, base))
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[1 2]" {
		t.Fatalf("walk saw ordinals %v, want [1 2]: the walk is a snapshot", seen)
	}
	requireNewest(t, s, w, receipt(w, 1, 12, base))
}

// testAcknowledgement: an acknowledgement is kept per warrant, replaced by
// the next one, and still there after a reopen.
func testAcknowledgement(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	w, other := warrant(0x01, 0x02), warrant(0x01, 0x03)
	if got, ok, err := s.Acknowledged(ctx, w); err != nil || ok {
		t.Fatalf("no acknowledgement yet: %+v, ok %v, err %v", got, ok, err)
	}
	first := store.Acknowledgement{Warrant: w, ChainEpoch: 2, ChainOrdinal: 7, AcknowledgedAt: base.In(time.FixedZone("x", 3600))}
	second := store.Acknowledgement{Warrant: w, ChainEpoch: 3, ChainOrdinal: 1<<64 - 1, AcknowledgedAt: base.Add(time.Hour)}
	for _, a := range []store.Acknowledgement{first, second} {
		if err := s.Acknowledge(ctx, a); err != nil {
			t.Fatal(err)
		}
		requireAcknowledged(t, s, a)
	}
	if got, ok, err := s.Acknowledged(ctx, other); err != nil || ok {
		t.Fatalf("other warrant: %+v, ok %v, err %v", got, ok, err)
	}
	if err := s.Acknowledge(ctx, store.Acknowledgement{Warrant: store.WarrantID{Payer: strings.Repeat("p", 256)}}); err == nil {
		t.Fatal("acknowledgement with a 256-byte payer was saved")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	requireAcknowledged(t, open(t), second)
}

func requireAcknowledged(t *testing.T, s store.Store, want store.Acknowledgement) {
	t.Helper()
	got, ok, err := s.Acknowledged(context.Background(), want.Warrant)
	if err != nil || !ok {
		t.Fatalf("acknowledged: ok %v, err %v", ok, err)
	}
	if !got.AcknowledgedAt.Equal(want.AcknowledgedAt) || got.AcknowledgedAt.Location() != time.UTC {
		t.Fatalf("acknowledged at %v, want %v in UTC", got.AcknowledgedAt, want.AcknowledgedAt)
	}
	got.AcknowledgedAt, want.AcknowledgedAt = time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("acknowledged:\n got %+v\nwant %+v", got, want)
	}
}

func testSettlement(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	w, other := warrant(0x01, 0x02), warrant(0x01, 0x03)
	if got, ok, err := s.LastSettlement(ctx, w); err != nil || ok {
		t.Fatalf("no settlement yet: %+v, ok %v, err %v", got, ok, err)
	}

	submitted := store.Settlement{
		Warrant: w, Epoch: 3, Ordinal: 41, Total: 4100, State: store.Submitted,
		Attempt: 1, UpdatedAt: base.In(time.FixedZone("x", 3600)),
	}
	if err := s.SaveSettlement(ctx, submitted); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.LastSettlement(ctx, w)
	if err != nil || !ok {
		t.Fatalf("after save: ok %v, err %v", ok, err)
	}
	requireSettlement(t, "submitted", got, submitted)

	failed := submitted
	failed.State, failed.Attempt, failed.RequestID, failed.Error = store.Failed, 2, "0xabcdef", "chain said: no ✗"
	failed.UpdatedAt = base.Add(time.Minute)
	landed := failed
	landed.State, landed.Attempt, landed.Paid, landed.Error = store.Landed, 3, 1<<64-1, ""
	landed.UpdatedAt = base.Add(2 * time.Minute)
	for _, next := range []store.Settlement{failed, landed} {
		if err := s.SaveSettlement(ctx, next); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.LastSettlement(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		requireSettlement(t, "overwritten", got, next)
	}
	if got, ok, err := s.LastSettlement(ctx, other); err != nil || ok {
		t.Fatalf("other warrant: %+v, ok %v, err %v", got, ok, err)
	}
}

func testReturnedValuesAreCopies(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	w := warrant(0x01, 0x02)
	mustAppend(t, s, receipt(w, 1, 1, base))
	want := store.Settlement{Warrant: w, State: store.Submitted, Attempt: 1, UpdatedAt: base}
	if err := s.SaveSettlement(ctx, want); err != nil {
		t.Fatal(err)
	}
	sums, err := s.Warrants(ctx)
	if err != nil || len(sums) != 1 || sums[0].LastSettlement == nil {
		t.Fatalf("warrants: %+v, %v", sums, err)
	}
	sums[0].LastSettlement.State, sums[0].LastSettlement.Attempt = store.Failed, 99
	got, _, err := s.LastSettlement(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	requireSettlement(t, "after the caller changed a returned settlement", got, want)
}

func testConcurrentDifferentWarrants(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	const goroutines, appends = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := warrant(byte(g), 0xff)
			for i := range appends {
				if err := s.Append(context.Background(), receipt(w, 1, uint64(i+1), base)); err != nil {
					errs <- fmt.Errorf("goroutine %d ordinal %d: %w", g, i+1, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	sums, err := s.Warrants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != goroutines {
		t.Fatalf("%d warrants, want %d", len(sums), goroutines)
	}
	for _, sum := range sums {
		if sum.Receipts != appends || sum.Newest.Payment.Ordinal != appends {
			t.Fatalf("warrant %x: %d receipts, newest %d; want %d", sum.Warrant.Payer, sum.Receipts, sum.Newest.Payment.Ordinal, appends)
		}
	}
	if got := all(t, s, store.ReceiptFilter{}); len(got) != goroutines*appends {
		t.Fatalf("%d receipts, want %d", len(got), goroutines*appends)
	}
}

// testConcurrentSameOrdinals races goroutines that each try every ordinal
// 1..n of one warrant in turn. Exactly one wins each ordinal: the first
// append of an ordinal ≥ k must be k itself, since whoever makes it tried k
// before and lost only to an append ≥ k.
func testConcurrentSameOrdinals(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	const goroutines, ordinals = 8, 30
	w := warrant(0x42, 0x43)
	winners := make([][]int, ordinals+1) // ordinal → goroutines that won it
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := uint64(1); k <= ordinals; k++ {
				r := receipt(w, 1, k, base)
				r.Resource = fmt.Sprint("goroutine ", g)
				err := s.Append(context.Background(), r)
				switch {
				case err == nil:
					mu.Lock()
					winners[k] = append(winners[k], g)
					mu.Unlock()
				case !errors.Is(err, store.ErrNotNewer):
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	got := all(t, s, store.ReceiptFilter{Warrant: &w})
	if len(got) != ordinals {
		t.Fatalf("%d receipts, want %d", len(got), ordinals)
	}
	for k := 1; k <= ordinals; k++ {
		if len(winners[k]) != 1 {
			t.Fatalf("ordinal %d won by goroutines %v, want exactly one", k, winners[k])
		}
		r := got[k-1]
		if r.Payment.Ordinal != uint64(k) || r.Resource != fmt.Sprint("goroutine ", winners[k][0]) {
			t.Fatalf("receipt %d is ordinal %d from %q, want the winner's, goroutine %d", k, r.Payment.Ordinal, r.Resource, winners[k][0])
		}
	}
	sums, err := s.Warrants(context.Background())
	if err != nil || len(sums) != 1 || sums[0].Receipts != ordinals {
		t.Fatalf("warrants: %+v, %v", sums, err)
	}
}

func testReopen(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	a, b := warrant(0x0a, 0x01), warrant(0x0b, 0x01)
	var want []store.Receipt
	s := open(t)
	for i := range 4 {
		r := receipt(a, uint32(1+i/2), uint64(i%2+1), base.Add(time.Duration(i)*time.Second))
		mustAppend(t, s, r)
		want = append(want, r)
	}
	rb := receipt(b, 7, 100, base)
	mustAppend(t, s, rb)
	want = append(want, rb)
	settled := store.Settlement{Warrant: a, Epoch: 2, Ordinal: 2, Total: 20, State: store.Failed, Attempt: 4, RequestID: "req", Error: "out of gas", UpdatedAt: base}
	if err := s.SaveSettlement(ctx, settled); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s = open(t)
	requireReceipts(t, "after reopen", all(t, s, store.ReceiptFilter{}), want)
	requireNewest(t, s, a, want[3])
	requireNewest(t, s, b, rb)
	got, ok, err := s.LastSettlement(ctx, a)
	if err != nil || !ok {
		t.Fatalf("settlement after reopen: ok %v, err %v", ok, err)
	}
	requireSettlement(t, "settlement after reopen", got, settled)
	sums, err := s.Warrants(ctx)
	if err != nil || len(sums) != 2 || sums[0].Receipts != 4 || sums[1].Receipts != 1 || sums[0].LastSettlement == nil {
		t.Fatalf("warrants after reopen: %+v, %v", sums, err)
	}

	// The rule and the counters carry on from what was stored.
	if err := s.Append(ctx, receipt(a, 2, 2, base)); !errors.Is(err, store.ErrNotNewer) {
		t.Fatalf("replay after reopen: got %v, want ErrNotNewer", err)
	}
	mustAppend(t, s, receipt(a, 2, 3, base))
	if sums, err := s.Warrants(ctx); err != nil || sums[0].Receipts != 5 {
		t.Fatalf("count after reopen and append: %+v, %v", sums, err)
	}
}

func testClosed(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	w := warrant(0x01, 0x02)
	mustAppend(t, s, receipt(w, 1, 1, base))
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	fnCalled := false
	for name, err := range map[string]error{
		"Append": s.Append(ctx, receipt(w, 1, 2, base)),
		"Newest": func() error { _, _, err := s.Newest(ctx, w); return err }(),
		"Warrants": func() error {
			_, err := s.Warrants(ctx)
			return err
		}(),
		"Receipts": s.Receipts(ctx, store.ReceiptFilter{}, func(store.Receipt) error {
			fnCalled = true
			return nil
		}),
		"SaveSettlement": s.SaveSettlement(ctx, store.Settlement{Warrant: w}),
		"LastSettlement": func() error { _, _, err := s.LastSettlement(ctx, w); return err }(),
		"Close":          s.Close(),
	} {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", name, err)
		}
	}
	if fnCalled {
		t.Error("Receipts after Close called fn")
	}
}

func testContextCancelled(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	w := warrant(0x01, 0x02)
	first := receipt(w, 1, 1, base)
	mustAppend(t, s, first, receipt(w, 1, 2, base), receipt(w, 1, 3, base))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fnCalled := false
	for name, err := range map[string]error{
		"Append": s.Append(ctx, receipt(w, 1, 4, base)),
		"Newest": func() error { _, _, err := s.Newest(ctx, w); return err }(),
		"Warrants": func() error {
			_, err := s.Warrants(ctx)
			return err
		}(),
		"Receipts": s.Receipts(ctx, store.ReceiptFilter{}, func(store.Receipt) error {
			fnCalled = true
			return nil
		}),
		"SaveSettlement": s.SaveSettlement(ctx, store.Settlement{Warrant: w}),
		"LastSettlement": func() error { _, _, err := s.LastSettlement(ctx, w); return err }(),
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want context.Canceled", name, err)
		}
	}
	if fnCalled {
		t.Error("Receipts with a cancelled context called fn")
	}
	// Nothing was written.
	requireNewest(t, s, w, receipt(w, 1, 3, base))
	if _, ok, err := s.LastSettlement(context.Background(), w); err != nil || ok {
		t.Fatalf("settlement written with a cancelled context: ok %v, err %v", ok, err)
	}

	// Cancelled mid-walk: the walk stops with ctx.Err() and calls fn no
	// more.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var seen []store.Receipt
	err := s.Receipts(ctx, store.ReceiptFilter{}, func(r store.Receipt) error {
		seen = append(seen, r)
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("walk cancelled by fn: got %v, want context.Canceled", err)
	}
	if len(seen) != 1 {
		t.Fatalf("fn called %d times after cancelling at the first receipt", len(seen))
	}
	requireReceipt(t, "first receipt", seen[0], first)
}
