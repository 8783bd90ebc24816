package provider_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// harness is a provider on the embedded chain with one funded payer whose
// key is registered and whose warrant holds warrantFunds.
type harness struct {
	t        *testing.T
	ctx      context.Context
	chain    *solochain.Embedded
	seam     chain.Chain // what the provider talks to (may be a faultyChain)
	payerKey *cryptolib.KeyPair
	provKey  *cryptolib.KeyPair
	payer    isc.AgentID
	prov     isc.AgentID
	store    store.Store
	clock    *clock.Mock
	p        *provider.Provider
	metrics  *provider.Metrics

	mu           sync.Mutex
	ordinal      uint64
	total        uint64
	epoch        uint32
	runCancel    context.CancelFunc
	runDone      chan struct{}
	warrantFunds uint64
}

const warrantFunds = 10_000_000

func newHarness(t *testing.T, configure ...func(*provider.Config)) *harness {
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	h := &harness{
		t: t, ctx: ctx, chain: e, seam: e,
		payerKey: cryptolib.NewKeyPair(), provKey: cryptolib.NewKeyPair(),
		store: store.NewMemory(), clock: clock.NewMock(), epoch: 1, warrantFunds: warrantFunds,
	}
	h.payer, h.prov = chain.AgentOf(h.payerKey), chain.AgentOf(h.provKey)
	require.NoError(t, e.Fund(ctx, h.payer, 50_000_000))
	require.NoError(t, e.Fund(ctx, h.prov, 1_000_000))
	_, err = chain.AddWarrant(ctx, e, h.payerKey, chain.AddWarrantRequest{Provider: h.prov, Amount: warrantFunds, RegisterKey: true})
	require.NoError(t, err)
	h.start(configure...)
	return h
}

// start creates the provider (again, after stop) over h.store and h.seam.
func (h *harness) start(configure ...func(*provider.Config)) {
	cfg := provider.Config{
		Chain: h.seam, Key: h.provKey, Store: h.store, Clock: h.clock,
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: 30 * time.Second, Margin: 10 * time.Minute,
	}
	for _, c := range configure {
		c(&cfg)
	}
	h.metrics = cfg.Metrics
	p, err := provider.New(h.ctx, cfg)
	require.NoError(h.t, err)
	h.p = p
}

// run starts the settler; it stops at the end of the test.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(h.ctx)
	h.runCancel, h.runDone = cancel, make(chan struct{})
	go func() {
		defer close(h.runDone)
		_ = h.p.Run(ctx)
	}()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.runCancel != nil {
		h.runCancel()
		<-h.runDone
		h.runCancel = nil
	}
}

// next signs the payer's next payment for price more.
func (h *harness) next(price uint64) payment.Payment {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ordinal++
	h.total += price
	return h.sign(h.epoch, h.ordinal, h.total)
}

func (h *harness) sign(epoch uint32, ordinal, total uint64) payment.Payment {
	return payment.Sign(h.payerKey.GetPrivateKey().AsStdKey(), chain.PaymentWarrant(h.chain, h.payer, h.prov), epoch, ordinal, total)
}

func (h *harness) accept(p payment.Payment, price uint64) (*provider.Accepted, error) {
	return h.p.Accept(h.ctx, provider.Payment{Payer: h.payer, Payment: p, Price: price, Resource: "/piece"})
}

func (h *harness) balance(a isc.AgentID) uint64 {
	b, err := h.chain.L2Balance(h.ctx, a)
	require.NoError(h.t, err)
	return b
}

func (h *harness) info() chain.WarrantInfo {
	info, err := h.chain.WarrantInfo(h.ctx, h.payer, h.prov)
	require.NoError(h.t, err)
	return info
}

func (h *harness) newest() (store.Receipt, bool) {
	r, ok, err := h.store.Newest(h.ctx, h.p.WarrantID(h.payer))
	require.NoError(h.t, err)
	return r, ok
}

// waitFor waits for background work (the settler goroutine) to make cond
// true; it never waits for time to pass on a clock.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 20*time.Second, what, cond)
}

// waitWithin is waitFor with a bound of its own (large benchmarks).
func waitWithin(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// faultyChain is a fault-injecting wrapper around the real chain seam: the
// next failSettles settle requests fail with an unknown outcome, either
// before reaching the chain or (landThenLose) after it processed them.
type faultyChain struct {
	chain.Chain
	mu           sync.Mutex
	failSettles  int
	landThenLose bool
	settles      int    // settle requests that reached the chain
	fees         uint64 // gas fees of the requests that reached the chain
}

func (f *faultyChain) Post(ctx context.Context, key *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	f.mu.Lock()
	fail := req.Entry == contract.FuncSettle.Name && f.failSettles > 0
	if fail {
		f.failSettles--
	}
	land := !fail || f.landThenLose
	if req.Entry == contract.FuncSettle.Name && land {
		f.settles++
	}
	f.mu.Unlock()
	if fail && !f.landThenLose {
		return nil, fmt.Errorf("%w: injected: connection reset", chain.ErrUnknownOutcome)
	}
	rec, err := f.Chain.Post(ctx, key, req)
	if rec != nil {
		f.mu.Lock()
		f.fees += rec.GasFee
		f.mu.Unlock()
	}
	if fail {
		return nil, fmt.Errorf("%w: injected: reply lost", chain.ErrUnknownOutcome)
	}
	return rec, err
}
