package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/micropay/micropay/contract/payment"
)

func testReceipt(w WarrantID, epoch uint32, ordinal uint64) Receipt {
	r := Receipt{
		Warrant:    w,
		Payment:    payment.Payment{Epoch: epoch, Ordinal: ordinal, Total: 100 * ordinal},
		Price:      100,
		Resource:   fmt.Sprintf("/r/%d", ordinal),
		AcceptedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC).Add(time.Duration(ordinal) * time.Second),
	}
	r.Payment.Signature[0], r.Payment.Signature[63] = byte(ordinal), 0xee
	return r
}

// TestPebbleCorruptRecord writes garbage under the store's keys through
// the raw database: every read of it fails with ErrCorrupt, without a
// panic, and Append does not write over a warrant record it cannot read.
func TestPebbleCorruptRecord(t *testing.T) {
	ctx := context.Background()
	w := WarrantID{Payer: "payer", Provider: "provider"}
	good := testReceipt(w, 1, 2)
	goodValue := appendReceiptValue(nil, good)

	readAll := func(s *Pebble) error {
		return s.Receipts(ctx, ReceiptFilter{}, func(Receipt) error { return nil })
	}
	newest := func(s *Pebble) error { _, _, err := s.Newest(ctx, w); return err }
	warrants := func(s *Pebble) error { _, err := s.Warrants(ctx); return err }
	settlement := func(s *Pebble) error { _, _, err := s.LastSettlement(ctx, w); return err }
	appendNext := func(s *Pebble) error { return s.Append(ctx, testReceipt(w, 1, 3)) }

	for _, c := range []struct {
		name   string
		key    []byte
		value  []byte
		reads  map[string]func(*Pebble) error
		intact func(*Pebble) error // a read that must still work
	}{
		{
			name: "receipt: garbage", key: receiptKey(w, 1, 2), value: []byte("not a receipt"),
			reads: map[string]func(*Pebble) error{"Receipts": readAll, "Newest": newest, "Warrants": warrants},
		},
		{
			name: "receipt: truncated", key: receiptKey(w, 1, 2), value: goodValue[:len(goodValue)-1],
			reads: map[string]func(*Pebble) error{"Receipts": readAll, "Newest": newest},
		},
		{
			name: "receipt: trailing byte", key: receiptKey(w, 1, 2), value: append(append([]byte(nil), goodValue...), 0),
			reads: map[string]func(*Pebble) error{"Receipts": readAll, "Newest": newest},
		},
		{
			name: "receipt: unknown version", key: receiptKey(w, 1, 2), value: append([]byte{9}, goodValue[1:]...),
			reads: map[string]func(*Pebble) error{"Receipts": readAll, "Newest": newest},
		},
		{
			name: "receipt: string longer than the record", key: receiptKey(w, 1, 2),
			value: append(goodValue[:len(goodValue)-len(good.Resource)-1], 0xff, 0xff, 0xff, 0xff, 0x0f),
			reads: map[string]func(*Pebble) error{"Receipts": readAll},
		},
		{
			name: "receipt: key too short", key: append(warrantKeyWithPrefix(prefixReceipt, w), 0, 0, 0, 1), value: goodValue,
			reads:  map[string]func(*Pebble) error{"Receipts": readAll},
			intact: newest,
		},
		{
			name: "warrant record: garbage", key: warrantKeyWithPrefix(prefixWarrant, w), value: []byte{warrantVersion, 0xff},
			reads: map[string]func(*Pebble) error{"Newest": newest, "Warrants": warrants, "Append": appendNext},
		},
		{
			name: "warrant record: names a missing receipt", key: warrantKeyWithPrefix(prefixWarrant, w),
			value: appendWarrantValue(nil, warrantState{Epoch: 1, Ordinal: 99, Receipts: 3}),
			reads: map[string]func(*Pebble) error{"Newest": newest, "Warrants": warrants},
		},
		{
			name: "warrant record: epoch overflows", key: warrantKeyWithPrefix(prefixWarrant, w),
			value: appendWarrantValue(nil, warrantState{Epoch: 1, Ordinal: 2, Receipts: 2})[:1],
			reads: map[string]func(*Pebble) error{"Newest": newest},
		},
		{
			name: "warrant key: bad lengths", key: []byte{prefixWarrant, 200, 'x'}, value: appendWarrantValue(nil, warrantState{}),
			reads:  map[string]func(*Pebble) error{"Warrants": warrants, "Receipts": readAll},
			intact: newest,
		},
		{
			name: "settlement: garbage", key: warrantKeyWithPrefix(prefixSettlement, w), value: []byte{settlementVersion, 1, 2},
			reads:  map[string]func(*Pebble) error{"LastSettlement": settlement, "Warrants": warrants},
			intact: newest,
		},
		{
			name: "settlement: nanoseconds out of range", key: warrantKeyWithPrefix(prefixSettlement, w),
			value: []byte{settlementVersion, 1, 1, 1, byte(Landed), 2, 1, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0},
			reads: map[string]func(*Pebble) error{"LastSettlement": settlement},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := errors.Join(
				s.Append(ctx, testReceipt(w, 1, 1)),
				s.Append(ctx, good),
				s.SaveSettlement(ctx, Settlement{Warrant: w, State: Submitted}),
			); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Set(c.key, c.value, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			for name, read := range c.reads {
				if err := read(s); !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: got %v, want ErrCorrupt", name, err)
				}
			}
			if c.intact != nil {
				if err := c.intact(s); err != nil {
					t.Errorf("unrelated read: %v", err)
				}
			}
		})
	}
}

// TestPebbleFormatVersion: Open writes the format version into a new
// store, reopens it, and refuses a store of another version.
func TestPebbleFormatVersion(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := s.db.Set(keyFormat, []byte{formatVersion + 1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("open a store of format %d: got %v, want ErrCorrupt", formatVersion+1, err)
	}
	// The failed open released the directory.
	if s, err := Open(dir); err == nil || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("second open: got %v, want ErrCorrupt", err)
	} else if s != nil {
		t.Fatal("store returned with an error")
	}
}

// TestPebblePowerLoss runs the store on Pebble's strict in-memory file
// system, which can drop everything not synced, as a power loss would:
// every append acknowledged before the loss is there after it, and then
// every settlement. (Appends and settlements are lost separately, since a
// synced write also syncs every write before it.)
func TestPebblePowerLoss(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewStrictMem()
	const dir = "/store/db" // two directories to create and sync
	const writers, appends = 8, 20
	warrant := func(g int) WarrantID { return WarrantID{Payer: fmt.Sprint("payer ", g), Provider: "provider"} }

	// phase writes with every writer at once, loses power, and reopens.
	phase := func(write func(s *Pebble, g int) error) *Pebble {
		t.Helper()
		s, err := Open(dir, withFS(fs))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := write(s, g); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		// Nothing written from here on reaches the disk, then the disk
		// keeps only what was synced.
		fs.SetIgnoreSyncs(true)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		fs.ResetToSyncedState()
		fs.SetIgnoreSyncs(false)
		if s, err = Open(dir, withFS(fs)); err != nil {
			t.Fatalf("open after power loss: %v", err)
		}
		return s
	}

	s := phase(func(s *Pebble, g int) error {
		for i := range appends {
			if err := s.Append(ctx, testReceipt(warrant(g), 1, uint64(i+1))); err != nil {
				return err
			}
		}
		return nil
	})
	sums, err := s.Warrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != writers {
		t.Fatalf("%d warrants after power loss, want %d", len(sums), writers)
	}
	for _, sum := range sums {
		if sum.Receipts != appends || sum.Newest.Payment.Ordinal != appends {
			t.Fatalf("warrant %q after power loss: %d receipts, newest %d", sum.Warrant.Payer, sum.Receipts, sum.Newest.Payment.Ordinal)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = phase(func(s *Pebble, g int) error {
		return s.SaveSettlement(ctx, Settlement{Warrant: warrant(g), Ordinal: appends, State: Submitted, Attempt: g + 1})
	})
	defer s.Close()
	for g := range writers {
		st, ok, err := s.LastSettlement(ctx, warrant(g))
		if err != nil || !ok || st.Attempt != g+1 {
			t.Fatalf("settlement of writer %d after power loss: %+v, ok %v, err %v", g, st, ok, err)
		}
	}
}

// TestWarrantLocksDropUnused: the lock map does not grow with the number
// of warrants ever appended to.
func TestWarrantLocksDropUnused(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 10 {
		w := WarrantID{Payer: fmt.Sprint(i)}
		if err := s.Append(context.Background(), testReceipt(w, 1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.locks.m); n != 0 {
		t.Fatalf("%d warrant locks left after the appends returned", n)
	}
}

// TestVersion1RecordsDecode: receipts and warrant records written before
// outcomes and credits existed decode as served, with no credit.
func TestVersion1RecordsDecode(t *testing.T) {
	w := WarrantID{Payer: "payer", Provider: "provider"}
	r := testReceipt(w, 1, 2)
	v2 := appendReceiptValue(nil, r)
	v1 := append([]byte{1}, v2[1:len(v2)-2]...) // drop asked (one byte) and outcome
	got, err := decodeReceipt(receiptKey(w, 1, 2), v1)
	if err != nil || got.Outcome != Served || got.Asked != 0 || got.Cost() != r.Price || got.Resource != r.Resource {
		t.Fatalf("version 1 receipt: %+v, %v", got, err)
	}
	state, err := decodeWarrantValue([]byte{1, 1, 2, 3})
	if err != nil || state != (warrantState{Epoch: 1, Ordinal: 2, Receipts: 3}) {
		t.Fatalf("version 1 warrant record: %+v, %v", state, err)
	}
	if _, err := decodeReceipt(receiptKey(w, 1, 2), append(v2[:len(v2)-1:len(v2)-1], 3)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("outcome 3: %v, want ErrCorrupt", err)
	}
}
