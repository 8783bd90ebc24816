package devnet_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/devnet"
	"github.com/micropay/micropay/client/waspchain"
)

// A devnet on loopback, a client talking to it as to a Wasp node, and the
// faucet.
func Example() {
	ctx := context.Background()
	d, err := devnet.New(devnet.Config{}) // Data: "dir" keeps the chain across restarts
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	defer d.Shutdown(ctx) // first: it ends pending waits

	c, err := waspchain.New(ctx, waspchain.Config{URL: srv.URL}) // the node's only chain
	if err != nil {
		panic(err)
	}
	key := cryptolib.NewKeyPair()
	if err := (devnet.Client{URL: srv.URL}).Fund(ctx, chain.AgentOf(key), 1_000_000); err != nil {
		panic(err)
	}
	balance, err := c.L2Balance(ctx, chain.AgentOf(key))
	if err != nil {
		panic(err)
	}
	fmt.Println(c.ID() == d.ChainID(), balance)
	// Output: true 1000000
}
