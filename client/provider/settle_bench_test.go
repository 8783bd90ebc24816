package provider_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
)

// BenchmarkScheduledSettle measures a settlement of every due warrant (what
// a schedule tick does; SettleNow(nil) takes the same path) of 1,000
// warrants on the embedded chain with the durable store, at batch sizes 1
// (a settle per warrant, as before settleMany), 100 (the default; also with
// 4 requests in flight) and 1,000. Each iteration settles one new payment of every warrant; the
// payments are accepted before the timer starts. It reports requests per
// settle run and warrants settled per second of wall time. Run it with
// -benchtime=1x: the fleet's set-up (two blocks per warrant) is the slow part.
func BenchmarkScheduledSettle(b *testing.B) {
	const warrants = 1_000
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rc := &recordingChain{Chain: e}
	provKey := cryptolib.NewKeyPair()
	if err := e.Fund(ctx, chain.AgentOf(provKey), 10_000_000); err != nil {
		b.Fatal(err)
	}
	h := &harness{ctx: ctx, chain: e, seam: rc, provKey: provKey, prov: chain.AgentOf(provKey), store: st, clock: clock.NewMock()}
	newProvider := func(batch, inFlight int) {
		p, err := provider.New(ctx, provider.Config{
			Chain: rc, Key: provKey, Store: st, Clock: h.clock, SettleBatch: batch, SettleInFlight: inFlight,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			b.Fatal(err)
		}
		h.p = p
	}
	newProvider(0, 0)
	f := newFleet(b, h, warrants)
	if _, err := h.p.SettleNow(ctx, nil); err != nil {
		b.Fatal(err)
	}
	ordinal := uint64(1)
	for _, c := range []struct{ batch, inFlight int }{{1, 1}, {100, 1}, {100, 4}, {1_000, 1}} {
		b.Run(fmt.Sprintf("warrants-%d/batch-%d/inflight-%d", warrants, c.batch, c.inFlight), func(b *testing.B) {
			newProvider(c.batch, c.inFlight)
			f.p = h.p
			var requests int
			var wall time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ordinal++
				f.pay(b, ordinal)
				before := len(rc.sent())
				start := time.Now()
				b.StartTimer()
				got, err := h.p.SettleNow(ctx, nil)
				b.StopTimer()
				wall += time.Since(start)
				if err != nil || len(got) != warrants {
					b.Fatalf("settled %d of %d: %v", len(got), warrants, err)
				}
				requests += len(rc.sent()) - before
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(float64(warrants*b.N)/wall.Seconds(), "warrants/s")
		})
	}
}
