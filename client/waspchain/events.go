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
// has confirmed the three subscriptions, and delivers each block_events
// message with the new_block before it. A block whose messages the node
// dropped (it drops them for a client that does not keep up) is not
// delivered: the index of the next one shows the gap.
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
	ready()
	var pending *chain.Block
	for {
		m, err := readFeed(ctx, conn)
		if err != nil {
			return ended(err)
		}
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
				deliver(*pending)
			}
			pending = nil
		}
	}
}

// dialFeed opens the websocket at /v1/ws of the node calls go to first
// (after a failover, the next subscription follows it), with the Chain's
// HTTP client and Authorization header.
func (c *Chain) dialFeed(ctx context.Context) (*websocket.Conn, error) {
	conf := c.nodes[c.cur.Load()].api.GetConfig() // the node calls go to now
	u, err := feedURL(conf.Servers[0].URL)
	if err != nil {
		return nil, err
	}
	opts := &websocket.DialOptions{HTTPClient: conf.HTTPClient, HTTPHeader: http.Header{}}
	if a, ok := conf.DefaultHeader["Authorization"]; ok {
		opts.HTTPHeader.Set("Authorization", a)
	}
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

// subscribe sends the node's subscribe commands and waits for their
// confirmations; messages before them are of no subscription and dropped.
func (c *Chain) subscribe(ctx context.Context, conn *websocket.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, feedHandshake)
	defer cancel()
	want := map[string]bool{}
	for _, topic := range []string{"chains/" + c.id.String(), kindNewBlock, kindBlockEvents} {
		cmd, err := json.Marshal(subscribeCommand{Command: "subscribe", Topic: topic})
		if err != nil {
			return err
		}
		if err := conn.Write(ctx, websocket.MessageText, cmd); err != nil {
			return fmt.Errorf("subscribe to %s: %w", topic, err)
		}
		want[topic] = true
	}
	for len(want) > 0 {
		m, err := readFeed(ctx, conn)
		if err != nil {
			return fmt.Errorf("wait for the subscriptions: %w", err)
		}
		if m.subscribed != "" {
			delete(want, m.subscribed)
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
