package waspchain

import (
	"context"
	"fmt"
	"time"

	"github.com/iotaledger/hive.go/logger"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/clients/chainclient"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/l1connection"
	"github.com/iotaledger/wasp/packages/vm/core/accounts"
	"github.com/micropay/micropay/client/chain"
)

// Withdraw moves amount base tokens from the L2 account of key's address to
// that address on L1 (the core accounts contract's withdraw): the same
// ed25519 key is the L1 wallet. The request's gas fee comes from the L2
// account on top of amount, and amount must cover the L1 output's storage
// deposit, else the chain rejects it (*chain.Rejected) and moves nothing
// but the fee.
func (c *Chain) Withdraw(ctx context.Context, key *cryptolib.KeyPair, amount uint64) (*chain.Receipt, error) {
	if amount == 0 {
		return nil, fmt.Errorf("withdraw: amount must be positive")
	}
	rec, err := c.post(ctx, key, accounts.Contract.Hname(), chain.Request{Entry: accounts.FuncWithdraw.Name, Allowance: amount})
	if err != nil {
		return rec, fmt.Errorf("withdraw %d base tokens to L1 for %s: %w", amount, chain.AgentOf(key), err)
	}
	return rec, nil
}

// DepositTimeout bounds how long Deposit waits for the L1 to confirm.
const DepositTimeout = 2 * time.Minute

// Deposit moves amount base tokens from key's address on L1 to its L2
// account on the chain: an on-ledger request to the core accounts
// contract's deposit, built, signed and posted by wasp's chain client
// exactly as `wasp-cli chain deposit` does. l1URL is the L1 node's API
// (Hornet's, with inx-indexer, which finds the address's outputs). Deposit
// returns once the L1 has confirmed the transaction; the chain credits the
// account when it processes the request, shortly after (see L2Balance).
// The storage deposit of the request output travels with it and is
// credited too.
func (c *Chain) Deposit(ctx context.Context, l1URL string, key *cryptolib.KeyPair, amount uint64) (iotago.TransactionID, error) {
	if amount == 0 {
		return iotago.TransactionID{}, fmt.Errorf("deposit: amount must be positive")
	}
	if err := ctx.Err(); err != nil {
		return iotago.TransactionID{}, err
	}
	timeout := DepositTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	l1, err := newL1Client(l1URL, timeout)
	if err != nil {
		return iotago.TransactionID{}, fmt.Errorf("deposit: %w", err)
	}
	tx, err := chainclient.New(l1, c.api, c.id, key).Post1Request(accounts.Contract.Hname(), accounts.FuncDeposit.Hname(),
		chainclient.PostRequestParams{Transfer: isc.NewAssetsBaseTokens(amount)})
	if err != nil {
		return iotago.TransactionID{}, fmt.Errorf("deposit %d base tokens from %s via %s: %w", amount, key.Address(), l1URL, err)
	}
	id, err := tx.ID()
	if err != nil {
		return iotago.TransactionID{}, fmt.Errorf("deposit: transaction ID: %w", err)
	}
	return id, nil
}

// newL1Client is wasp's l1connection client of the L1 node at url, which
// reads the node's info (and sets the process's L1 parameters from it, as
// ensureL1 would) and its indexer's address; wasp panics when it cannot:
// that becomes an error here.
func newL1Client(url string, timeout time.Duration) (c l1connection.Client, err error) {
	l1Mu.Lock()
	defer l1Mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("L1 node %s: %v", url, r)
		}
	}()
	return l1connection.NewClient(l1connection.Config{APIAddress: url}, logger.NewNopLogger(), timeout), nil
}
