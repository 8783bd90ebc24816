package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

// Benchmarks report figures; they assert nothing about time. They run a
// fixed number of goroutines of their own rather than b.RunParallel, whose
// goroutine count is a multiple of GOMAXPROCS: "1" must mean one. The loops
// use b.N rather than b.Loop because go.mod declares go 1.22.
//
//	go test -run '^$' -bench . -benchmem ./client/store/

// benchGoroutines are the concurrencies benchmarked: one appender, and a
// provider serving many payers at once.
var benchGoroutines = []int{1, 64}

// BenchmarkAppendPebble appends receipts, each goroutine to its own warrant
// (one payer each), and reports appends/s and syncs/op: file syncs (WAL
// fsyncs, almost all) per append. Below 1 syncs/op, concurrent appends
// shared syncs: Pebble's group commit at work.
func BenchmarkAppendPebble(b *testing.B) {
	for _, goroutines := range benchGoroutines {
		b.Run(fmt.Sprintf("goroutines=%d", goroutines), func(b *testing.B) {
			fs := &countingFS{FS: vfs.Default}
			s, err := Open(b.TempDir(), withFS(fs))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			syncs := fs.syncs.Load()
			benchAppend(b, s, goroutines)
			b.ReportMetric(float64(fs.syncs.Load()-syncs)/float64(b.N), "syncs/op")
		})
	}
}

func BenchmarkAppendMemory(b *testing.B) {
	for _, goroutines := range benchGoroutines {
		b.Run(fmt.Sprintf("goroutines=%d", goroutines), func(b *testing.B) {
			benchAppend(b, NewMemory(), goroutines)
		})
	}
}

// benchAppend makes b.N appends from goroutines goroutines and reports
// appends/s.
func benchAppend(b *testing.B, s Store, goroutines int) {
	ctx := context.Background()
	var next atomic.Int64 // appends handed out
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := WarrantID{Payer: fmt.Sprintf("payer %4d", g), Provider: "provider"}
			for ordinal := uint64(1); next.Add(1) <= int64(b.N); ordinal++ {
				if err := s.Append(ctx, testReceipt(w, 1, ordinal)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// countingFS counts the syncs of the files Pebble opens through it. While
// hold is set, a sync first sends on held and then waits until hold is
// closed (tests of what does and does not wait for a sync).
type countingFS struct {
	vfs.FS
	syncs atomic.Int64
	hold  atomic.Pointer[chan struct{}]
	held  chan struct{}
}

func (fs *countingFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: fs}, nil
}

// openHeld opens a store on an in-memory file system whose syncs a test
// can hold (holdSyncs); the store is closed when the test ends.
func openHeld(t *testing.T) (*Pebble, *countingFS) {
	t.Helper()
	fs := &countingFS{FS: vfs.NewMem(), held: make(chan struct{}, 64)}
	s, err := Open("/db", withFS(fs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, fs
}

// holdSyncs makes every sync from now on announce itself on held and wait
// until release is called (once).
func (fs *countingFS) holdSyncs() (release func()) {
	ch := make(chan struct{})
	fs.hold.Store(&ch)
	return func() {
		fs.hold.Store(nil)
		close(ch)
	}
}

// synced counts a sync, and waits while hold is set.
func (fs *countingFS) synced() {
	fs.syncs.Add(1)
	if h := fs.hold.Load(); h != nil {
		fs.held <- struct{}{}
		<-*h
	}
}

func (fs *countingFS) Create(name string) (vfs.File, error) { return fs.wrap(fs.FS.Create(name)) }

func (fs *countingFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.Open(name, opts...))
}

func (fs *countingFS) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenReadWrite(name, opts...))
}

func (fs *countingFS) OpenDir(name string) (vfs.File, error) { return fs.wrap(fs.FS.OpenDir(name)) }

func (fs *countingFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	return fs.wrap(fs.FS.ReuseForWrite(oldname, newname))
}

type countingFile struct {
	vfs.File
	fs *countingFS
}

func (f *countingFile) Sync() error {
	f.fs.synced()
	return f.File.Sync()
}

func (f *countingFile) SyncData() error {
	f.fs.synced()
	return f.File.SyncData()
}

func (f *countingFile) SyncTo(length int64) (fullSync bool, err error) {
	fullSync, err = f.File.SyncTo(length)
	if fullSync {
		f.fs.synced()
	}
	return fullSync, err
}
