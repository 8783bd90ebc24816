package store

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// TestReceiptsCommitInGroups holds the WAL sync of a first append; the
// appends that arrive meanwhile wait in the committer's queue and are then
// committed as one group with one sync, each acknowledged, each stored.
func TestReceiptsCommitInGroups(t *testing.T) {
	ctx := context.Background()
	s, fs := openHeld(t)
	release := fs.holdSyncs()
	const later = 20
	errs := make(chan error, later+1)
	go func() { errs <- s.Append(ctx, testReceipt(WarrantID{Payer: "first", Provider: "provider"}, 1, 1)) }()
	<-fs.held // the first group's sync, held
	groups := s.commits.groups.Load()
	for g := range later {
		go func() {
			errs <- s.Append(ctx, testReceipt(WarrantID{Payer: fmt.Sprint("payer ", g), Provider: "provider"}, 1, 1))
		}()
	}
	for len(s.commits.queue) < later {
		runtime.Gosched()
	}
	release()
	for range later + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := s.commits.groups.Load() - groups; got != 1 {
		t.Fatalf("%d groups for the %d appends that waited together, want 1", got, later)
	}
	sums, err := s.Warrants(ctx)
	if err != nil || len(sums) != later+1 {
		t.Fatalf("%d warrants stored, want %d (%v)", len(sums), later+1, err)
	}
}
