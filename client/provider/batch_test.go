package provider_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// recordingChain wraps the real chain seam and records the settle and
// settleMany requests the provider sends (entry and payers, in order). Its
// optional hooks run before a request is passed on (tamper may change it)
// and after it landed (lose turns the answer into an unknown outcome).
type recordingChain struct {
	chain.Chain
	mu       sync.Mutex
	requests []sentRequest
	tamper   func(n int, req *chain.Request)
	after    func(n int)
	lose     func(n int) bool
}

type sentRequest struct {
	entry  string
	payers []isc.AgentID
}

func (c *recordingChain) Post(ctx context.Context, key *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	if req.Entry != contract.FuncSettle.Name && req.Entry != contract.FuncSettleMany.Name {
		return c.Chain.Post(ctx, key, req)
	}
	c.mu.Lock()
	n := len(c.requests)
	c.requests = append(c.requests, sentRequest{entry: req.Entry, payers: requestPayers(req)})
	c.mu.Unlock()
	if c.tamper != nil {
		c.tamper(n, &req)
	}
	rec, err := c.Chain.Post(ctx, key, req)
	if c.after != nil {
		c.after(n)
	}
	if c.lose != nil && c.lose(n) {
		return nil, fmt.Errorf("%w: injected: reply lost", chain.ErrUnknownOutcome)
	}
	return rec, err
}

// sentFor reports whether a request from the n-th on (0-based) holds payer.
func (c *recordingChain) sentFor(payer isc.AgentID, n int) bool {
	sent := c.sent()
	for _, r := range sent[min(n, len(sent)):] {
		for _, p := range r.payers {
			if p.Equals(payer) {
				return true
			}
		}
	}
	return false
}

func (c *recordingChain) sent() []sentRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sentRequest(nil), c.requests...)
}

func requestPayers(req chain.Request) []isc.AgentID {
	if req.Entry == contract.FuncSettle.Name {
		a, err := contract.AgentIDFromBytes(req.Params[contract.ParamPayer])
		if err != nil {
			return nil
		}
		return []isc.AgentID{a}
	}
	arr := collections.NewArrayReadOnly(req.Params, contract.ParamSettlements)
	out := make([]isc.AgentID, 0, arr.Len())
	for i := uint32(0); i < arr.Len(); i++ {
		s, err := contract.DecodeSettlement(arr.GetAt(i))
		if err == nil {
			out = append(out, s.Payer)
		}
	}
	return out
}

// fleet is n payers with a warrant each for one provider, each with one
// accepted payment of a total of its own, not settled yet.
type fleet struct {
	ctx    context.Context
	c      chain.Chain
	prov   isc.AgentID
	p      *provider.Provider
	st     store.Store
	keys   []*cryptolib.KeyPair
	payers []isc.AgentID
	totals []uint64
}

// funder credits an L2 account: the embedded chain, a devnet's faucet.
type funder interface {
	Fund(ctx context.Context, agent isc.AgentID, amount uint64) error
}

// newFleet makes a fleet of n payers for the harness's provider.
func newFleet(t testing.TB, h *harness, n int) *fleet {
	f := &fleet{ctx: h.ctx, c: h.chain, prov: h.prov, p: h.p, st: h.store}
	f.open(t, h.chain, n)
	return f
}

// open funds n payers through fund, opens their warrants and has each pay.
func (f *fleet) open(t testing.TB, fund funder, n int) {
	for i := 0; i < n; i++ {
		key := cryptolib.NewKeyPair()
		a := chain.AgentOf(key)
		require.NoError(t, fund.Fund(f.ctx, a, 2_000_000))
		_, err := chain.AddWarrant(f.ctx, f.c, key, chain.AddWarrantRequest{Provider: f.prov, Amount: 1_000_000, RegisterKey: true})
		require.NoError(t, err)
		f.keys, f.payers, f.totals = append(f.keys, key), append(f.payers, a), append(f.totals, 0)
	}
	f.pay(t, 1)
}

// pay has every payer pay its next piece (ordinal), a price of its own.
func (f *fleet) pay(t testing.TB, ordinal uint64) {
	for i, key := range f.keys {
		price := uint64(100 + i)
		f.totals[i] += price
		w := chain.PaymentWarrant(f.c, f.payers[i], f.prov)
		p := payment.Sign(key.GetPrivateKey().AsStdKey(), w, 1, ordinal, f.totals[i])
		_, err := f.p.Accept(f.ctx, provider.Payment{Payer: f.payers[i], Payment: p, Price: price, Resource: "/piece"})
		require.NoError(t, err)
	}
}

// requireSettledExactly checks that the chain paid each warrant its total
// and that the provider recorded that settlement as landed with that pay.
func (f *fleet) requireSettledExactly(t *testing.T) {
	for i, a := range f.payers {
		info, err := f.c.WarrantInfo(f.ctx, a, f.prov)
		require.NoError(t, err)
		require.Equal(t, f.totals[i], info.Paid, "warrant %d paid on chain", i)
		s, ok, err := f.st.LastSettlement(f.ctx, f.p.WarrantID(a))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, store.Landed, s.State, "warrant %d: %s", i, s.Error)
		require.Equal(t, f.totals[i], s.Paid, "warrant %d recorded paid", i)
	}
}

// A scheduled settlement of 300 due warrants with batches of 100 is three
// settleMany requests, and pays each warrant exactly its newest total.
func TestScheduledSettleGoesOutInBatches(t *testing.T) {
	rc := &recordingChain{}
	h := newHarness(t, func(c *provider.Config) {
		rc.Chain, c.Chain = c.Chain, rc
		c.Schedule, c.SettleBatch = provider.Every(time.Hour), 100
	})
	f := newFleet(t, h, 300)
	h.p.RunOnce(h.ctx) // start: nothing due
	require.Empty(t, rc.sent())
	before := h.balance(h.prov)

	h.clock.Add(time.Hour)
	h.p.RunOnce(h.ctx)
	sent := rc.sent()
	require.Equal(t, []string{contract.FuncSettleMany.Name, contract.FuncSettleMany.Name, contract.FuncSettleMany.Name},
		entries(sent), "ceil(300/100) requests")
	for _, r := range sent {
		require.Len(t, r.payers, 100)
	}
	f.requireSettledExactly(t)
	require.Greater(t, h.balance(h.prov), before)

	got, err := h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.Empty(t, got, "nothing left to settle")
	require.Len(t, rc.sent(), 3, "and nothing sent")
}

// An item the chain refuses fails alone, recorded as a refused settle is,
// and goes out again next time; the others in its request land.
func TestSettleManyRefusedItemFailsAlone(t *testing.T) {
	rc := &recordingChain{}
	h := newHarness(t, func(c *provider.Config) { rc.Chain, c.Chain = c.Chain, rc })
	f := newFleet(t, h, 5)
	var bad isc.AgentID
	rc.tamper = func(n int, req *chain.Request) {
		if n != 0 {
			return
		}
		// Flip a signature bit of the third item: the contract refuses it.
		params := req.Params.Clone()
		arr := collections.NewArray(params, contract.ParamSettlements)
		s, err := contract.DecodeSettlement(arr.GetAt(2))
		require.NoError(t, err)
		bad = s.Payer
		b := s.Payment.Bytes()
		b[len(b)-1] ^= 1
		s.Payment, err = payment.Decode(b)
		require.NoError(t, err)
		arr.SetAt(2, contract.EncodeSettlement(s))
		req.Params = params
	}
	got, err := h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err, "a refusal is a definite outcome")
	require.Len(t, got, 5)
	require.Len(t, rc.sent(), 1)
	for _, s := range got {
		if s.Warrant == h.p.WarrantID(bad) {
			require.Equal(t, store.Failed, s.State)
			require.Contains(t, s.Error, "settleMany: item 3 refused")
			require.Zero(t, s.Paid)
			continue
		}
		require.Equal(t, store.Landed, s.State)
	}
	info, err := h.chain.WarrantInfo(h.ctx, bad, h.prov)
	require.NoError(t, err)
	require.Zero(t, info.Paid, "the refused warrant is untouched")

	got, err = h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.Len(t, got, 1, "only the refused warrant is still pending")
	require.Equal(t, h.p.WarrantID(bad), got[0].Warrant)
	require.Equal(t, contract.FuncSettle.Name, rc.sent()[1].entry, "a lone warrant goes in a settle")
	f.requireSettledExactly(t)
}

// A settleMany that lands but whose answer is lost is reconciled warrant by
// warrant from the chain: every warrant recorded landed with its pay, and
// nothing sent twice.
func TestSettleManyUnknownOutcomeReconciled(t *testing.T) {
	rc := &recordingChain{}
	h := newHarness(t, func(c *provider.Config) { rc.Chain, c.Chain = c.Chain, rc })
	f := newFleet(t, h, 4)
	rc.lose = func(n int) bool { return n == 0 }
	got, err := h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err, "reconciled, not an error")
	require.Len(t, got, 4)
	f.requireSettledExactly(t)
	got, err = h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Len(t, rc.sent(), 1, "no second request")
}

// settledExactly is requireSettledExactly as a condition to wait for.
func (f *fleet) settledExactly() bool {
	for i, a := range f.payers {
		info, err := f.c.WarrantInfo(f.ctx, a, f.prov)
		if err != nil || info.Paid != f.totals[i] {
			return false
		}
		s, ok, err := f.st.LastSettlement(f.ctx, f.p.WarrantID(a))
		if err != nil || !ok || s.State != store.Landed || s.Paid != f.totals[i] {
			return false
		}
	}
	return true
}

// A warrant revoked while a schedule's batches go out is settled in a
// request of its own, sent while the first batch is still in flight and
// before the batches still to go, although it comes last in the schedule's
// order: it never waits for a batch to come back.
func TestRevokedWarrantIsNotStuckBehindScheduledBatches(t *testing.T) {
	rc := &recordingChain{}
	h := newHarness(t, func(c *provider.Config) {
		rc.Chain, c.Chain = c.Chain, rc
		c.Feed = rc.Chain.(chain.Feed)
		c.Schedule, c.SettleBatch = provider.Every(time.Hour), 100
	})
	f := newFleet(t, h, 300)
	last := 0 // the warrant the schedule sends last
	for i, a := range f.payers {
		if string(a.Bytes()) > string(f.payers[last].Bytes()) {
			last = i
		}
	}
	revoked := make(chan error, 1)
	rc.after = func(n int) {
		if n != 0 {
			return
		}
		// While the first batch is in flight the last warrant's payer
		// revokes; the event feed hands it to the settler, which sends it
		// at once, the first batch still in flight.
		_, err := chain.Revoke(h.ctx, h.chain, f.keys[last], h.prov, chain.DefaultRevokeDeposit)
		for start := time.Now(); err == nil && !rc.sentFor(f.payers[last], 1); time.Sleep(time.Millisecond) {
			if time.Since(start) > 20*time.Second {
				err = fmt.Errorf("the revocation never reached the settler")
			}
		}
		revoked <- err
	}
	h.run()
	require.Eventually(t, h.p.Following, 10*time.Second, time.Millisecond)
	waitFor(t, "the schedule to start", func() bool {
		if len(rc.sent()) > 0 {
			return true
		}
		h.clock.Add(10 * time.Minute)
		return false
	})
	require.NoError(t, <-revoked)
	waitFor(t, "every warrant settled", f.settledExactly)

	sent := rc.sent()
	require.Equal(t, []string{contract.FuncSettleMany.Name, contract.FuncSettle.Name, contract.FuncSettleMany.Name, contract.FuncSettleMany.Name},
		entries(sent), "the first batch, the revoked warrant's own settle, the other batches")
	require.Len(t, sent[0].payers, 100)
	require.True(t, sent[1].payers[0].Equals(f.payers[last]))
	require.Len(t, sent[2].payers, 100)
	require.Len(t, sent[3].payers, 99, "the last batch no longer holds the revoked warrant")
}

func entries(rs []sentRequest) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.entry
	}
	return out
}

// With SettleInFlight 3 the three batches of a settlement are in flight at
// once (each takes the provider's next nonce), and every warrant is still
// paid exactly.
func TestSettleBatchesGoOutTogether(t *testing.T) {
	rc := &recordingChain{}
	h := newHarness(t, func(c *provider.Config) {
		rc.Chain, c.Chain = c.Chain, rc
		c.SettleBatch, c.SettleInFlight = 20, 3
	})
	f := newFleet(t, h, 60)
	b := newBarrier(3)
	rc.tamper = b.wait
	got, err := h.p.SettleNow(h.ctx, nil)
	require.NoError(t, err)
	require.Len(t, got, 60)
	require.Zero(t, b.timedOut(), "requests waited in vain for the others to be in flight")
	require.Equal(t, []string{contract.FuncSettleMany.Name, contract.FuncSettleMany.Name, contract.FuncSettleMany.Name}, entries(rc.sent()))
	f.requireSettledExactly(t)
}

// barrier holds each request until n are in flight together, or 5 s.
type barrier struct {
	mu       sync.Mutex
	n        int
	arrived  int
	alone    int // requests that gave up waiting
	together chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, together: make(chan struct{})} }

func (b *barrier) wait(int, *chain.Request) {
	b.mu.Lock()
	if b.arrived++; b.arrived == b.n {
		close(b.together)
	}
	b.mu.Unlock()
	select {
	case <-b.together:
	case <-time.After(5 * time.Second):
		b.mu.Lock()
		b.alone++
		b.mu.Unlock()
	}
}

func (b *barrier) timedOut() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.alone
}

// A run that died with many settlements recorded as submitted and never
// sent is resumed in batches: one settleMany for all of them, each warrant
// then paid exactly.
func TestResumeSettlesInBatches(t *testing.T) {
	rc := &recordingChain{}
	h := newHarness(t, func(c *provider.Config) { rc.Chain, c.Chain = c.Chain, rc })
	f := newFleet(t, h, 5)
	for i, a := range f.payers {
		require.NoError(t, h.store.SaveSettlement(h.ctx, store.Settlement{
			Warrant: h.p.WarrantID(a), Epoch: 1, Ordinal: 1, Total: f.totals[i], State: store.Submitted, Attempt: 1,
		}))
	}
	h.start(func(c *provider.Config) { c.Chain = rc }) // restart on the same store
	f.p = h.p
	h.p.RunOnce(h.ctx)
	sent := rc.sent()
	require.Equal(t, []string{contract.FuncSettleMany.Name}, entries(sent))
	require.Len(t, sent[0].payers, 5)
	f.requireSettledExactly(t)
}

// countingChain counts the warrant reads made through it.
type countingChain struct {
	chain.Chain
	mu    sync.Mutex
	reads int
}

func (c *countingChain) WarrantInfo(ctx context.Context, payer, provider isc.AgentID) (chain.WarrantInfo, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.Chain.WarrantInfo(ctx, payer, provider)
}

func (c *countingChain) readCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// countingStore counts the settlement writes made through it: one at a
// time and in batches.
type countingStore struct {
	store.Store
	mu            sync.Mutex
	single, batch int
}

func (s *countingStore) SaveSettlement(ctx context.Context, st store.Settlement) error {
	s.mu.Lock()
	s.single++
	s.mu.Unlock()
	return s.Store.SaveSettlement(ctx, st)
}

func (s *countingStore) SaveSettlements(ctx context.Context, ss []store.Settlement) error {
	s.mu.Lock()
	s.batch++
	s.mu.Unlock()
	return s.Store.(store.SettlementSaver).SaveSettlements(ctx, ss)
}

func (s *countingStore) writes() (single, batch int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.single, s.batch
}

// A scheduled settlement of warrants whose state the provider knows reads
// none of them from the chain, before or after the request, and records
// each request's attempts and outcomes in two writes: the outcome of each
// warrant comes from the receipt's events, and a second settlement, whose
// cached state those events updated, is exact too.
func TestScheduledSettleReadsNoWarrantAndWritesTwice(t *testing.T) {
	cc := &countingChain{}
	cs := &countingStore{}
	h := newHarness(t, func(c *provider.Config) {
		cc.Chain, c.Chain = c.Chain, cc
		cs.Store, c.Store = c.Store, cs
		c.SettleBatch = 20
	})
	f := newFleet(t, h, 40)
	f.st = cs
	for round := 1; round <= 2; round++ {
		reads := cc.readCount()
		single, batch := cs.writes()
		got, err := h.p.SettleNow(h.ctx, nil)
		require.NoError(t, err)
		require.Len(t, got, 40)
		require.Equal(t, reads, cc.readCount(), "warrant reads of round %d", round)
		s2, b2 := cs.writes()
		require.Equal(t, single, s2, "one-record writes")
		require.Equal(t, batch+4, b2, "two writes per request, two requests")
		if round == 1 {
			f.requireSettledExactly(t)
			f.pay(t, 2)
			continue
		}
		for i, a := range f.payers {
			info, err := f.c.WarrantInfo(f.ctx, a, f.prov)
			require.NoError(t, err)
			require.Equal(t, f.totals[i], info.Paid, "warrant %d paid on chain", i)
			s, _, err := cs.LastSettlement(h.ctx, h.p.WarrantID(a))
			require.NoError(t, err)
			require.Equal(t, store.Landed, s.State)
			require.EqualValues(t, 100+i, s.Paid, "warrant %d: the second payment's price", i)
		}
	}
}
