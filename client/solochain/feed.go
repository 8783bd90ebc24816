package solochain

import (
	"context"
	"sync"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/publisher"
	"github.com/micropay/micropay/client/chain"
)

var _ chain.Feed = (*Embedded)(nil)

// Follow implements chain.Feed on Solo's own publisher, the one a Wasp
// node's websocket service is fed by: each block's new_block and
// block_events, joined into one chain.Block. Blocks of the scheduled closes
// Solo runs by itself are delivered like any other. Follow returns ctx's
// error once ctx ends; it never breaks otherwise.
func (e *Embedded) Follow(ctx context.Context, ready func(), deliver func(chain.Block)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := e.Chain.ChainID
	var (
		mu      sync.Mutex
		pending *chain.Block // the new_block waiting for its block_events
	)
	events := e.Solo.Publisher().Events
	onBlock := events.NewBlock.Hook(func(ev *publisher.ISCEvent[*publisher.BlockWithTrieRoot]) {
		if !ev.ChainID.Equals(id) || ev.Payload == nil || ev.Payload.BlockInfo == nil {
			return
		}
		info := ev.Payload.BlockInfo
		mu.Lock()
		pending = &chain.Block{Index: info.BlockIndex(), Time: info.Timestamp}
		mu.Unlock()
	})
	defer onBlock.Unhook()
	onEvents := events.BlockEvents.Hook(func(ev *publisher.ISCEvent[[]*isc.Event]) {
		if !ev.ChainID.Equals(id) {
			return
		}
		mu.Lock()
		b := pending
		pending = nil
		mu.Unlock()
		if b != nil {
			b.Events = ev.Payload
			deliver(*b)
		}
	})
	defer onEvents.Unhook()
	ready()
	<-ctx.Done()
	return ctx.Err()
}
