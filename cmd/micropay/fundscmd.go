package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/chain"
)

// funder moves base tokens between a key's L1 address and its L2 account
// (waspchain.Chain).
type funder interface {
	Deposit(ctx context.Context, l1URL string, key *cryptolib.KeyPair, amount uint64) (iotago.TransactionID, error)
	Withdraw(ctx context.Context, key *cryptolib.KeyPair, amount uint64) (*chain.Receipt, error)
}

// fundsCommand is `micropay funds`: deposit and withdraw between L1 and L2
// on a real chain, the key file's ed25519 key being the L1 wallet too.
func (a *app) fundsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "funds", Short: "Move base tokens between your L1 address and your L2 account on the chain", GroupID: "consumer"}
	cmd.AddCommand(a.fundsDepositCommand(), a.fundsWithdrawCommand())
	return cmd
}

func (a *app) fundsDepositCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "deposit AMOUNT",
		Short: "Deposit AMOUNT base tokens from your L1 address (the key file's) to your L2 account; needs --l1",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := parseAmount("AMOUNT", args[0])
			if err != nil {
				return err
			}
			l1 := a.v.GetString("l1")
			if l1 == "" {
				return usageErrorf("funds deposit needs --l1 (MICROPAY_L1): the L1 node's API, with its indexer (e.g. Hornet's http://host:14265)")
			}
			return a.withFunder(cmd, func(f funder, key *cryptolib.KeyPair) error {
				tx, err := f.Deposit(cmd.Context(), l1, key, amount)
				if err != nil {
					return withHint(err, exitUnreachable, "is --l1 an L1 node's API with inx-indexer, and does your L1 address hold the amount? (`micropay key show` prints it)")
				}
				a.emit(map[string]any{"transactionId": tx.ToHex(), "amount": amount},
					fmt.Sprintf("deposited %s (L1 transaction %s); the chain credits your L2 account when it processes the request", tokens(amount), tx.ToHex()))
				return nil
			})
		},
	}
}

func (a *app) fundsWithdrawCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "withdraw AMOUNT",
		Short: "Withdraw AMOUNT base tokens from your L2 account to your L1 address (the key file's); the gas fee comes on top",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := parseAmount("AMOUNT", args[0])
			if err != nil {
				return err
			}
			return a.withFunder(cmd, func(f funder, key *cryptolib.KeyPair) error {
				rec, err := f.Withdraw(cmd.Context(), key, amount)
				if err != nil {
					return err
				}
				a.emit(viewReceipt(rec), fmt.Sprintf("withdrew %s to your L1 address (gas fee %s)", tokens(amount), tokens(rec.GasFee)))
				return nil
			})
		},
	}
}

// withFunder runs f with the chain of --node and the key file.
func (a *app) withFunder(cmd *cobra.Command, f func(funder, *cryptolib.KeyPair) error) error {
	key, c, err := a.keyOnChain(cmd.Context())
	if err != nil {
		return err
	}
	fc, ok := c.(funder)
	if !ok {
		return fmt.Errorf("funds: the chain of --node (%T) moves no funds between L1 and L2", c)
	}
	return f(fc, key)
}
