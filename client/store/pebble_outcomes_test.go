package store

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// waitOutcomeSyncs returns once no background sync of outcomes is running.
func waitOutcomeSyncs(s *Pebble) {
	for {
		s.outcomes.mu.Lock()
		running := s.outcomes.running
		s.outcomes.mu.Unlock()
		if !running {
			return
		}
		runtime.Gosched()
	}
}

// TestConcludeDoesNotWaitForASync holds every WAL sync: Conclude returns
// all the same, the sync it asked for under way and held in the
// background. (A Conclude that waited for its sync would not return until
// the hold ends; the bound below only keeps that failure from hanging.)
func TestConcludeDoesNotWaitForASync(t *testing.T) {
	ctx := context.Background()
	s, fs := openHeld(t)
	w := WarrantID{Payer: "payer", Provider: "provider"}
	r := testReceipt(w, 1, 1)
	r.Outcome = Pending
	if err := s.Append(ctx, r); err != nil {
		t.Fatal(err)
	}

	defer fs.holdSyncs()()
	done := make(chan error, 1)
	go func() {
		got, _, err := s.Conclude(ctx, r.Key(), true)
		if err == nil && got.Outcome != Served {
			err = fmt.Errorf("outcome %v, want served", got.Outcome)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Conclude did not return while WAL syncs were held: it waits for a sync")
	}
	<-fs.held // the background sync Conclude asked for
}

// TestConcludeIsDurableAfterItsSync loses power on Pebble's strict
// in-memory file system twice: once after Conclude's background sync, and
// the outcome is there; once before any sync after Conclude, and the
// receipt is pending again, to be credited by CreditPending.
func TestConcludeIsDurableAfterItsSync(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewStrictMem()
	const dir = "/store/db"
	w := WarrantID{Payer: "payer", Provider: "provider"}
	powerLoss := func(s *Pebble) *Pebble {
		t.Helper()
		fs.SetIgnoreSyncs(true)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		fs.ResetToSyncedState()
		fs.SetIgnoreSyncs(false)
		s, err := Open(dir, withFS(fs))
		if err != nil {
			t.Fatalf("open after power loss: %v", err)
		}
		return s
	}
	s, err := Open(dir, withFS(fs))
	if err != nil {
		t.Fatal(err)
	}
	for ordinal := uint64(1); ordinal <= 2; ordinal++ {
		r := testReceipt(w, 1, ordinal)
		r.Outcome = Pending
		if err := s.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Conclude(ctx, testReceipt(w, 1, 1).Key(), true); err != nil {
		t.Fatal(err)
	}
	waitOutcomeSyncs(s)
	fs.SetIgnoreSyncs(true) // nothing after this reaches the disk
	if _, _, err := s.Conclude(ctx, testReceipt(w, 1, 2).Key(), true); err != nil {
		t.Fatal(err)
	}
	waitOutcomeSyncs(s)
	s = powerLoss(s)
	defer s.Close()

	outcomes := map[uint64]Outcome{}
	err = s.Receipts(ctx, ReceiptFilter{Warrant: &w}, func(r Receipt) error {
		outcomes[r.Payment.Ordinal] = r.Outcome
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if outcomes[1] != Served || outcomes[2] != Pending {
		t.Fatalf("after power loss: outcomes %v, want 1 served (synced) and 2 pending (its sync lost)", outcomes)
	}
	credited, err := s.CreditPending(ctx, "provider")
	if err != nil || len(credited) != 1 || credited[0].Payment.Ordinal != 2 || credited[0].Outcome != Credited {
		t.Fatalf("credit pending: %+v, %v", credited, err)
	}
}
