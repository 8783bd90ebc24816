package waspchain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/webapi/websocket"
	"github.com/micropay/micropay/contract"
)

// wireBlockEvents is a block_events message as a Wasp node writes it: a
// websocket.ISCEvent whose payload is the []*isc.Event of the block.
func wireBlockEvents(t testing.TB, events []*isc.Event) []byte {
	b, err := json.Marshal(&websocket.ISCEvent{Kind: kindBlockEvents, ChainID: "c", Payload: events})
	require.NoError(t, err)
	return b
}

func TestDecodeFeedMessage(t *testing.T) {
	ev := &isc.Event{ContractID: contract.Contract.Hname(), Topic: contract.TopicSettled, Timestamp: 7, Payload: []byte{1, 2, 3}}
	m, err := decodeFeedMessage(wireBlockEvents(t, []*isc.Event{ev}))
	require.NoError(t, err)
	require.Equal(t, kindBlockEvents, m.kind)
	require.Equal(t, []*isc.Event{ev}, m.block.Events, "an event survives the node's JSON as it was emitted")

	m, err = decodeFeedMessage([]byte(`{"kind":"new_block","chainID":"c","payload":{"blockIndex":12,"timestamp":"2026-12-01T09:00:00Z"}}`))
	require.NoError(t, err)
	require.Equal(t, uint32(12), m.block.Index)
	require.True(t, m.block.Time.Equal(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)))

	m, err = decodeFeedMessage([]byte(`{"event":"subscribed","topic":"new_block"}`))
	require.NoError(t, err)
	require.Equal(t, "new_block", m.subscribed)

	m, err = decodeFeedMessage([]byte(`{"kind":"receipt","payload":{"whatever":1}}`))
	require.NoError(t, err)
	require.Equal(t, feedMessage{}, m, "kinds the feed does not use are skipped")

	for name, bad := range map[string]string{
		"not JSON":            `{"kind":`,
		"new_block payload":   `{"kind":"new_block","payload":{"blockIndex":-1}}`,
		"block_events object": `{"kind":"block_events","payload":{"topic":"x"}}`,
		"payload not base64":  `{"kind":"block_events","payload":[{"payload":"!!"}]}`,
	} {
		_, err := decodeFeedMessage([]byte(bad))
		require.ErrorIs(t, err, errFeedMessage, name)
	}
	many := wireBlockEvents(t, make([]*isc.Event, maxFeedEvents+1))
	_, err = decodeFeedMessage(many)
	require.ErrorIs(t, err, errFeedMessage, "more events than a block may bring")
}

func TestFeedURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9090":   "ws://127.0.0.1:9090/v1/ws",
		"https://node.example/":   "wss://node.example/v1/ws",
		"https://node.example/wa": "wss://node.example/wa/v1/ws",
	} {
		got, err := feedURL(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := feedURL("ftp://x")
	require.Error(t, err)
}

// FuzzFeedMessage feeds the event feed's decoder what a hostile node may
// send: it must not panic, must fail only with errFeedMessage, and what it
// accepts must be within the feed's bounds.
func FuzzFeedMessage(f *testing.F) {
	ev := &isc.Event{ContractID: contract.Contract.Hname(), Topic: contract.TopicWarrantAdded, Timestamp: 1, Payload: []byte("p")}
	f.Add(wireBlockEvents(f, []*isc.Event{ev, ev}))
	f.Add([]byte(`{"kind":"block_events","payload":null}`))
	f.Add([]byte(`{"kind":"new_block","payload":{"blockIndex":4294967295,"timestamp":"2026-12-01T09:00:00Z"}}`))
	f.Add([]byte(`{"event":"subscribed","topic":"chains/x"}`))
	f.Add([]byte(`{"kind":"new_block","payload":"` + strings.Repeat("a", 64) + `"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeFeedMessage(b)
		if err != nil {
			if !errors.Is(err, errFeedMessage) {
				t.Fatalf("error %v does not match errFeedMessage", err)
			}
			return
		}
		if len(m.block.Events) > maxFeedEvents {
			t.Fatalf("%d events accepted", len(m.block.Events))
		}
		for _, e := range m.block.Events {
			if e == nil {
				t.Fatal("nil event accepted")
			}
		}
	})
}
