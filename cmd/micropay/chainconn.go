package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/devnet"
	"github.com/micropay/micropay/client/waspchain"
)

// networkFlags are the flags that say how to reach the chain beside --node
// and --chain-id; each has its MICROPAY_* variable and config-file key.
func networkFlags(pf *pflag.FlagSet) {
	pf.String("token", "", "JWT for the first --node's admin routes, sent to no other node (MICROPAY_TOKEN); only needed without --chain-id and --l1")
	pf.String("l1", "", "core API of an L1 node (e.g. Hornet's http://host:14265): the L1 parameters, without a token")
}

// nodeURLs returns the nodes of --node: several separated by commas (flag
// or MICROPAY_NODE), or a YAML list in the config file.
func (a *app) nodeURLs() []string {
	var urls []string
	switch v := a.v.Get("node").(type) {
	case []any:
		for _, u := range v {
			urls = append(urls, strings.Split(fmt.Sprint(u), ",")...)
		}
	default:
		urls = strings.Split(a.v.GetString("node"), ",")
	}
	out := urls[:0]
	for _, u := range urls {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// chainConfig is the waspchain configuration of the flags.
func (a *app) chainConfig() (waspchain.Config, error) {
	urls := a.nodeURLs()
	if len(urls) == 0 {
		return waspchain.Config{}, usageErrorf("--node is empty: give the web API URL of a Wasp node (several separated by commas)")
	}
	return waspchain.Config{
		URL:     urls[0],
		Nodes:   urls[1:],
		ChainID: a.v.GetString("chain-id"),
		Token:   a.v.GetString("token"),
		L1URL:   a.v.GetString("l1"),
	}, nil
}

// connect opens the chain seam to --node, once per run.
func (a *app) connect(ctx context.Context) (chain.Chain, error) {
	if a.chain != nil || a.chainErr != nil {
		return a.chain, a.chainErr
	}
	cfg, err := a.chainConfig()
	if err != nil {
		a.chainErr = err
		return nil, err
	}
	nodes := strings.Join(append([]string{cfg.URL}, cfg.Nodes...), ", ")
	c, err := waspchain.New(ctx, cfg)
	switch {
	case err == nil:
		a.chain = c
		if dc := a.devnetClient(); devnet.IsDevnet(ctx, dc) {
			a.chain = devnet.Wrap(c, dc) // chain time is the devnet's logical clock
		}
		return a.chain, nil
	case errors.Is(err, waspchain.ErrUnauthorized) && cfg.Token != "" && len(cfg.Nodes) > 0:
		a.chainErr = withHint(fmt.Errorf("connect to %s: %w", nodes, err), exitUsage,
			"--token is the first --node's and goes to no other node; when the first cannot answer, give --chain-id and --l1, "+
				"which need no token on any node (docs/operations.md)")
	case errors.Is(err, waspchain.ErrUnauthorized):
		a.chainErr = withHint(fmt.Errorf("connect to %s: %w", nodes, err), exitUsage,
			"the node wants a JWT for that route: set --token (MICROPAY_TOKEN, or token: in the config file), "+
				"or give --chain-id and --l1, which need none (docs/operations.md)")
	default:
		a.chainErr = withHint(fmt.Errorf("connect to %s: %w", nodes, err), exitUnreachable,
			"start a local chain with `micropay devnet`, or point --node (MICROPAY_NODE) at a Wasp node's web API")
	}
	return nil, a.chainErr
}

// initL1 gives wasp the L1 parameters (the bech32 prefix of addresses and
// agent IDs) of --node before a command parses any address. When the node
// cannot be reached, the command fails with that, unless it needs no node
// (see nodeless): those get the devnet's parameters.
func (a *app) initL1(cmd *cobra.Command) error {
	short, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
	defer cancel()
	_, err := a.connect(short)
	if err == nil {
		return nil
	}
	if !nodeless(cmd) {
		return err
	}
	a.chainErr = nil // let a later connect retry and report
	defer func() {
		if recover() != nil {
			parameters.InitL1(parameters.L1ForTesting)
		}
	}()
	parameters.L1()
	return nil
}

// nodeless reports whether cmd works without a node: key new and show,
// and the operator commands, which talk to a provider's admin API.
func nodeless(cmd *cobra.Command) bool {
	switch cmd.CommandPath() {
	case "micropay key new", "micropay key show",
		"micropay provider status", "micropay provider settle", "micropay provider export":
		return true
	}
	return false
}

// devnetClient talks to the devnet-only routes of the first --node.
func (a *app) devnetClient() devnet.Client {
	var u string
	if urls := a.nodeURLs(); len(urls) > 0 {
		u = urls[0]
	}
	return devnet.Client{URL: u}
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

// keyOnChain loads the key file and connects to the chain of --node: what
// every command that signs a request starts with. The key comes first, so a
// missing key file is reported without asking the node anything.
func (a *app) keyOnChain(ctx context.Context) (*cryptolib.KeyPair, chain.Chain, error) {
	key, err := a.loadKey()
	if err != nil {
		return nil, nil, err
	}
	c, err := a.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	return key, c, nil
}

// consumer returns the consumer of the key file on the chain, with its
// payer state under HOME/payer. Close the returned closer when done.
func (a *app) consumer(ctx context.Context) (*consumer.Consumer, func(), error) {
	key, c, err := a.keyOnChain(ctx)
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
