package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

// damageWarrant is the warrant of the damage tests.
var damageWarrant = store.WarrantID{Payer: "payer", Provider: "provider"}

// storeWithPayments creates a store in a fresh dir holding three
// acknowledged payments, closes it and returns the dir.
func storeWithPayments(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "provider")
	s := openPebble(t, dir)
	for o := uint64(1); o <= 3; o++ {
		r := store.Receipt{Warrant: damageWarrant, Payment: payment.Payment{Epoch: 1, Ordinal: o, Total: 10 * o}, Price: 10}
		if err := s.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func removeGlob(t *testing.T, pattern string) {
	t.Helper()
	names, err := filepath.Glob(pattern)
	if err != nil || len(names) == 0 {
		t.Fatalf("nothing matches %s (%v)", pattern, err)
	}
	for _, n := range names {
		if err := os.RemoveAll(n); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenRefusesDamagedStore: a store that lost its CURRENT file (Pebble
// would panic), its write-ahead log or its whole directory (Pebble would
// open it empty, and the provider would take the acknowledged payments
// again), or whose directory was swapped for another store's, is refused
// with ErrDamaged naming what is missing and what to do; the refusal
// changes nothing, so it is refused again.
func TestOpenRefusesDamagedStore(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		says   string
	}{
		{"CURRENT deleted", func(t *testing.T, dir string) { removeGlob(t, filepath.Join(dir, "CURRENT")) }, "no CURRENT file"},
		{"WAL deleted", func(t *testing.T, dir string) { removeGlob(t, filepath.Join(dir, "*.log")) }, "write-ahead log"},
		{"directory emptied", func(t *testing.T, dir string) { removeGlob(t, filepath.Join(dir, "*")) }, "holds no database"},
		{"directory deleted", func(t *testing.T, dir string) { removeGlob(t, dir) }, "holds no database"},
		{"WAL and manifest replaced by a fresh database", func(t *testing.T, dir string) {
			removeGlob(t, dir)
			fresh := storeWithPayments(t)
			if err := os.Rename(fresh, dir); err != nil {
				t.Fatal(err)
			}
		}, "belongs to another store"},
		{"sentinel garbled", func(t *testing.T, dir string) {
			if err := os.WriteFile(store.SentinelPath(dir), []byte("micropay store zz\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "sentinel"},
		{"sentinel a directory", func(t *testing.T, dir string) {
			removeGlob(t, store.SentinelPath(dir))
			if err := os.Mkdir(store.SentinelPath(dir), 0o700); err != nil {
				t.Fatal(err)
			}
		}, "regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := storeWithPayments(t)
			c.damage(t, dir)
			for try := 0; try < 2; try++ {
				s, err := store.Open(dir)
				if err == nil {
					s.Close()
					t.Fatalf("open %d of a damaged store succeeded", try+1)
				}
				if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "restore") {
					t.Fatalf("open %d: got %v, want ErrDamaged saying %q and what to do", try+1, err, c.says)
				}
			}
		})
	}
}

// TestOpenStartsAfreshWhenToldTo: moving both the directory and its
// sentinel away is how an operator starts a new store on purpose; a store
// whose sentinel alone was lost (a crash between Open's two writes) is
// opened whole and gets its sentinel back.
func TestOpenStartsAfreshWhenToldTo(t *testing.T) {
	dir := storeWithPayments(t)
	if err := os.Remove(store.SentinelPath(dir)); err != nil {
		t.Fatal(err)
	}
	s := openPebble(t, dir)
	if _, ok, err := s.Newest(context.Background(), damageWarrant); err != nil || !ok {
		t.Fatalf("store without its sentinel: newest ok %v, err %v", ok, err)
	}
	s.Close()
	if _, err := os.Stat(store.SentinelPath(dir)); err != nil {
		t.Fatalf("sentinel not rewritten: %v", err)
	}

	removeGlob(t, dir)
	removeGlob(t, store.SentinelPath(dir))
	s = openPebble(t, dir)
	defer s.Close()
	if _, ok, err := s.Newest(context.Background(), damageWarrant); err != nil || ok {
		t.Fatalf("fresh store: newest ok %v, err %v", ok, err)
	}
}
