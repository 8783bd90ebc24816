package devnet_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/devnet"
	"github.com/micropay/micropay/client/waspchain"
)

// A Wasp node's next block carries the consensus time, close to the wall
// clock; an idle chain's latest block stands still. waspchain's Now is the
// later of the two: on an idle devnet (standing in for a node, its latest
// block made when it started), it is not the latest block's time.
func TestWaspchainNowIsTheNextBlocksTimeOnAnIdleChain(t *testing.T) {
	n := startNode(t, "")
	c := n.connect(t)
	ctx := context.Background()
	info, err := n.client.Info(ctx)
	require.NoError(t, err)
	before := time.Now()
	now, err := c.Now(ctx)
	require.NoError(t, err)
	require.False(t, now.Before(before.Truncate(time.Second)), "Now %s is behind the local clock %s: it is the idle chain's latest block, not the next", now, before)
	require.True(t, now.After(info.Now) || now.Equal(info.Now))
}

// On a devnet the next block carries the devnet's logical clock, which
// moves only when told to: devnet.Connect's Now is that clock, an hour
// ahead of the wall clock after advancing it an hour, while the chain
// stays idle.
func TestDevnetChainNowIsItsLogicalClock(t *testing.T) {
	n := startNode(t, "")
	ctx := context.Background()
	c, err := devnet.Connect(ctx, waspchain.Config{URL: n.srv.URL, HTTPClient: n.srv.Client()})
	require.NoError(t, err)
	require.True(t, devnet.IsDevnet(ctx, n.client))
	moved, err := n.client.AdvanceClock(ctx, time.Hour)
	require.NoError(t, err)
	now, err := c.Now(ctx)
	require.NoError(t, err)
	require.True(t, now.Equal(moved), "Now %s, the devnet's clock %s", now, moved)
	require.Greater(t, now.Sub(time.Now()), 59*time.Minute)
}

// When the node goes away the subscription ends with an error (not with
// the caller's context), so that the watcher falls back to reading the
// chain and resubscribes.
func TestFeedEndsWhenTheNodeGoesAway(t *testing.T) {
	n := startNode(t, "")
	c := n.connect(t)
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- c.Follow(context.Background(), func() { close(ready) }, func(chain.Block) {}) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Follow ended before it was subscribed: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not subscribed within 10 s")
	}
	n.stop(t)
	select {
	case err := <-done:
		require.Error(t, err)
		require.NotErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not end when the node went away")
	}
}
