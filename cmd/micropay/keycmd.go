package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
)

func (a *app) keyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Create, show and register your ed25519 key", GroupID: "consumer"}
	cmd.AddCommand(&cobra.Command{
		Use:   "new",
		Short: "Create a new key file (mode 0600; never overwrites)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := a.keyPath()
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			key, err := consumer.CreateKeyFile(path)
			if errors.Is(err, os.ErrExist) {
				return withHint(fmt.Errorf("key file %s already exists", path), exitUsage, "use it as it is, or choose another path with --key")
			}
			if err != nil {
				return err
			}
			agent := chain.AgentOf(key)
			a.emit(map[string]string{"keyFile": path, "agentId": agent.String(), "publicKey": hex.EncodeToString(key.GetPublicKey().AsBytes())},
				fmt.Sprintf("created %s\nagent ID   %s\nnext: fund it (`micropay faucet` on a devnet) and `micropay key register`", path, agent))
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Show your agent ID, public key, registration and L2 balance",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := a.loadKey()
			if err != nil {
				return err
			}
			agent := chain.AgentOf(key)
			out := map[string]any{"keyFile": a.keyPath(), "agentId": agent.String(), "publicKey": hex.EncodeToString(key.GetPublicKey().AsBytes())}
			human := fmt.Sprintf("key file    %s\nagent ID    %s\npublic key  %x", a.keyPath(), agent, key.GetPublicKey().AsBytes())
			c, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			bal, err := c.L2Balance(cmd.Context(), agent)
			if err != nil {
				return err
			}
			pk, err := c.PublicKey(cmd.Context(), agent)
			if err != nil {
				return err
			}
			out["balance"], out["registered"] = bal, pk != nil
			human += fmt.Sprintf("\nL2 balance  %s\nregistered  %t", tokens(bal), pk != nil)
			a.emit(out, human)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "register",
		Short: "Register your public key with the micropay contract",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, c, err := a.keyOnChain(cmd.Context())
			if err != nil {
				return err
			}
			rec, err := chain.RegisterKey(cmd.Context(), c, key)
			if err != nil {
				return err
			}
			a.emit(viewReceipt(rec), fmt.Sprintf("registered %s (gas fee %s)", chain.AgentOf(key), tokens(rec.GasFee)))
			return nil
		},
	})
	return cmd
}

func (a *app) faucetCommand() *cobra.Command {
	var amount string
	var to string
	cmd := &cobra.Command{
		Use:     "faucet",
		Short:   "Get test funds on your L2 account from a devnet's faucet",
		GroupID: "local",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseAmount("--amount", amount)
			if err != nil {
				return err
			}
			var target = to
			if target == "" {
				key, err := a.loadKey()
				if err != nil {
					return err
				}
				target = chain.AgentOf(key).String()
			}
			agent, err := agentArg("--to", target)
			if err != nil {
				return err
			}
			if err := a.devnetClient().Fund(cmd.Context(), agent, n); err != nil {
				return withHint(fmt.Errorf("faucet: %w", err), exitUnreachable, "the faucet exists only on `micropay devnet`")
			}
			a.emit(map[string]any{"agentId": agent.String(), "amount": n}, fmt.Sprintf("funded %s with %s", agent, tokens(n)))
			return nil
		},
	}
	cmd.Flags().StringVar(&amount, "amount", "100_000_000", "base tokens")
	cmd.Flags().StringVar(&to, "to", "", "agent ID to fund (default: your key's)")
	return cmd
}
