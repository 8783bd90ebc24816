package devnet

import (
	"context"
	"net/http"
	"runtime"

	"github.com/labstack/echo/v4"
	websocketserver "nhooyr.io/websocket"

	"github.com/iotaledger/hive.go/logger"
	"github.com/iotaledger/hive.go/web/websockethub"
	"github.com/iotaledger/wasp/packages/publisher"
	"github.com/iotaledger/wasp/packages/webapi/websocket"
)

// The websocket hub's limits, those of a Wasp 1.5.1 node
// (components/webapi): messages queued for broadcast, per client, and the
// largest message a client may send (a subscribe command).
const (
	wsBroadcastQueue     = 20_000
	wsClientSendChannel  = 1_000
	wsMaxClientMessage   = 510
	wsMaxTopicsPerClient = 0 // unlimited, a node's default
)

// eventFeed is GET /v1/ws: wasp's own websocket service
// (packages/webapi/websocket) over Solo's publisher, the service and
// publisher a Wasp node runs, with a node's message kinds and limits.
type eventFeed struct {
	hub     *websockethub.Hub
	service *websocket.Service
	stop    func()
}

func newEventFeed(pub *publisher.Publisher) *eventFeed {
	log := logger.NewNopLogger()
	hub := websockethub.NewHub(log, &websocketserver.AcceptOptions{
		InsecureSkipVerify: true, // as a node: the feed is public and read-only
		CompressionMode:    websocketserver.CompressionDisabled,
	}, wsBroadcastQueue, wsClientSendChannel, wsMaxClientMessage)
	service := websocket.NewWebsocketService(log, hub, []publisher.ISCEventType{
		publisher.ISCEventKindNewBlock,
		publisher.ISCEventKindReceipt,
		publisher.ISCEventIssuerVM,
		publisher.ISCEventKindBlockEvents,
	}, pub, websocket.WithMaxTopicSubscriptionsPerClient(wsMaxTopicsPerClient))
	ctx, cancel := context.WithCancel(context.Background())
	go hub.Run(ctx)
	for hub.Stopped() { // Run publishes its context, then clears the flag
		runtime.Gosched()
	}
	unhook := service.EventHandler().AttachToEvents()
	return &eventFeed{hub: hub, service: service, stop: func() { unhook(); cancel() }}
}

// ServeHTTP upgrades the request to a websocket as a node's echo route
// does; 503 once the devnet is shut down. A failed handshake is answered by
// the websocket library itself.
func (f *eventFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.hub.Stopped() {
		shuttingDown(w)
		return
	}
	_ = f.service.ServeHTTP(echo.New().NewContext(r, w))
}
