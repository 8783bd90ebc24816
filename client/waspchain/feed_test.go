//go:build !race

package waspchain_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"nhooyr.io/websocket"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/chain/chaintest"
	"github.com/micropay/micropay/client/waspchain"
	"github.com/micropay/micropay/contract"
)

// relay stands between Follow and a devnet's event feed and leaves out
// what a Wasp node's feed can leave out: while served says no, it passes
// the node's answers to commands but none of its ISC events (a node that
// confirmed subscriptions its hub never registered); with dropFirst, it
// drops the messages of the first block it sees (a node that dropped them
// for a slow client).
type relay struct {
	upstream  string // the devnet's ws:// URL
	served    func(subscribes int) bool
	dropFirst bool

	mu         sync.Mutex
	subscribes int
	dropped    *uint32 // index of the block left out
	dropping   bool    // its block_events is still to come
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	client, err := websocket.Accept(w, req, nil)
	if err != nil {
		return
	}
	defer client.CloseNow()
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	node, _, err := websocket.Dial(ctx, r.upstream, nil)
	if err != nil {
		return
	}
	defer node.CloseNow()
	node.SetReadLimit(1 << 20)
	go func() {
		defer cancel()
		for {
			typ, b, err := client.Read(ctx)
			if err != nil {
				return
			}
			if strings.Contains(string(b), `"subscribe"`) {
				r.mu.Lock()
				r.subscribes++
				r.mu.Unlock()
			}
			if node.Write(ctx, typ, b) != nil {
				return
			}
		}
	}()
	for {
		typ, b, err := node.Read(ctx)
		if err != nil {
			return
		}
		if r.pass(b) && client.Write(ctx, typ, b) != nil {
			return
		}
	}
}

func (r *relay) pass(b []byte) bool {
	var m struct {
		Event   string          `json:"event"`
		Kind    string          `json:"kind"`
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(b, &m) != nil || m.Event != "" {
		return true // not an ISC event: an answer to a command
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.served(r.subscribes) {
		return false
	}
	if !r.dropFirst {
		return true
	}
	switch {
	case m.Kind == "new_block" && r.dropped == nil:
		var info struct {
			BlockIndex uint32 `json:"blockIndex"`
		}
		if json.Unmarshal(m.Payload, &info) != nil {
			return true
		}
		r.dropped, r.dropping = &info.BlockIndex, true
		return false
	case m.Kind == "block_events" && r.dropping:
		r.dropping = false // the dropped block's events
		return false
	}
	return true
}

// followed runs Follow on a Chain connected to the feed through the relay
// and returns the blocks it delivers; the test ends it.
func followed(t *testing.T, n *testNet, r *relay) (*waspchain.Chain, <-chan chain.Block) {
	t.Helper()
	upstream := httptest.NewServer(n.d.Handler())
	t.Cleanup(upstream.Close)
	r.upstream = "ws" + strings.TrimPrefix(upstream.URL, "http") + "/v1/ws"
	// The Chain that follows has the relay for its feed and the devnet's
	// own routes for the rest; the one returned posts straight to the devnet.
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/ws" {
			r.ServeHTTP(w, req)
			return
		}
		n.srvs[0].Config.Handler.ServeHTTP(w, req)
	}))
	t.Cleanup(node.Close)
	cfg := n.config()
	cfg.FeedCheck = 50 * time.Millisecond
	c, err := waspchain.New(context.Background(), cfg)
	require.NoError(t, err)
	cfg.URL = node.URL
	fc, err := waspchain.New(context.Background(), cfg)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	ready, blocks, done := make(chan struct{}), make(chan chain.Block, 64), make(chan error, 1)
	go func() { done <- fc.Follow(ctx, func() { close(ready) }, func(b chain.Block) { blocks <- b }) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Follow ended before it was subscribed: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no subscription within 20 s")
	}
	return c, blocks
}

// topicsOf collects the micropay topics of the blocks delivered until want
// are seen, checking that blocks come in order, none skipped.
func topicsOf(t *testing.T, blocks <-chan chain.Block, want int) []string {
	t.Helper()
	var topics []string
	chaintest.InOrder(t, blocks, func(b chain.Block) bool {
		for _, e := range b.Events {
			if strings.HasPrefix(e.Topic, "micropay.") {
				topics = append(topics, e.Topic)
			}
		}
		return len(topics) >= want
	})
	return topics
}

// TestFollowResubscribesWhenTheNodeServesNothing: a node that confirmed
// both rounds of subscriptions yet serves none of them (its hub had not
// registered the client yet). Follow sees the node's latest block move
// past what it delivered, subscribes again, and fetches the blocks it
// missed from the block log: every block is delivered, in order, and the
// feed is served from then on.
func TestFollowResubscribesWhenTheNodeServesNothing(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 1, "")
	r := &relay{served: func(subscribes int) bool { return subscribes > 6 }}
	c, blocks := followed(t, n, r)
	payer, provider := n.parties(t)

	_, err := chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, RegisterKey: true, CloseTimeout: 600})
	require.NoError(t, err)
	require.Equal(t, []string{contract.TopicWarrantAdded}, topicsOf(t, blocks, 1), "missed, then fetched")
	r.mu.Lock()
	require.Greater(t, r.subscribes, 6, "Follow subscribed again")
	r.mu.Unlock()

	_, err = chain.Revoke(ctx, c, payer, provider, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	require.Equal(t, []string{contract.TopicWarrantRevoked}, topicsOf(t, blocks, 1), "served by the feed again")
}

// TestFollowFillsADroppedBlock: the node drops the messages of one block;
// Follow delivers it anyway, from the block log, before the next.
func TestFollowFillsADroppedBlock(t *testing.T) {
	ctx := context.Background()
	n := newTestNet(t, 1, "")
	payer, provider := n.parties(t) // before the feed: the first block it sees is the warrant's
	r := &relay{served: func(int) bool { return true }, dropFirst: true}
	c, blocks := followed(t, n, r)

	_, err := chain.AddWarrant(ctx, c, payer, chain.AddWarrantRequest{Provider: provider, Amount: 1_000_000, RegisterKey: true, CloseTimeout: 600})
	require.NoError(t, err)
	_, err = chain.Revoke(ctx, c, payer, provider, chain.DefaultRevokeDeposit)
	require.NoError(t, err)
	require.Equal(t, []string{contract.TopicWarrantAdded, contract.TopicWarrantRevoked}, topicsOf(t, blocks, 2), "the dropped block comes first")
	r.mu.Lock()
	require.NotNil(t, r.dropped, "the relay dropped a block")
	r.mu.Unlock()
}
