package provider_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
)

// cuttableFeed wraps the embedded chain's real feed so that a test can cut
// it (the subscription breaks, new ones fail) and restore it.
type cuttableFeed struct {
	inner chain.Feed
	mu    sync.Mutex
	down  bool
	stop  context.CancelFunc // ends the running subscription
}

var errFeedCut = errors.New("feed cut by the test")

func (f *cuttableFeed) Follow(ctx context.Context, ready func(), deliver func(chain.Block)) error {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		return errFeedCut
	}
	ctx, cancel := context.WithCancel(ctx)
	f.stop = cancel
	f.mu.Unlock()
	err := f.inner.Follow(ctx, ready, deliver)
	if ctx.Err() != nil && context.Cause(ctx) == context.Canceled && f.isDown() {
		return errFeedCut
	}
	return err
}

func (f *cuttableFeed) isDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

func (f *cuttableFeed) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = true
	if f.stop != nil {
		f.stop()
	}
}

func (f *cuttableFeed) restore() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = false
}

// While the provider follows the chain's events a payment costs no chain
// read, however old its last read of the warrant (InfoMaxAge has passed).
func TestFollowingCostsNoChainReadPerPayment(t *testing.T) {
	var counter *readCounter
	h := newHarness(t, func(c *provider.Config) { c.Feed = c.Chain.(chain.Feed) }, countReads(&counter))
	h.run()
	require.Eventually(t, h.p.Following, 10*time.Second, time.Millisecond)
	_, err := h.accept(h.next(1_000), 1_000) // the first loads the payer's key
	require.NoError(t, err)
	h.clock.Add(time.Minute) // past InfoMaxAge (30 s): without events the state is stale
	before := counter.reads()
	for i := 0; i < 10; i++ {
		_, err := h.accept(h.next(1_000), 1_000)
		require.NoError(t, err)
	}
	require.Equal(t, before, counter.reads(), "payments read nothing from the chain")
}

// A revocation made while the feed was down is caught up with as soon as
// it is back: the catch-up re-reads the provider's warrants and the
// settler settles, before the first poll was due.
func TestCatchUpAfterReconnectSettlesARevocationMissedWhileDown(t *testing.T) {
	var feed *cuttableFeed
	h := newHarness(t, func(c *provider.Config) {
		feed = &cuttableFeed{inner: c.Chain.(chain.Feed)}
		c.Feed = feed
	})
	h.run()
	require.Eventually(t, h.p.Following, 10*time.Second, time.Millisecond)
	for i := 0; i < 3; i++ {
		_, err := h.accept(h.next(1_000), 1_000)
		require.NoError(t, err)
	}
	feed.cut()
	require.Eventually(t, func() bool { return !h.p.Following() }, 10*time.Second, time.Millisecond)
	_, err := chain.Revoke(h.ctx, h.chain, h.payerKey, h.prov, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	feed.restore()
	moved := time.Duration(0)
	waitFor(t, "the catch-up to settle the revoked warrant", func() bool {
		if moved < 20*time.Second { // the poll is due at 30 s: it must not be what settles
			h.clock.Add(100 * time.Millisecond) // the watcher's resubscription wait
			moved += 100 * time.Millisecond
		}
		return h.info().Paid == 3_000
	})
	require.Less(t, moved, 20*time.Second)
	require.True(t, h.p.Following())
}

// While the feed is down the provider polls as it does without one.
func TestPollsWhileTheFeedIsDown(t *testing.T) {
	feed := &cuttableFeed{down: true}
	h := newHarness(t, func(c *provider.Config) {
		feed.inner = c.Chain.(chain.Feed)
		c.Feed = feed
	})
	h.run()
	_, err := h.accept(h.next(1_000), 1_000)
	require.NoError(t, err)
	_, err = chain.Revoke(h.ctx, h.chain, h.payerKey, h.prov, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	waitFor(t, "the poll to find the revocation", func() bool {
		h.clock.Add(time.Second)
		return h.info().Paid == 1_000
	})
	require.False(t, h.p.Following())
}

// A payment accepted after the revocation's event (nothing was pending
// when it arrived) is settled at the next poll tick, from the state the
// events keep, without polling the chain.
func TestPaymentAfterRevocationIsSettledWhileFollowing(t *testing.T) {
	h := newHarness(t, func(c *provider.Config) { c.Feed = c.Chain.(chain.Feed) })
	h.run()
	require.Eventually(t, h.p.Following, 10*time.Second, time.Millisecond)
	news := provider.ChainNews(h.p)
	_, err := chain.Revoke(h.ctx, h.chain, h.payerKey, h.prov, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	waitFor(t, "the revocation's event", func() bool { return provider.ChainNews(h.p) > news })
	_, err = h.accept(h.next(1_000), 1_000) // an hour before the deadline: allowed
	require.NoError(t, err)
	waitFor(t, "the payment paid since the revocation to be settled", func() bool {
		h.clock.Add(time.Second)
		return h.info().Paid == 1_000
	})
	require.True(t, h.p.Following(), "settled while following, not by a poll")
}

// racingChain makes the provider's first read of the payer's warrant race
// its revocation: the read is taken, then the warrant is revoked and its
// event handled by the provider (which holds no state for the payer yet),
// and only then does the read return, stale.
type racingChain struct {
	chain.Chain
	race func()
	once sync.Once
}

func (r *racingChain) WarrantInfo(ctx context.Context, payer, prov isc.AgentID) (chain.WarrantInfo, error) {
	info, err := r.Chain.WarrantInfo(ctx, payer, prov)
	r.once.Do(r.race)
	return info, err
}

// A look-up that read the warrant before an event the provider could not
// apply (it held no state for the warrant yet) does not keep that read:
// the revocation is known at the first payment, which the provider then
// settles.
func TestFirstLookupRacingARevocationIsNotFooled(t *testing.T) {
	racing := &racingChain{}
	h := newHarness(t, func(c *provider.Config) {
		racing.Chain = c.Chain
		c.Chain, c.Feed = racing, c.Chain.(chain.Feed)
	})
	racing.race = func() {
		before := provider.ChainNews(h.p)
		_, err := chain.Revoke(h.ctx, h.chain, h.payerKey, h.prov, chain.DefaultRevokeDeposit)
		require.NoError(t, err)
		waitFor(t, "the provider to see the revocation", func() bool { return provider.ChainNews(h.p) > before })
	}
	h.run()
	require.Eventually(t, h.p.Following, 10*time.Second, time.Millisecond)
	_, err := h.accept(h.next(1_000), 1_000)
	require.NoError(t, err)
	require.NotZero(t, h.p.Warrants()[0].Deadline, "the provider knows the warrant is revoked")
	waitFor(t, "the settlement", func() bool {
		h.clock.Add(time.Second)
		return h.info().Paid == 1_000
	})
}
