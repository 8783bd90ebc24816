package devnet

import (
	"context"
	"fmt"
	"time"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/waspchain"
)

// Chain is the chain seam to a devnet: the Wasp node seam (waspchain), whose
// routes the devnet serves, with the devnet's own chain time. A devnet's
// clock is logical: an idle devnet makes no blocks and its clock moves only
// through /devnet/clock/advance, so neither a node's rule (the later of the
// latest block's time and the local clock) nor the latest block's time is
// the time the next block will carry; the devnet's clock is.
type Chain struct {
	*waspchain.Chain
	client Client
}

var (
	_ chain.Chain = (*Chain)(nil)
	_ chain.Feed  = (*Chain)(nil)
)

// Connect connects to the devnet at cfg.URL through waspchain.
func Connect(ctx context.Context, cfg waspchain.Config) (*Chain, error) {
	c, err := waspchain.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return Wrap(c, Client{URL: cfg.URL, HTTPClient: cfg.HTTPClient}), nil
}

// Wrap gives c, connected to the devnet that client calls, the devnet's
// chain time.
func Wrap(c *waspchain.Chain, client Client) *Chain { return &Chain{Chain: c, client: client} }

// Now returns the devnet's chain time (GET /devnet/info): the time the next
// block will carry.
func (c *Chain) Now(ctx context.Context) (time.Time, error) {
	info, err := c.client.Info(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("chain time: %w", err)
	}
	return info.Now, nil
}

// IsDevnet reports whether c's node is a devnet: it answers GET
// /devnet/info, which no Wasp node serves.
func IsDevnet(ctx context.Context, c Client) bool {
	_, err := c.Info(ctx)
	return err == nil
}
