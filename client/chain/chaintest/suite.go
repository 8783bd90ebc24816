// Package chaintest is the conformance suite every implementation of
// chain.Chain runs: the embedded Solo chain and the Wasp node client alike.
package chaintest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// Harness is a chain under test plus what the suite needs to set up.
type Harness interface {
	chain.Chain
	// Fund credits base tokens to an L2 account (a faucet).
	Fund(ctx context.Context, agent isc.AgentID, amount uint64) error
}

// Clock is implemented by harnesses whose time the test can move; cases
// that need it are skipped otherwise.
type Clock interface {
	// AdvanceClock moves chain time forward by d and waits until requests
	// that became due have been processed.
	AdvanceClock(d time.Duration) error
}

const funds = 50_000_000

// Run runs the suite; newHarness returns a fresh chain for each case.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	cases := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"ClockAndID", testClockAndID},
		{"FundAndBalance", testFundAndBalance},
		{"WarrantLifecycle", testWarrantLifecycle},
		{"RejectedIsDefinite", testRejected},
		{"ConcurrentPostsSameSigner", testConcurrentPosts},
		{"ScheduledCloseAfterDeadline", testScheduledClose},
		{"FeedFollowsBlocks", testFeed},
		{"SettleManyPerItemOutcomes", testSettleMany},
		{"ReadWarrantsIsWarrantInfoForMany", testReadWarrants},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newHarness(t)) })
	}
}

type party struct {
	key   *cryptolib.KeyPair
	agent isc.AgentID
}

func newParty(t *testing.T, h Harness) party {
	key := cryptolib.NewKeyPair()
	p := party{key: key, agent: chain.AgentOf(key)}
	require.NoError(t, h.Fund(context.Background(), p.agent, funds))
	return p
}

func balance(t *testing.T, h Harness, a isc.AgentID) uint64 {
	b, err := h.L2Balance(context.Background(), a)
	require.NoError(t, err)
	return b
}

func topics(rec *chain.Receipt) []string {
	var out []string
	for _, ev := range rec.Events {
		out = append(out, ev.Topic)
	}
	return out
}

func testClockAndID(t *testing.T, h Harness) {
	require.NotEqual(t, isc.ChainID{}, h.ID())
	ctx := context.Background()
	t1, err := h.Now(ctx)
	require.NoError(t, err)
	require.False(t, t1.IsZero())
	t2, err := h.Now(ctx)
	require.NoError(t, err)
	require.False(t, t2.Before(t1), "chain time must not go backwards")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = h.Now(cancelled)
	require.ErrorIs(t, err, context.Canceled)
}

func testFundAndBalance(t *testing.T, h Harness) {
	p := newParty(t, h)
	require.Equal(t, uint64(funds), balance(t, h, p.agent))
	require.Zero(t, balance(t, h, chain.AgentOf(cryptolib.NewKeyPair())))
}

func testWarrantLifecycle(t *testing.T, h Harness) {
	ctx := context.Background()
	payer, provider := newParty(t, h), newParty(t, h)

	info, err := h.WarrantInfo(ctx, payer.agent, provider.agent)
	require.NoError(t, err)
	require.Equal(t, chain.WarrantInfo{Epoch: 1}, info)
	pk, err := h.PublicKey(ctx, payer.agent)
	require.NoError(t, err)
	require.Nil(t, pk)

	rec, err := chain.AddWarrant(ctx, h, payer.key, chain.AddWarrantRequest{Provider: provider.agent, Amount: 2_000_000, RegisterKey: true, CloseTimeout: 600})
	require.NoError(t, err)
	require.Contains(t, topics(rec), contract.TopicWarrantAdded)
	require.Equal(t, uint64(funds-2_000_000)-rec.GasFee, balance(t, h, payer.agent))
	info, err = h.WarrantInfo(ctx, payer.agent, provider.agent)
	require.NoError(t, err)
	require.Equal(t, chain.WarrantInfo{Exists: true, Epoch: 1, Balance: 2_000_000, CloseTimeout: 600}, info)
	pk, err = h.PublicKey(ctx, payer.agent)
	require.NoError(t, err)
	require.Equal(t, payer.key.GetPublicKey().AsBytes(), pk)

	w := chain.PaymentWarrant(h, payer.agent, provider.agent)
	p := payment.Sign(payer.key.GetPrivateKey().AsStdKey(), w, 1, 3, 750_000)
	before := balance(t, h, provider.agent)
	rec, err = chain.Settle(ctx, h, provider.key, payer.agent, p)
	require.NoError(t, err)
	require.Equal(t, before+750_000-rec.GasFee, balance(t, h, provider.agent))
	require.Contains(t, topics(rec), contract.TopicSettled)
	info, err = h.WarrantInfo(ctx, payer.agent, provider.agent)
	require.NoError(t, err)
	require.EqualValues(t, 3, info.LastOrdinal)
	require.EqualValues(t, 750_000, info.Paid)

	now, err := h.Now(ctx)
	require.NoError(t, err)
	_, err = chain.Revoke(ctx, h, payer.key, provider.agent, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	info, err = h.WarrantInfo(ctx, payer.agent, provider.agent)
	require.NoError(t, err)
	require.True(t, info.Revoked())
	require.InDelta(t, now.Unix()+600, int64(info.Deadline), 5)

	payerBefore := balance(t, h, payer.agent)
	rec, err = chain.Close(ctx, h, provider.key, payer.agent, provider.agent,
		payment.Sign(payer.key.GetPrivateKey().AsStdKey(), w, 1, 4, 1_000_000))
	require.NoError(t, err)
	require.Contains(t, topics(rec), contract.TopicWarrantClosed)
	require.Equal(t, payerBefore+1_000_000, balance(t, h, payer.agent))
	info, err = h.WarrantInfo(ctx, payer.agent, provider.agent)
	require.NoError(t, err)
	require.Equal(t, chain.WarrantInfo{Epoch: 2}, info)
}

func testRejected(t *testing.T, h Harness) {
	ctx := context.Background()
	payer, provider := newParty(t, h), newParty(t, h)
	_, err := chain.AddWarrant(ctx, h, payer.key, chain.AddWarrantRequest{Provider: provider.agent, Amount: 2_000_000, RegisterKey: true})
	require.NoError(t, err)
	bad := payment.Sign(provider.key.GetPrivateKey().AsStdKey(), chain.PaymentWarrant(h, payer.agent, provider.agent), 1, 1, 10)
	before := balance(t, h, provider.agent)
	rec, err := chain.Settle(ctx, h, provider.key, payer.agent, bad)
	require.Error(t, err)
	require.True(t, chain.IsRejected(err), "a contract rejection is a definite outcome: %v", err)
	require.ErrorContains(t, err, "signature is not the payer's")
	require.NotNil(t, rec)
	require.Equal(t, before-rec.GasFee, balance(t, h, provider.agent), "only the gas fee moved")
	require.True(t, strings.HasPrefix(err.Error(), contract.FuncSettle.Name+": "), "errors name the entry point: %v", err)
}

func testConcurrentPosts(t *testing.T, h Harness) {
	ctx := context.Background()
	payer, provider := newParty(t, h), newParty(t, h)
	_, err := chain.AddWarrant(ctx, h, payer.key, chain.AddWarrantRequest{Provider: provider.agent, Amount: 1_000_000, RegisterKey: true})
	require.NoError(t, err)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = chain.AddWarrant(ctx, h, payer.key, chain.AddWarrantRequest{Provider: provider.agent, Amount: 1_000})
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	info, err := h.WarrantInfo(ctx, payer.agent, provider.agent)
	require.NoError(t, err)
	require.EqualValues(t, 1_000_000+n*1_000, info.Balance)
}

func testScheduledClose(t *testing.T, h Harness) {
	clock, ok := h.(Clock)
	if !ok {
		t.Skip("the harness cannot move chain time")
	}
	ctx := context.Background()
	payer, provider := newParty(t, h), newParty(t, h)
	_, err := chain.AddWarrant(ctx, h, payer.key, chain.AddWarrantRequest{Provider: provider.agent, Amount: 3_000_000, CloseTimeout: 120, RegisterKey: true})
	require.NoError(t, err)
	_, err = chain.Revoke(ctx, h, payer.key, provider.agent, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	before := balance(t, h, payer.agent)
	require.NoError(t, clock.AdvanceClock(121*time.Second))
	info, err := h.WarrantInfo(ctx, payer.agent, provider.agent)
	require.NoError(t, err)
	require.Equal(t, chain.WarrantInfo{Epoch: 2}, info, "the scheduled close ran")
	require.Greater(t, balance(t, h, payer.agent), before+3_000_000, "balance and most of the deposit refunded")
}

// testFeed follows the chain's event feed (harnesses that have one): each
// block after the subscription is delivered in order, with the contract's
// events, and the changes they make to a provider's warrant derive its
// state as getWarrantInfo reads it.
func testFeed(t *testing.T, h Harness) {
	feed, ok := h.(chain.Feed)
	if !ok {
		t.Skip("the harness has no event feed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready, blocks, done := make(chan struct{}), make(chan chain.Block, 256), make(chan error, 1)
	go func() {
		done <- feed.Follow(ctx, func() { close(ready) }, func(b chain.Block) {
			select {
			case blocks <- b:
			default:
				t.Error("the test's buffer of blocks is full")
			}
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Follow ended before it was subscribed: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no subscription within 20 s")
	}
	payer, provider := newParty(t, h), newParty(t, h)
	_, err := chain.AddWarrant(ctx, h, payer.key, chain.AddWarrantRequest{Provider: provider.agent, Amount: 2_000_000, RegisterKey: true, CloseTimeout: 600})
	require.NoError(t, err)
	_, err = chain.Revoke(ctx, h, payer.key, provider.agent, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	want, err := h.WarrantInfo(ctx, payer.agent, provider.agent)
	require.NoError(t, err)

	var state chain.WarrantInfo
	var topicsSeen []string
	InOrder(t, blocks, func(b chain.Block) bool {
		changes, err := chain.ChangesOf(b, provider.agent)
		require.NoError(t, err)
		for _, c := range changes {
			require.True(t, c.Payer.Equals(payer.agent))
			var ok bool
			state, ok = c.Apply(state)
			require.True(t, ok, "%s derives the state from the one before", c.Topic)
			topicsSeen = append(topicsSeen, c.Topic)
		}
		return len(topicsSeen) >= 2
	})
	require.Equal(t, []string{contract.TopicWarrantAdded, contract.TopicWarrantRevoked}, topicsSeen)
	require.Equal(t, want, state, "the events tell what getWarrantInfo reads")
	cancel()
	select {
	case err := <-done:
		require.True(t, errors.Is(err, context.Canceled), "Follow ends with ctx: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Follow did not end with its context")
	}
}

// testReadWarrants: ReadWarrants reports, in order, what WarrantInfo
// reports for each payer, over more payers than one getWarrants call takes.
func testReadWarrants(t *testing.T, h Harness) {
	ctx := context.Background()
	provider, payer := newParty(t, h), newParty(t, h)
	_, err := chain.AddWarrant(ctx, h, payer.key, chain.AddWarrantRequest{Provider: provider.agent, Amount: 2_000_000, RegisterKey: true})
	require.NoError(t, err)
	payers := []isc.AgentID{payer.agent}
	for len(payers) <= contract.MaxWarrantsPerView+1 {
		payers = append(payers, chain.AgentOf(cryptolib.NewKeyPair())) // no warrant
	}
	payers = append(payers, payer.agent)
	got, err := chain.ReadWarrants(ctx, h, provider.agent, payers)
	require.NoError(t, err)
	require.Len(t, got, len(payers))
	for _, i := range []int{0, 1, contract.MaxWarrantsPerView, len(payers) - 1} {
		want, err := h.WarrantInfo(ctx, payers[i], provider.agent)
		require.NoError(t, err)
		require.Equal(t, want, got[i], "payer %d", i)
	}
	require.True(t, got[0].Exists && got[len(payers)-1].Exists)
	require.EqualValues(t, 2_000_000, got[0].Balance)
}

// InOrder hands the blocks a feed delivers on blocks to each until it
// returns true, failing t when none comes within 20 s, when one has no
// time, or when one does not follow the one before (blocks are delivered
// in order, none skipped).
func InOrder(t *testing.T, blocks <-chan chain.Block, each func(chain.Block) (done bool)) {
	t.Helper()
	var last *uint32
	for {
		var b chain.Block
		select {
		case b = <-blocks:
		case <-time.After(20 * time.Second):
			t.Fatal("no block within 20 s")
		}
		if last != nil {
			require.Equal(t, *last+1, b.Index, "blocks are delivered in order, none skipped")
		}
		last = &b.Index
		require.False(t, b.Time.IsZero(), "a block has a time")
		if each(b) {
			return
		}
	}
}
