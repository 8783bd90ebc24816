package waspchain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"nhooyr.io/websocket"

	"github.com/iotaledger/wasp/clients/apiclient"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
)

// Limits of the event feed. A node's messages are hostile input: each is
// read whole only up to maxFeedMessage (a larger one ends the subscription,
// and the watcher catches up by reading state), and each decodes into at
// most maxFeedEvents events.
const (
	maxFeedMessage = 1 << 20
	maxFeedEvents  = 10_000
	// feedHandshake bounds the wait for the node to confirm the
	// subscriptions.
	feedHandshake = 10 * time.Second
	// feedPing is how often the connection is checked: a node that stops
	// answering pings within feedPingTimeout ends the subscription.
	feedPing        = 20 * time.Second
	feedPingTimeout = 10 * time.Second
)

// Message kinds of a Wasp node's websocket feed (packages/publisher).
const (
	kindNewBlock    = "new_block"
	kindBlockEvents = "block_events"
)

var _ chain.Feed = (*Chain)(nil)

// Follow implements chain.Feed on the node's websocket event feed
// (GET /v1/ws, wasp's packages/webapi/websocket): it subscribes to the
// chain's new_block and block_events messages, calls ready once the node
// has confirmed the subscriptions, and delivers each block_events message
// with the new_block before it, in block order.
//
// A node's feed may leave blocks out: it drops messages for a client that
// does not keep up, and it can confirm a subscription it never made (see
// subscribe). Follow therefore fills gaps from the node's block log: a
// block whose index skips ahead is preceded by the blocks before it, and
// every FeedCheck it reads the node's latest block; a block the node had at
// one check that the feed has not delivered by the next means the
// subscription is not served, so Follow subscribes again and fetches what
// it missed. A gap of more than maxBackfill blocks ends the subscription
// instead (the Watcher then catches up by reading state).
func (c *Chain) Follow(ctx context.Context, ready func(), deliver func(chain.Block)) error {
	conn, err := c.dialFeed(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("event feed: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxFeedMessage)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go keepAlive(ctx, conn, cancel)
	ended := func(err error) error {
		if parent.Err() != nil {
			return parent.Err()
		}
		return fmt.Errorf("event feed: %w", err)
	}
	if err := c.subscribe(ctx, conn); err != nil {
		return ended(err)
	}
	// The latest block is read before ready, so what the observer reads
	// when told is at least as new, and every later block is delivered.
	latest, err := c.latestBlock(ctx)
	if err != nil {
		return ended(err)
	}
	ready()
	return ended(c.relay(ctx, conn, &feedOrder{c: c, last: latest.BlockIndex, deliver: deliver}))
}

// relay reads the subscribed feed and hands its blocks to f, checking it
// against the node's latest block every FeedCheck, until the connection or
// ctx ends.
func (c *Chain) relay(ctx context.Context, conn *websocket.Conn, f *feedOrder) error {
	msgs, readErr := make(chan feedMessage), make(chan error, 1)
	go func() {
		for {
			m, err := readFeed(ctx, conn)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
		}
	}()
	known := f.last // the node's latest block at the last check
	check := time.NewTicker(c.check)
	defer check.Stop()
	var pending *chain.Block
	for {
		select {
		case err := <-readErr:
			return err
		case <-check.C:
			info, err := c.latestBlock(ctx)
			if err != nil {
				continue // the feed itself may be fine; the pings tell
			}
			if known > f.last {
				if err := c.sendSubscriptions(ctx, conn); err != nil {
					return err
				}
				if err := f.fill(ctx, info.BlockIndex); err != nil {
					return fmt.Errorf("the subscription was not served: %w", err)
				}
			}
			known = info.BlockIndex
		case m := <-msgs:
			if m.chainID != "" && m.chainID != c.id.String() {
				continue
			}
			switch m.kind {
			case kindNewBlock:
				b := m.block
				pending = &b
			case kindBlockEvents:
				if pending != nil {
					pending.Events = m.block.Events
					if err := f.next(ctx, *pending); err != nil {
						return err
					}
				}
				pending = nil
			}
		}
	}
}

// maxBackfill bounds the blocks Follow fetches to fill one gap.
const maxBackfill = 64

// DefaultFeedCheck is how often Follow checks its subscription unless
// Config.FeedCheck says otherwise.
const DefaultFeedCheck = 5 * time.Second

// feedOrder delivers blocks in order, each once, fetching from the node's
// block log those the feed left out.
type feedOrder struct {
	c       *Chain
	last    uint32 // index of the last block delivered (or known at start)
	deliver func(chain.Block)
}

// next delivers b after any blocks between the last delivered and it; a
// block delivered already is dropped.
func (f *feedOrder) next(ctx context.Context, b chain.Block) error {
	if b.Index <= f.last {
		return nil
	}
	if err := f.fill(ctx, b.Index-1); err != nil {
		return err
	}
	f.deliver(b)
	f.last = b.Index
	return nil
}

// fill fetches and delivers the blocks after the last delivered, up to
// and including index to.
func (f *feedOrder) fill(ctx context.Context, to uint32) error {
	if to <= f.last {
		return nil
	}
	if to-f.last > maxBackfill {
		return fmt.Errorf("blocks %d to %d missed, more than the %d it fetches", f.last+1, to, maxBackfill)
	}
	for i := f.last + 1; i <= to; i++ {
		b, err := f.c.block(ctx, i)
		if err != nil {
			return fmt.Errorf("fetch missed block %d: %w", i, err)
		}
		f.deliver(b)
		f.last = i
	}
	return nil
}

// block reads block index's time and events from the node's block log.
func (c *Chain) block(ctx context.Context, index uint32) (chain.Block, error) {
	var info *apiclient.BlockInfoResponse
	var evs *apiclient.EventsResponse
	err := c.each(ctx, func(n *node) error {
		var resp *http.Response
		var err error
		info, resp, err = n.api.CorecontractsApi.BlocklogGetBlockInfo(ctx, c.id.String(), index).Execute()
		if err := callError(resp, err); err != nil {
			return err
		}
		evs, resp, err = n.api.CorecontractsApi.BlocklogGetEventsOfBlock(ctx, c.id.String(), index).Execute()
		return callError(resp, err)
	})
	if err != nil {
		return chain.Block{}, err
	}
	if info == nil || evs == nil {
		return chain.Block{}, errors.New("empty answer")
	}
	if info.BlockIndex != index || info.Timestamp.IsZero() {
		return chain.Block{}, fmt.Errorf("asked for block %d, the node answered block %d at %v", index, info.BlockIndex, info.Timestamp)
	}
	if len(evs.Events) > maxFeedEvents {
		return chain.Block{}, fmt.Errorf("%d events, at most %d", len(evs.Events), maxFeedEvents)
	}
	events, err := eventsFromAPI(evs.Events)
	if err != nil {
		return chain.Block{}, err
	}
	return chain.Block{Index: index, Time: info.Timestamp, Events: events}, nil
}

// dialFeed opens the websocket at /v1/ws of the node calls go to first
// (after a failover, the next subscription follows it), with the Chain's
// HTTP client. The feed is a public route: no token goes with it.
func (c *Chain) dialFeed(ctx context.Context) (*websocket.Conn, error) {
	conf := c.nodes[c.cur.Load()].api.GetConfig() // the node calls go to now
	u, err := feedURL(conf.Servers[0].URL)
	if err != nil {
		return nil, err
	}
	opts := &websocket.DialOptions{HTTPClient: conf.HTTPClient, HTTPHeader: http.Header{}}
	opts.HTTPHeader.Set("User-Agent", conf.UserAgent)
	dctx, cancel := context.WithTimeout(ctx, feedHandshake)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, u, opts)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	return conn, nil
}

// feedURL is the websocket URL of the node whose web API is at base.
func feedURL(base string) (string, error) {
	base = strings.TrimSuffix(base, "/")
	switch {
	case strings.HasPrefix(base, "http://"):
		return "ws://" + strings.TrimPrefix(base, "http://") + "/v1/ws", nil
	case strings.HasPrefix(base, "https://"):
		return "wss://" + strings.TrimPrefix(base, "https://") + "/v1/ws", nil
	}
	return "", fmt.Errorf("node URL %q is neither http nor https", base)
}

// feedTopics are the topics Follow subscribes to.
func (c *Chain) feedTopics() []string {
	return []string{"chains/" + c.id.String(), kindNewBlock, kindBlockEvents}
}

// subscribe sends the node's subscribe commands and waits for their
// confirmations, twice; messages before them are of no subscription and
// dropped.
//
// Twice because a node confirms a subscription it may not have made: its
// websocket hub (hive.go web/websockethub, Hub.Run) starts reading a new
// client's commands before it registers the client with the subscription
// manager, and a subscribe handled in between is dropped
// (SubscriptionManager.Subscribe ignores a client it does not know) yet
// answered "subscribed". The registration follows in the hub's goroutine,
// so the second round usually lands after it; on a loaded node it may not,
// and Follow's check of the latest block catches that.
func (c *Chain) subscribe(ctx context.Context, conn *websocket.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, feedHandshake)
	defer cancel()
	for range 2 {
		if err := c.sendSubscriptions(ctx, conn); err != nil {
			return err
		}
		want := map[string]bool{}
		for _, topic := range c.feedTopics() {
			want[topic] = true
		}
		for len(want) > 0 {
			m, err := readFeed(ctx, conn)
			if err != nil {
				return fmt.Errorf("wait for the subscriptions: %w", err)
			}
			delete(want, m.subscribed)
		}
	}
	return nil
}

// sendSubscriptions sends a subscribe command for each of the feed's
// topics; subscribing again to a topic is harmless.
func (c *Chain) sendSubscriptions(ctx context.Context, conn *websocket.Conn) error {
	for _, topic := range c.feedTopics() {
		cmd, err := json.Marshal(subscribeCommand{Command: "subscribe", Topic: topic})
		if err != nil {
			return err
		}
		if err := conn.Write(ctx, websocket.MessageText, cmd); err != nil {
			return fmt.Errorf("subscribe to %s: %w", topic, err)
		}
	}
	return nil
}

// subscribeCommand is a command of wasp's websocket/commands package.
type subscribeCommand struct {
	Command string `json:"command"`
	Topic   string `json:"topic"`
}

// keepAlive pings the node until ctx ends; a ping unanswered within
// feedPingTimeout cancels the subscription.
func keepAlive(ctx context.Context, conn *websocket.Conn, cancel context.CancelFunc) {
	t := time.NewTicker(feedPing)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, feedPingTimeout)
		err := conn.Ping(pctx)
		pcancel()
		if err != nil {
			cancel()
			return
		}
	}
}

func readFeed(ctx context.Context, conn *websocket.Conn) (feedMessage, error) {
	typ, b, err := conn.Read(ctx)
	if err != nil {
		return feedMessage{}, err
	}
	if typ != websocket.MessageText {
		return feedMessage{}, nil // not a message of the protocol: ignored
	}
	return decodeFeedMessage(b)
}

// feedMessage is one decoded message of the feed: a subscription's
// confirmation, a new block, a block's events, or (kind "") anything else.
type feedMessage struct {
	subscribed string // topic confirmed
	kind       string
	chainID    string
	block      chain.Block // Index and Time of new_block; Events of block_events
}

// wireMessage is a message as the node writes it: an ISC event
// (webapi/websocket.ISCEvent) or a command's answer (commands.SubscriptionEvent).
type wireMessage struct {
	Event   string          `json:"event"`
	Topic   string          `json:"topic"`
	Kind    string          `json:"kind"`
	ChainID string          `json:"chainID"`
	Payload json.RawMessage `json:"payload"`
}

// wireEvent is an isc.Event as encoding/json writes it.
type wireEvent struct {
	ContractID uint32 `json:"contractID"`
	Topic      string `json:"topic"`
	Timestamp  uint64 `json:"timestamp"`
	Payload    []byte `json:"payload"` // base64
}

// errFeedMessage is what a message that does not decode matches.
var errFeedMessage = errors.New("waspchain: malformed event feed message")

// decodeFeedMessage decodes one message of the feed. Kinds it does not
// use decode to a zero feedMessage; a used kind whose payload does not
// decode is an error wrapping errFeedMessage.
func decodeFeedMessage(b []byte) (feedMessage, error) {
	var w wireMessage
	if err := json.Unmarshal(b, &w); err != nil {
		return feedMessage{}, fmt.Errorf("%w: %w", errFeedMessage, err)
	}
	m := feedMessage{kind: w.Kind, chainID: w.ChainID}
	switch {
	case w.Event == "subscribed":
		return feedMessage{subscribed: w.Topic}, nil
	case w.Kind == kindNewBlock:
		var info struct {
			BlockIndex uint32    `json:"blockIndex"`
			Timestamp  time.Time `json:"timestamp"`
		}
		if err := json.Unmarshal(w.Payload, &info); err != nil {
			return feedMessage{}, fmt.Errorf("%w: new_block: %w", errFeedMessage, err)
		}
		m.block = chain.Block{Index: info.BlockIndex, Time: info.Timestamp}
	case w.Kind == kindBlockEvents:
		events, err := decodeBlockEvents(w.Payload)
		if err != nil {
			return feedMessage{}, err
		}
		m.block.Events = events
	default:
		return feedMessage{}, nil
	}
	return m, nil
}

func decodeBlockEvents(payload json.RawMessage) ([]*isc.Event, error) {
	var evs []wireEvent
	if len(payload) > 0 && string(payload) != "null" {
		if err := json.Unmarshal(payload, &evs); err != nil {
			return nil, fmt.Errorf("%w: block_events: %w", errFeedMessage, err)
		}
	}
	if len(evs) > maxFeedEvents {
		return nil, fmt.Errorf("%w: block_events: %d events, at most %d", errFeedMessage, len(evs), maxFeedEvents)
	}
	out := make([]*isc.Event, len(evs))
	for i, e := range evs {
		out[i] = &isc.Event{ContractID: isc.Hname(e.ContractID), Topic: e.Topic, Timestamp: e.Timestamp, Payload: e.Payload}
	}
	return out, nil
}
