package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/chain"
)

// Consumer manages one key's warrants on one chain: register the key, add,
// top up, revoke, close and inspect warrants. Payer signs its payments;
// it may be nil for a consumer that only manages warrants. The methods are
// thin wrappers over package chain that add context to errors; a contract
// rejection stays detectable with chain.IsRejected.
type Consumer struct {
	Chain chain.Chain
	Key   *cryptolib.KeyPair
	Payer *Payer
	// RevokeDeposit is the allowance sent with a revoke to pay for the
	// contract's scheduled close (docs/protocol.md, "The revoke deposit");
	// 0 asks the contract what the close needs now (chain.AskRevokeDeposit)
	// and sends chain.DefaultRevokeDeposit when it cannot tell. All but the
	// close's fee comes back when the close runs.
	RevokeDeposit uint64
}

// Agent returns the consumer's agent ID: the payer of its warrants.
func (c *Consumer) Agent() isc.AgentID { return chain.AgentOf(c.Key) }

// Balance returns the base tokens in the consumer's L2 account, from which
// warrants are funded and to which refunds go.
func (c *Consumer) Balance(ctx context.Context) (uint64, error) {
	b, err := c.Chain.L2Balance(ctx, c.Agent())
	if err != nil {
		return 0, fmt.Errorf("balance of %s: %w", c.Agent(), err)
	}
	return b, nil
}

// RegisterKey registers the consumer's public key with the contract, which
// verifies payments with it. AddWarrant does it as needed.
func (c *Consumer) RegisterKey(ctx context.Context) (*chain.Receipt, error) {
	rec, err := chain.RegisterKey(ctx, c.Chain, c.Key)
	if err != nil {
		return rec, fmt.Errorf("register key of %s: %w", c.Agent(), err)
	}
	return rec, nil
}

// AddWarrant locks amount base tokens from the consumer's L2 account in a
// warrant for provider: a new one (amount at least the contract's minimum)
// with the given close timeout (0: the contract's default; it is rounded
// down to whole seconds and fixed for the warrant's life), or, if one
// exists, a top-up, in which case closeTimeout must be 0 or the warrant's
// own. The consumer's key is registered in the same request unless the
// chain already has it.
func (c *Consumer) AddWarrant(ctx context.Context, provider isc.AgentID, amount uint64, closeTimeout time.Duration) (*chain.Receipt, error) {
	if closeTimeout < 0 {
		return nil, fmt.Errorf("add warrant for %s: negative close timeout %s", provider, closeTimeout)
	}
	pk, err := c.Chain.PublicKey(ctx, c.Agent())
	if err != nil {
		return nil, fmt.Errorf("add warrant for %s: %w", provider, err)
	}
	rec, err := chain.AddWarrant(ctx, c.Chain, c.Key, chain.AddWarrantRequest{
		Provider:     provider,
		Amount:       amount,
		CloseTimeout: uint64(closeTimeout / time.Second),
		RegisterKey:  pk == nil,
	})
	if err != nil {
		return rec, fmt.Errorf("add warrant of %d for %s: %w", amount, provider, err)
	}
	return rec, nil
}

// TopUp adds amount to the existing warrant for provider. Unlike
// AddWarrant it never creates one: with no warrant it fails with
// ErrNoWarrant and sends nothing. A revoked warrant cannot be topped up
// (the contract rejects it).
func (c *Consumer) TopUp(ctx context.Context, provider isc.AgentID, amount uint64) (*chain.Receipt, error) {
	info, err := c.Info(ctx, provider)
	if err != nil {
		return nil, fmt.Errorf("top up warrant for %s: %w", provider, err)
	}
	if !info.Exists {
		return nil, fmt.Errorf("top up warrant for %s: %w", provider, ErrNoWarrant)
	}
	rec, err := chain.AddWarrant(ctx, c.Chain, c.Key, chain.AddWarrantRequest{Provider: provider, Amount: amount})
	if err != nil {
		return rec, fmt.Errorf("top up warrant for %s by %d: %w", provider, amount, err)
	}
	return rec, nil
}

// Revoke revokes the warrant for provider: the provider can settle until
// chain time reaches now + close timeout, then the contract closes the
// warrant and refunds the rest.
func (c *Consumer) Revoke(ctx context.Context, provider isc.AgentID) (*chain.Receipt, error) {
	deposit := c.RevokeDeposit
	if deposit == 0 {
		// Ask the contract; a chain that cannot answer (no views, or a
		// view refused because the warrant cannot be revoked) gets the
		// default, and the contract's own verdict on the revoke.
		deposit = chain.DefaultRevokeDeposit
		if d, err := chain.AskRevokeDeposit(ctx, c.Chain, c.Agent(), provider); err == nil {
			deposit = d.Need
		}
	}
	rec, err := chain.Revoke(ctx, c.Chain, c.Key, provider, deposit)
	if err != nil {
		return rec, fmt.Errorf("revoke warrant for %s: %w", provider, err)
	}
	return rec, nil
}

// Close closes the revoked warrant for provider once its deadline has
// passed and refunds its balance. The contract's scheduled request does so
// by itself; Close is for when that request got lost.
func (c *Consumer) Close(ctx context.Context, provider isc.AgentID) (*chain.Receipt, error) {
	rec, err := chain.Close(ctx, c.Chain, c.Key, c.Agent(), provider)
	if err != nil {
		return rec, fmt.Errorf("close warrant for %s: %w", provider, err)
	}
	return rec, nil
}

// Info reads the warrant for provider from the chain.
func (c *Consumer) Info(ctx context.Context, provider isc.AgentID) (chain.WarrantInfo, error) {
	info, err := c.Chain.WarrantInfo(ctx, c.Agent(), provider)
	if err != nil {
		return info, fmt.Errorf("warrant info for %s: %w", provider, err)
	}
	return info, nil
}
