package provider_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/micropay/micropay/contract"
)

// latencyChain is a latency-injecting wrapper around the real chain seam:
// every request posted through it waits lat of wall time before it reaches
// the chain (the embedded chain, the real contract), as a request to a real
// committee takes ~0.4 s. Reads are not delayed. It counts the settle
// requests that reached the chain.
type latencyChain struct {
	chain.Chain
	lat     time.Duration
	settles atomic.Int64
	// first, if set, is called (in its own goroutine) when the first settle
	// request reaches the chain.
	first func()
}

func (c *latencyChain) Post(ctx context.Context, key *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	t := time.NewTimer(c.lat)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", chain.ErrUnknownOutcome, ctx.Err())
	}
	if req.Entry == contract.FuncSettle.Name || req.Entry == contract.FuncSettleMany.Name {
		if c.settles.Add(1) == 1 && c.first != nil {
			go c.first()
		}
	}
	return c.Chain.Post(ctx, key, req)
}

// BenchmarkRevocationDuringScheduledSettle shows that a revocation arriving
// while a scheduled settlement of MICROPAY_BENCH_WARRANTS other warrants
// (default 2,000) goes out is settled before its deadline, every request
// taking 0.4 s more (latencyChain) and the chain's clock following the wall
// clock, so that the contract itself refuses a settlement that comes too
// late. The revoked warrant has the contract's shortest close timeout (60
// s); the schedule runs at the defaults (batches of 100, one request in
// flight), so the others take about (warrants/100) x 0.4 s and more: at
// 100,000 warrants the revocation would be missed many times over if it
// waited behind them. It reports the wall seconds from the revocation's
// block to its settlement (revoked-s), the schedule's requests still to
// go then (bulk-left) and the chain seconds left before the deadline
// (deadline-left-s); it fails if the revoked warrant was not settled
// exactly, or only once the schedule was done.
//
//	MICROPAY_BENCH_WARRANTS=100000 go test -run '^$' -bench RevocationDuringScheduledSettle -benchtime 1x -timeout 1h ./client/provider/
func BenchmarkRevocationDuringScheduledSettle(b *testing.B) {
	n, err := settletest.Size(2_000)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		r := revocationDuringSchedule(b, n)
		b.ReportMetric(r.revoked.Seconds(), "revoked-s")
		b.ReportMetric(float64(r.bulkLeft), "bulk-left")
		b.ReportMetric(r.deadlineLeft.Seconds(), "deadline-left-s")
	}
}

// revocationRun is what one run of the benchmark saw.
type revocationRun struct {
	revoked      time.Duration // wall time from the revocation to its settlement
	bulkLeft     int64         // the schedule's requests not sent by then
	deadlineLeft time.Duration // chain time left before the deadline then
}

func revocationDuringSchedule(b *testing.B, n int) revocationRun {
	b.StopTimer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Blocks as a node makes them: with Solo's ledger check over every
	// account after every block, 100,000 warrants would take most of an
	// hour to open.
	e, err := solochain.New(solochain.Options{NoLedgerCheck: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	provKey := cryptolib.NewKeyPair()
	prov := chain.AgentOf(provKey)
	if err := e.Fund(ctx, prov, 100_000_000); err != nil {
		b.Fatal(err)
	}
	others, err := settletest.Open(ctx, e, nil, prov, n, 0)
	if err != nil {
		b.Fatal(err)
	}
	rev, err := settletest.Open(ctx, e, nil, prov, 1, contract.MinCloseTimeout)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	lc := &latencyChain{Chain: e, lat: 400 * time.Millisecond}
	clk := clock.NewMock()
	p, err := provider.New(ctx, provider.Config{
		Chain: lc, Feed: e, Key: provKey, Store: st, Clock: clk, Schedule: provider.Every(time.Hour),
		Margin: 10 * time.Second, PollInterval: 5 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []*settletest.Fleet{others, rev} {
		if err := f.Pay(ctx, p, 1); err != nil {
			b.Fatal(err)
		}
	}
	go followWallClock(ctx, e)
	revokedAt := make(chan time.Time, 1)
	lc.first = func() {
		_, err := chain.Revoke(ctx, e, rev.Keys[0], prov, chain.DefaultRevokeDeposit)
		if err != nil {
			b.Error(err)
		}
		revokedAt <- time.Now()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	// Following starts after the start-up's reads of every warrant.
	waitWithin(b, 5*time.Minute, "the provider to follow the chain", p.Following)
	b.StartTimer()
	clk.Add(time.Hour) // the schedule's hour: every warrant is due
	run := awaitRevokedSettled(b, ctx, e, st, p, rev, lc, revokedAt, n)
	b.StopTimer()
	return run
}

// followWallClock moves the chain's clock on with the wall clock until ctx
// is done, as a real chain's blocks carry the time they are made.
func followWallClock(ctx context.Context, e *solochain.Embedded) {
	const step = 100 * time.Millisecond
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = e.AdvanceClock(step)
		}
	}
}

// awaitRevokedSettled waits for the revoked warrant's settlement and
// checks it: landed, paid exactly, while the schedule still had requests
// to send.
func awaitRevokedSettled(b *testing.B, ctx context.Context, e *solochain.Embedded, st store.Store, p *provider.Provider,
	rev *settletest.Fleet, lc *latencyChain, revokedAt chan time.Time, n int) revocationRun {
	var at time.Time
	select {
	case at = <-revokedAt:
	case <-time.After(5 * time.Minute):
		b.Fatal("the schedule sent no request")
	}
	bulk := int64((n + provider.DefaultSettleBatch - 1) / provider.DefaultSettleBatch)
	id := p.WarrantID(rev.Payers[0])
	var run revocationRun
	var s store.Settlement
	waitFor(b, "the revoked warrant's settlement", func() bool {
		var ok bool
		var err error
		s, ok, err = st.LastSettlement(ctx, id)
		if err != nil || !ok || s.State == store.Submitted {
			return false
		}
		// The revoked warrant's own request is among those sent.
		run.revoked, run.bulkLeft = time.Since(at), bulk-(lc.settles.Load()-1)
		return true
	})
	if s.State != store.Landed || s.Paid != rev.Totals[0] {
		b.Fatalf("the revoked warrant: %+v, want landed paying %d", s, rev.Totals[0])
	}
	info, err := e.WarrantInfo(ctx, rev.Payers[0], p.Agent())
	if err != nil {
		b.Fatal(err)
	}
	now, err := e.Now(ctx)
	if err != nil {
		b.Fatal(err)
	}
	run.deadlineLeft = time.Unix(int64(info.Deadline), 0).Sub(now)
	if info.Paid != rev.Totals[0] || !info.Revoked() {
		b.Fatalf("the revoked warrant on chain: %s, want paid %d", info, rev.Totals[0])
	}
	if bulk > 2 && run.bulkLeft <= 0 {
		b.Fatalf("the revoked warrant was settled only once the schedule's %d requests were sent", bulk)
	}
	return run
}
