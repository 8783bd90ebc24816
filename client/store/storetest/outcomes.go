package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/micropay/micropay/client/store"
)

// credit returns w's credit as Warrants lists it.
func credit(t *testing.T, s store.Store, w store.WarrantID) uint64 {
	t.Helper()
	sums, err := s.Warrants(context.Background())
	if err != nil {
		t.Fatalf("warrants: %v", err)
	}
	for _, sum := range sums {
		if sum.Warrant == w {
			return sum.Credit
		}
	}
	t.Fatalf("warrant %x not listed", w.Payer)
	return 0
}

func mustConclude(t *testing.T, s store.Store, r store.Receipt, served bool, wantOutcome store.Outcome, wantCredit uint64) {
	t.Helper()
	got, c, err := s.Conclude(context.Background(), r.Key(), served)
	if err != nil || got.Outcome != wantOutcome || c != wantCredit {
		t.Fatalf("conclude %d served=%v: outcome %v credit %d err %v, want %v and %d", r.Payment.Ordinal, served, got.Outcome, c, err, wantOutcome, wantCredit)
	}
}

// pending returns receipt(w, 1, ordinal) appended as Pending, paying price
// for a piece that costs asked, on top of total.
func pending(w store.WarrantID, ordinal, total, price, asked uint64) store.Receipt {
	r := receipt(w, 1, ordinal, base)
	r.Payment.Total, r.Price, r.Asked, r.Outcome = total+price, price, asked, store.Pending
	return r
}

// testOutcomes: a pending receipt is concluded served or credited; a
// credited piece's cost is a credit the next payments use up, once.
func testOutcomes(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	w := warrant(0x31, 0x32)
	r1 := pending(w, 1, 0, 10, 10)
	mustAppend(t, s, r1)
	requireNewest(t, s, w, r1)
	mustConclude(t, s, r1, true, store.Served, 0)
	mustConclude(t, s, r1, false, store.Served, 0) // concluded stays so

	r2 := pending(w, 2, 10, 10, 10)
	mustAppend(t, s, r2)
	mustConclude(t, s, r2, false, store.Credited, 10)
	mustConclude(t, s, r2, false, store.Credited, 10) // credited once
	if c := credit(t, s, w); c != 10 {
		t.Fatalf("credit after a credited piece: %d, want 10", c)
	}

	// With a credit of 10, a payment 11 short of its piece's price is
	// refused and one 10 short is accepted.
	short := pending(w, 3, 20, 0, 11)
	if err := s.Append(ctx, short); !errors.Is(err, store.ErrUnderpaid) {
		t.Fatalf("append 11 short with credit 10: %v, want ErrUnderpaid", err)
	}
	r3 := pending(w, 3, 20, 0, 10)
	mustAppend(t, s, r3)
	if c := credit(t, s, w); c != 0 {
		t.Fatalf("credit after it was used: %d, want 0", c)
	}
	// Used once: the next payment short of its price is refused.
	if err := s.Append(ctx, pending(w, 4, 20, 0, 10)); !errors.Is(err, store.ErrUnderpaid) {
		t.Fatalf("second use of one credit: %v, want ErrUnderpaid", err)
	}
	mustConclude(t, s, r3, true, store.Served, 0)
	// Paying more than the price adds no credit.
	mustAppend(t, s, pending(w, 4, 20, 15, 10))
	if c := credit(t, s, w); c != 0 {
		t.Fatalf("credit after an overpayment: %d, want 0", c)
	}

	// A credited receipt that is no longer the newest is not revived.
	mustConclude(t, s, r2, true, store.Credited, 0)
	if _, _, err := s.Conclude(ctx, receipt(w, 1, 99, base).Key(), true); !errors.Is(err, store.ErrNoReceipt) {
		t.Fatalf("conclude of an unknown receipt: %v, want ErrNoReceipt", err)
	}
	var got []store.Outcome
	for _, r := range all(t, s, store.ReceiptFilter{Warrant: &w}) {
		got = append(got, r.Outcome)
	}
	if want := []store.Outcome{store.Served, store.Credited, store.Served, store.Pending}; !equalOutcomes(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
}

func equalOutcomes(a, b []store.Outcome) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testReplay: the newest receipt's piece served again takes a credit back
// and is concluded again; an older receipt cannot be replayed.
func testReplay(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	w := warrant(0x41, 0x42)
	r1 := pending(w, 1, 0, 10, 10)
	mustAppend(t, s, r1)
	mustConclude(t, s, r1, false, store.Credited, 10)

	got, c, err := s.Replay(ctx, r1.Key())
	if err != nil || got.Outcome != store.Pending || c != 0 {
		t.Fatalf("replay of a credited newest: %v credit %d err %v, want pending and 0", got.Outcome, c, err)
	}
	mustConclude(t, s, r1, true, store.Served, 0)
	if got, c, err := s.Replay(ctx, r1.Key()); err != nil || got.Outcome != store.Served || c != 0 {
		t.Fatalf("replay of a served newest: %v credit %d err %v, want served and 0", got.Outcome, c, err)
	}

	r2 := pending(w, 2, 10, 10, 10)
	mustAppend(t, s, r2)
	if _, _, err := s.Replay(ctx, r1.Key()); !errors.Is(err, store.ErrNotNewest) {
		t.Fatalf("replay of an older receipt: %v, want ErrNotNewest", err)
	}
	// A replay that fails again credits the piece again, once.
	mustConclude(t, s, r2, false, store.Credited, 10)
	if _, c, err := s.Replay(ctx, r2.Key()); err != nil || c != 0 {
		t.Fatalf("replay: credit %d err %v", c, err)
	}
	mustConclude(t, s, r2, false, store.Credited, 10)
}

// testCreditPending: a pending receipt survives a reopen, and
// CreditPending credits it (only the named provider's).
func testCreditPending(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	mine, theirs := warrant(0x51, 0x52), warrant(0x51, 0x53)
	served, inFlight := pending(mine, 1, 0, 10, 10), pending(mine, 2, 10, 10, 10)
	mustAppend(t, s, served, inFlight, pending(theirs, 1, 0, 7, 7))
	mustConclude(t, s, served, true, store.Served, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t)
	requireNewest(t, s, mine, inFlight)
	got, err := s.CreditPending(ctx, mine.Provider)
	if err != nil || len(got) != 1 || got[0].Key() != inFlight.Key() || got[0].Outcome != store.Credited {
		t.Fatalf("credit pending: %+v, %v; want ordinal 2 credited", got, err)
	}
	if c := credit(t, s, mine); c != 10 {
		t.Fatalf("credit after crediting the piece in flight: %d, want 10", c)
	}
	if c := credit(t, s, theirs); c != 0 {
		t.Fatalf("another provider's credit: %d, want 0", c)
	}
	if got, err := s.CreditPending(ctx, mine.Provider); err != nil || len(got) != 0 {
		t.Fatalf("second credit pending: %+v, %v; want none", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t)
	if c := credit(t, s, mine); c != 10 {
		t.Fatalf("credit after reopen: %d, want 10", c)
	}
}
