package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/devnet"
	"github.com/micropay/micropay/client/waspchain"
)

// connect opens the chain seam to --node, once per run.
func (a *app) connect(ctx context.Context) (chain.Chain, error) {
	if a.chain != nil || a.chainErr != nil {
		return a.chain, a.chainErr
	}
	node := a.v.GetString("node")
	c, err := waspchain.New(ctx, waspchain.Config{URL: node, ChainID: a.v.GetString("chain-id")})
	if err != nil {
		a.chainErr = withHint(fmt.Errorf("connect to %s: %w", node, err), exitUnreachable,
			"start a local chain with `micropay devnet`, or point --node (MICROPAY_NODE) at a Wasp node's web API")
		return nil, a.chainErr
	}
	a.chain = c
	return c, nil
}

// initL1 gives wasp the L1 parameters (the bech32 prefix of addresses and
// agent IDs) of --node; when the node cannot be reached, the devnet's, so
// that commands that need no node (key new) still print addresses.
func (a *app) initL1(ctx context.Context) {
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := a.connect(short); err != nil {
		a.chainErr = nil // let a later connect retry and report
		defer func() {
			if recover() != nil {
				parameters.InitL1(parameters.L1ForTesting)
			}
		}()
		parameters.L1()
	}
}

// devnetClient talks to the devnet-only routes of --node.
func (a *app) devnetClient() devnet.Client {
	return devnet.Client{URL: a.v.GetString("node")}
}

// loadKey reads the key file, with advice when there is none.
func (a *app) loadKey() (*cryptolib.KeyPair, error) {
	path := a.keyPath()
	key, err := consumer.LoadKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, withHint(fmt.Errorf("no key file at %s", path), exitNotFound, "create one with `micropay key new` (or set --key / MICROPAY_KEY)")
	}
	return key, err
}

// consumer returns the consumer of the key file on the chain, with its
// payer state under HOME/payer. Close the returned closer when done.
func (a *app) consumer(ctx context.Context) (*consumer.Consumer, func(), error) {
	key, err := a.loadKey()
	if err != nil {
		return nil, nil, err
	}
	c, err := a.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	states, err := consumer.OpenPayerState(filepath.Join(a.v.GetString("home"), "payer"))
	if err != nil {
		return nil, nil, fmt.Errorf("open payer state: %w", err)
	}
	payer := consumer.NewPayer(c, key, states)
	return &consumer.Consumer{Chain: c, Key: key, Payer: payer}, func() { _ = states.Close() }, nil
}

// agentArg parses an agent ID argument (as `micropay key show` prints it).
func agentArg(what, s string) (isc.AgentID, error) {
	a, err := isc.AgentIDFromString(s)
	if err != nil {
		return nil, usageErrorf("%s %q is not an agent ID (e.g. tgl1q...; `micropay key show` prints yours): %v", what, s, err)
	}
	return a, nil
}

// receiptView is a request's receipt as commands print it.
type receiptView struct {
	RequestID string `json:"requestId"`
	GasFee    uint64 `json:"gasFee"`
}

func viewReceipt(r *chain.Receipt) receiptView {
	if r == nil {
		return receiptView{}
	}
	return receiptView{RequestID: r.RequestID.String(), GasFee: r.GasFee}
}

// warrantView is chain.WarrantInfo for output.
type warrantView struct {
	Payer        string `json:"payer"`
	Provider     string `json:"provider"`
	Exists       bool   `json:"exists"`
	Epoch        uint32 `json:"epoch"`
	Balance      uint64 `json:"balance"`
	Paid         uint64 `json:"paid"`
	LastOrdinal  uint64 `json:"lastOrdinal"`
	CloseTimeout uint64 `json:"closeTimeout"`
	Deadline     uint64 `json:"deadline,omitempty"`
}

func viewWarrant(payer, provider isc.AgentID, w chain.WarrantInfo) warrantView {
	return warrantView{payer.String(), provider.String(), w.Exists, w.Epoch, w.Balance, w.Paid, w.LastOrdinal, w.CloseTimeout, w.Deadline}
}

func (v warrantView) human() string {
	if !v.Exists {
		return fmt.Sprintf("no warrant from %s to %s (the next one gets epoch %d)", v.Payer, v.Provider, v.Epoch)
	}
	s := fmt.Sprintf("warrant %s -> %s\n  epoch          %d\n  balance        %s\n  paid (epoch)   %s\n  last ordinal   %d\n  close timeout  %s",
		v.Payer, v.Provider, v.Epoch, tokens(v.Balance), tokens(v.Paid), v.LastOrdinal, time.Duration(v.CloseTimeout)*time.Second)
	if v.Deadline != 0 {
		s += "\n  revoked        deadline " + time.Unix(int64(v.Deadline), 0).UTC().Format(time.RFC3339)
	}
	return s
}
