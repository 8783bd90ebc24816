package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/contract"
)

func (a *app) warrantCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "warrant", Short: "Open, top up, revoke, close, inspect and resync warrants", GroupID: "consumer"}
	cmd.AddCommand(a.warrantAddCommand(), a.warrantTopUpCommand(), a.warrantRevokeCommand(),
		a.warrantCloseCommand(), a.warrantInfoCommand(), a.warrantResyncCommand())
	return cmd
}

func (a *app) warrantAddCommand() *cobra.Command {
	var closeTimeout time.Duration
	var origin string
	add := &cobra.Command{
		Use:   "add PROVIDER AMOUNT",
		Short: "Lock AMOUNT base tokens for PROVIDER (registers your key if needed)",
		// Checked before the node is asked (cobra checks Args first).
		Args: func(cmd *cobra.Command, args []string) error {
			if err := exactArgs(2)(cmd, args); err != nil {
				return err
			}
			if _, err := parseAmount("AMOUNT", args[1]); err != nil {
				return err
			}
			if origin != "" {
				_, err := httpURL("--origin", origin)
				return err
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := parseAmount("AMOUNT", args[1])
			if err != nil {
				return err
			}
			var pinned *url.URL
			if origin != "" {
				if pinned, err = httpURL("--origin", origin); err != nil {
					return err
				}
			}
			return a.withConsumer(cmd, args[0], func(c consumerOps, provider isc.AgentID) (string, any, error) {
				if err := a.pinOrigin(pinned, provider); err != nil {
					return "", nil, err
				}
				info, err := c.Info(cmd.Context(), provider)
				if err != nil {
					return "", nil, err
				}
				if !info.Exists {
					a.warnShortCloseTimeout(closeTimeout)
				}
				rec, err := c.AddWarrant(cmd.Context(), provider, amount, closeTimeout)
				if info.Exists {
					return fmt.Sprintf("topped up the warrant for %s by %s (balance now %s)", provider, tokens(amount), tokens(info.Balance+amount)),
						map[string]any{"receipt": viewReceipt(rec), "toppedUp": true}, err
				}
				return fmt.Sprintf("locked %s for %s", tokens(amount), provider), map[string]any{"receipt": viewReceipt(rec), "toppedUp": false}, err
			})
		},
	}
	add.Flags().DurationVar(&closeTimeout, "close-timeout", 0, "time from revoke to deadline (default: the contract's, 1h); fixed for the warrant's life")
	add.Flags().StringVar(&origin, "origin", "", "pin this URL's origin to PROVIDER now (HOME/known_providers), so no other site is pinned for it first")
	return add
}

// commonMargin is the settlement safety margin providers commonly keep
// before a revoked warrant's deadline (provider serve's --margin default):
// once revoked, a warrant with a shorter close timeout is refused by them.
const commonMargin = 10 * time.Minute

// warnShortCloseTimeout warns, before funds are locked, of a close timeout
// shorter than common provider margins.
func (a *app) warnShortCloseTimeout(d time.Duration) {
	if d == 0 || d >= commonMargin {
		return
	}
	fmt.Fprintf(os.Stderr, "micropay: warning: a close timeout of %s is shorter than the %s settlement margin providers commonly keep: "+
		"once you revoke, they refuse your payments at once, and some may refuse the warrant; it is fixed for the warrant's life\n", d, commonMargin)
}

// pinOrigin pins the origin of u to provider, unless u is nil. It runs
// while the payer state is held (withConsumer), before any request.
func (a *app) pinOrigin(u *url.URL, provider isc.AgentID) error {
	if u == nil {
		return nil
	}
	pins, err := a.openPins()
	if err != nil {
		return err
	}
	return pins.Bind(consumer.Origin(u), provider.String(), false)
}

func (a *app) warrantTopUpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "topup PROVIDER AMOUNT",
		Short: "Add AMOUNT base tokens to your warrant for PROVIDER",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := parseAmount("AMOUNT", args[1])
			if err != nil {
				return err
			}
			return a.withConsumer(cmd, args[0], func(c consumerOps, provider isc.AgentID) (string, any, error) {
				rec, err := c.TopUp(cmd.Context(), provider, amount)
				return fmt.Sprintf("added %s to the warrant for %s", tokens(amount), provider), viewReceipt(rec), err
			})
		},
	}
}

func (a *app) warrantRevokeCommand() *cobra.Command {
	var depositFlag uint64
	revoke := &cobra.Command{
		Use:   "revoke PROVIDER",
		Short: "Revoke your warrant for PROVIDER: it settles until the deadline, then the rest comes back",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, provider, done, err := a.consumerFor(cmd, args[0])
			if err != nil {
				return err
			}
			defer done()
			c.RevokeDeposit = depositFlag // 0: ask the contract
			msg, out, err := a.revoke(cmd.Context(), c, provider)
			if err != nil {
				return err
			}
			a.emit(out, msg)
			return nil
		},
	}
	revoke.Flags().Uint64Var(&depositFlag, "deposit", 0, "allowance for the scheduled close, in base tokens (default: what the contract asks for now; all but the close's fee comes back)")
	return revoke
}

// revoke revokes c's warrant for provider and says when its deadline is and
// what the scheduled close costs.
func (a *app) revoke(ctx context.Context, c *consumer.Consumer, provider isc.AgentID) (string, any, error) {
	// What the scheduled close costs, asked before the revoke (the
	// allowance it sends is the same figure unless --deposit says otherwise).
	deposit, derr := chain.AskRevokeDeposit(ctx, a.chain, c.Agent(), provider)
	rec, err := c.Revoke(ctx, provider)
	if err != nil {
		return "", nil, err
	}
	info, err := c.Info(ctx, provider)
	deadline := time.Unix(int64(info.Deadline), 0)
	msg := fmt.Sprintf("revoked; deadline %s (%s from now by the chain's clock): the provider settles before it, then the contract closes the warrant and refunds the rest",
		deadline.Local().Format("2006-01-02 15:04:05 MST"), time.Duration(info.CloseTimeout)*time.Second)
	out := map[string]any{"receipt": viewReceipt(rec), "deadline": info.Deadline}
	if derr == nil {
		sent := deposit.Need
		if c.RevokeDeposit != 0 {
			sent = c.RevokeDeposit
		}
		msg += fmt.Sprintf("\nthe scheduled close's deposit of %s comes back with the refund, less its fee of %s (%d gas under the chain's fee policy)",
			tokens(sent), tokens(deposit.CloseFee), contract.ScheduledCloseGas)
		out["closeDeposit"], out["closeFee"] = sent, deposit.CloseFee
	}
	return msg, out, err
}

func (a *app) warrantCloseCommand() *cobra.Command {
	var payerFlag string
	closeCmd := &cobra.Command{
		Use:   "close [PROVIDER]",
		Short: "Close a warrant: as its provider (--payer) at any time, or as anyone once its deadline passed",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := a.loadKey()
			if err != nil {
				return err
			}
			me := chain.AgentOf(key)
			payer, provider := me, me
			if payerFlag != "" {
				if payer, err = agentArg("--payer", payerFlag); err != nil {
					return err
				}
			}
			if len(args) == 1 {
				if provider, err = agentArg("PROVIDER", args[0]); err != nil {
					return err
				}
			}
			if payer.Equals(provider) {
				return usageErrorf("name the other side: PROVIDER when you are the payer, --payer when you are the provider")
			}
			c, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			rec, err := chain.Close(cmd.Context(), c, key, payer, provider)
			if err != nil {
				return err
			}
			a.emit(viewReceipt(rec), fmt.Sprintf("closed the warrant %s -> %s; the rest went back to the payer", payer, provider))
			return nil
		},
	}
	closeCmd.Flags().StringVar(&payerFlag, "payer", "", "the warrant's payer, when you close as its provider or as a third party")
	return closeCmd
}

func (a *app) warrantInfoCommand() *cobra.Command {
	var infoPayer string
	info := &cobra.Command{
		Use:   "info PROVIDER",
		Short: "Show the warrant from you (or --payer) to PROVIDER",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			provider, err := agentArg("PROVIDER", args[0])
			if err != nil {
				return err
			}
			var payer isc.AgentID
			if infoPayer != "" {
				if payer, err = agentArg("--payer", infoPayer); err != nil {
					return err
				}
			} else {
				key, err := a.loadKey()
				if err != nil {
					return err
				}
				payer = chain.AgentOf(key)
			}
			c, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			w, err := c.WarrantInfo(cmd.Context(), payer, provider)
			if err != nil {
				return err
			}
			v := viewWarrant(payer, provider, w)
			a.emit(v, v.human())
			return nil
		},
	}
	info.Flags().StringVar(&infoPayer, "payer", "", "the warrant's payer (default: your key's agent)")
	return info
}

// consumerOps is what the warrant subcommands use of a consumer.
type consumerOps interface {
	Agent() isc.AgentID
	AddWarrant(ctx context.Context, provider isc.AgentID, amount uint64, closeTimeout time.Duration) (*chain.Receipt, error)
	TopUp(ctx context.Context, provider isc.AgentID, amount uint64) (*chain.Receipt, error)
	Revoke(ctx context.Context, provider isc.AgentID) (*chain.Receipt, error)
	Info(ctx context.Context, provider isc.AgentID) (chain.WarrantInfo, error)
}

// withConsumer runs op for the provider argument with the key file's
// consumer and prints what it returns.
func (a *app) withConsumer(cmd *cobra.Command, providerArg string, op func(c consumerOps, provider isc.AgentID) (string, any, error)) error {
	c, provider, done, err := a.consumerFor(cmd, providerArg)
	if err != nil {
		return err
	}
	defer done()
	human, out, err := op(c, provider)
	if err != nil {
		return err
	}
	a.emit(out, human)
	return nil
}

// consumerFor parses the provider argument and opens the key file's
// consumer. Call done when finished with it.
func (a *app) consumerFor(cmd *cobra.Command, providerArg string) (c *consumer.Consumer, provider isc.AgentID, done func(), err error) {
	if provider, err = agentArg("PROVIDER", providerArg); err != nil {
		return nil, nil, nil, err
	}
	if c, done, err = a.consumer(cmd.Context()); err != nil {
		return nil, nil, nil, err
	}
	return c, provider, done, nil
}
