package devnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/provider/settletest"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/client/waspchain"
	"github.com/micropay/micropay/contract"
)

// BenchmarkDevnetScheduledSettle measures a scheduled settlement (SettleNow
// of every warrant: what a schedule tick does) of one provider's warrants
// on the devnet, the provider talking to it through waspchain over real
// HTTP as `micropay provider serve` does, with the durable store. The fleet
// is MICROPAY_BENCH_WARRANTS warrants (default 300), each with one accepted
// payment not settled yet; each iteration settles one new payment of every
// warrant (accepted before the timer starts). It reports the settle requests
// per run, the devnet's blocks they took and warrants settled per second of
// wall time, at batches of 1,000
// with 64 requests in flight and (up to 2,000 warrants) at the defaults.
//
// The fleet's set-up is not timed and is the slow part at large sizes: the
// warrants are opened straight on the devnet's chain, thousands of requests
// a block (settletest.Open), and every payment is accepted by the provider
// (two chain reads of each new payer over HTTP). For the figure of
// docs/performance.md:
//
//	MICROPAY_BENCH_WARRANTS=100000 go test -run '^$' -bench DevnetScheduledSettle -benchtime 1x -timeout 2h ./client/devnet/
func BenchmarkDevnetScheduledSettle(b *testing.B) {
	n, err := settletest.Size(300)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	bf := newBenchFleet(b, n)
	configs := []struct{ batch, inFlight int }{{contract.MaxSettlementsPerRequest, 64}, {provider.DefaultSettleBatch, 1}}
	if n > 2_000 {
		configs = configs[:1] // batches of 100 one after another: a block each, far too many at this size
	}
	ordinal := uint64(0)
	for _, c := range configs {
		b.Run(fmt.Sprintf("warrants-%d/batch-%d/inflight-%d", n, c.batch, c.inFlight), func(b *testing.B) {
			p := bf.provider(b, c.batch, c.inFlight)
			var wall time.Duration
			var requests, blocks int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ordinal++
				paying := time.Now()
				if err := bf.fleet.Pay(ctx, p, ordinal); err != nil {
					b.Fatal(err)
				}
				b.Logf("set-up: %d payments accepted in %s", n, time.Since(paying).Round(time.Millisecond))
				before, firstBlock := bf.chain.requests.Load(), bf.block(b)
				start := time.Now()
				b.StartTimer()
				got, err := p.SettleNow(ctx, nil)
				b.StopTimer()
				wall += time.Since(start)
				if err != nil || len(got) != n {
					b.Fatalf("settled %d of %d: %v", len(got), n, err)
				}
				requests += bf.chain.requests.Load() - before
				blocks += int64(bf.block(b) - firstBlock)
				if err := bf.fleet.CheckPaid(ctx, bf.d.e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(float64(blocks)/float64(b.N), "blocks/op")
			b.ReportMetric(float64(n*b.N)/wall.Seconds(), "warrants/s")
		})
	}
}

// benchFleet is a devnet served over HTTP, a provider key and a fleet of
// warrants for it.
type benchFleet struct {
	ctx     context.Context
	d       *Devnet
	chain   *countingSettles
	st      store.Store
	provKey *cryptolib.KeyPair
	fleet   *settletest.Fleet
}

// countingSettles counts the settle and settleMany requests posted
// through it.
type countingSettles struct {
	chain.Chain
	requests atomic.Int64
}

func (c *countingSettles) Post(ctx context.Context, key *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	if req.Entry == contract.FuncSettle.Name || req.Entry == contract.FuncSettleMany.Name {
		c.requests.Add(1)
	}
	return c.Chain.Post(ctx, key, req)
}

func newBenchFleet(b *testing.B, n int) *benchFleet {
	ctx := context.Background()
	d, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	b.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_ = d.Shutdown(sctx)
		srv.Close()
	})
	c, err := Connect(ctx, waspchain.Config{URL: srv.URL, HTTPClient: srv.Client(), ReceiptTimeout: 30 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	provKey := cryptolib.NewKeyPair()
	if err := d.e.Fund(ctx, chain.AgentOf(provKey), 100_000_000); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	fleet, err := settletest.Open(ctx, d.e, &d.mu, chain.AgentOf(provKey), n, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("set-up: %d warrants opened in %s", n, time.Since(start).Round(time.Millisecond))
	return &benchFleet{ctx: ctx, d: d, chain: &countingSettles{Chain: c}, st: st, provKey: provKey, fleet: fleet}
}

// block returns the index of the devnet's latest block.
func (bf *benchFleet) block(b *testing.B) uint32 {
	var i uint32
	if err := solochain.Do(func() { i = bf.d.e.Chain.LatestBlockIndex() }); err != nil {
		b.Fatal(err)
	}
	return i
}

// provider starts a provider of the fleet on the store, as serve would
// with --settle-batch batch --settle-in-flight inFlight.
func (bf *benchFleet) provider(b *testing.B, batch, inFlight int) *provider.Provider {
	p, err := provider.New(bf.ctx, provider.Config{
		Chain: bf.chain, Key: bf.provKey, Store: bf.st, Clock: clock.NewMock(), SettleBatch: batch, SettleInFlight: inFlight,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	return p
}
