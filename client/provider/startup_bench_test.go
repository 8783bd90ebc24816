package provider_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	iotago "github.com/iotaledger/iota.go/v3"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

// benchWarrantsDefault is how many warrants the start-up and memory
// benchmarks put in the store unless MICROPAY_BENCH_WARRANTS says more:
// the goal is stated for 100,000 (MICROPAY_BENCH_WARRANTS=100000, about a
// minute), the default keeps make bench short.
const benchWarrantsDefault = 10_000

// startupRig is a provider's durable store holding one receipt for each of
// n warrants, as a provider leaves it when it stops, and the chain it
// starts on. The warrants' payers have no warrant on the chain (opening
// 100,000 on the embedded chain would take hours): the start-up's
// cross-check reads each one's state all the same.
type startupRig struct {
	ctx     context.Context
	e       *solochain.Embedded
	provKey *cryptolib.KeyPair
	dir     string
	n       int
}

func newStartupRig(b *testing.B) *startupRig {
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := &startupRig{ctx: ctx, e: e, provKey: cryptolib.NewKeyPair(), dir: b.TempDir(), n: envInt(b, "MICROPAY_BENCH_WARRANTS", benchWarrantsDefault)}
	st, err := store.Open(r.dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	prov := string(chain.AgentOf(r.provKey).Bytes())
	const writers = 256 // synced appends share the store's syncs
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < r.n; i += writers {
				if err := st.Append(ctx, startupReceipt(i, prov)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return r
}

// startupReceipt is the one served receipt of the i-th warrant.
func startupReceipt(i int, prov string) store.Receipt {
	addr := iotago.Ed25519Address(sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))))
	var sig [64]byte
	copy(sig[:], addr[:])
	return store.Receipt{
		Warrant:  store.WarrantID{Payer: string(isc.NewAgentID(&addr).Bytes()), Provider: prov},
		Payment:  payment.Payment{Epoch: 1, Ordinal: 3, Total: 30, Signature: sig},
		Price:    10,
		Resource: "/piece",
		// A fixed time: the receipts are alike but for their warrant.
		AcceptedAt: time.Unix(1_700_000_000, 0),
	}
}

// start opens the store and the provider over it, as a provider process
// starts.
func (r *startupRig) start(b *testing.B) (*provider.Provider, *store.Pebble) {
	st, err := store.Open(r.dir)
	if err != nil {
		b.Fatal(err)
	}
	p, err := provider.New(r.ctx, provider.Config{
		Chain: r.e, Key: r.provKey, Store: st,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	return p, st
}

// BenchmarkStartup measures a provider's start with a store of
// MICROPAY_BENCH_WARRANTS warrants (default 10,000): the store opened,
// the warrants loaded and cross-checked with the chain (provider.New).
// The goal is 100,000 warrants in at most 5 s.
func BenchmarkStartup(b *testing.B) {
	r := newStartupRig(b)
	defer r.e.Close()
	b.ResetTimer()
	for range b.N {
		p, st := r.start(b)
		if got := len(p.Warrants()); got != r.n {
			b.Fatalf("the provider loaded %d warrants, want %d", got, r.n)
		}
		_ = st.Close()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/startup")
	b.ReportMetric(float64(r.n), "warrants")
}

// BenchmarkWarrantMemory measures the heap a provider keeps per idle
// warrant: loaded from the store at start, no payment since. The goal is
// at most 1 KiB.
func BenchmarkWarrantMemory(b *testing.B) {
	r := newStartupRig(b)
	defer r.e.Close()
	b.ResetTimer()
	var perWarrant float64
	for range b.N {
		st, err := store.Open(r.dir)
		if err != nil {
			b.Fatal(err)
		}
		before := heapInUse()
		p, err := provider.New(r.ctx, provider.Config{
			Chain: r.e, Key: r.provKey, Store: st,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			b.Fatal(err)
		}
		perWarrant = float64(heapInUse()-before) / float64(r.n)
		runtime.KeepAlive(p)
		_ = st.Close()
	}
	b.ReportMetric(perWarrant, "B/warrant")
	b.ReportMetric(float64(r.n), "warrants")
}

// heapInUse is the heap's live bytes after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
