package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
)

func (a *app) demoCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "demo",
		Annotations: embedded,
		Short:       "Watch a consumer buy pieces over HTTP from a provider on the embedded chain, end to end",
		GroupID:     "local",
		Long: `demo runs everything in one process on the embedded chain (Solo, the real ISC
VM): a provider with a paywalled HTTP service on loopback, a consumer whose
HTTP client pays 402 answers, settlement by threshold while pieces stream,
the consumer's revocation, the provider settling before the deadline, the
deadline passing and the contract's scheduled close refunding the rest. It
ends with every balance.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pieces := a.v.GetInt("pieces")
			price, err := parseAmount("--price", a.v.GetString("price"))
			if err != nil {
				return err
			}
			if pieces < 1 {
				return usageErrorf("--pieces must be at least 1")
			}
			return runDemo(cmd.Context(), os.Stdout, a.json, pieces, price)
		},
	}
	cmd.Flags().Int("pieces", 1_000, "pieces the consumer buys")
	cmd.Flags().String("price", "1_000", "price of one piece, in base tokens")
	return cmd
}

// demoSummary is what --json prints.
type demoSummary struct {
	Pieces      int       `json:"pieces"`
	Price       uint64    `json:"price"`
	Settlements int       `json:"settlements"`
	Consumer    demoParty `json:"consumer"`
	Provider    demoParty `json:"provider"`
	// CloseFee is the scheduled close's fee, paid from the consumer's revoke
	// deposit (the rest of which came back); ContractKept is what the
	// contract's account holds at the end: 0 once every warrant is closed.
	CloseFee     uint64        `json:"closeFee"`
	ContractKept uint64        `json:"contractKept"`
	Elapsed      time.Duration `json:"elapsedNs"`
}

type demoParty struct {
	Agent   string `json:"agent"`
	Start   uint64 `json:"start"`
	End     uint64 `json:"end"`
	GasFees uint64 `json:"gasFees"`
}

const (
	demoFunds   = 50_000_000
	demoTimeout = 10 * time.Minute
)

func runDemo(ctx context.Context, out io.Writer, asJSON bool, pieces int, price uint64) error {
	started := time.Now()
	say := func(format string, args ...any) {
		if !asJSON {
			fmt.Fprintf(out, format+"\n", args...)
		}
	}
	dir, err := os.MkdirTemp("", "micropay-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	e, err := solochain.New(solochain.Options{Name: "demo"})
	if err != nil {
		return err
	}
	defer e.Close()
	provKey, consKey := cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
	prov, cons := chain.AgentOf(provKey), chain.AgentOf(consKey)
	for _, agent := range []isc.AgentID{prov, cons} {
		if err := e.Fund(ctx, agent, demoFunds); err != nil {
			return err
		}
	}
	say("embedded chain %s, micropay deployed\n  provider %s\n  consumer %s\n  each funded with %s on L2", e.ID(), prov, cons, tokens(demoFunds))

	// The provider: durable store, threshold of a quarter of the pieces.
	threshold := uint64(pieces) * price / 4
	provSeam := &chain.Metered{Chain: e}
	st, err := store.Open(filepath.Join(dir, "provider"))
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := provider.New(ctx, provider.Config{
		Chain: provSeam, Key: provKey, Store: st, Threshold: threshold, Margin: time.Minute,
		PollInterval: 100 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() { _ = p.Run(runCtx) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/minute/", p.Paywall(provider.FixedPrice(price, "one call minute"), http.HandlerFunc(demoPiece)))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	say("provider serving %s/minute/N at %s a piece; settles whenever %s is unsettled", base, tokens(price), tokens(threshold))

	// The consumer: a warrant for all the pieces and a bit more.
	consSeam := &chain.Metered{Chain: e}
	states, err := consumer.OpenPayerState(filepath.Join(dir, "payer"))
	if err != nil {
		return err
	}
	defer states.Close()
	payer := consumer.NewPayer(consSeam, consKey, states)
	c := &consumer.Consumer{Chain: consSeam, Key: consKey, Payer: payer}
	warrantAmount := max(uint64(pieces)*price*5/4, 1_000_000)
	if _, err := c.AddWarrant(ctx, prov, warrantAmount, demoTimeout); err != nil {
		return err
	}
	say("consumer locked %s in a warrant for the provider (close timeout %s)", tokens(warrantAmount), demoTimeout)
	tr, err := consumer.NewTransport(payer, consumer.TransportOptions{MaxPrice: price, MaxTotal: uint64(pieces) * price})
	if err != nil {
		return err
	}
	client := &http.Client{Transport: tr}
	var bar *progressbar.ProgressBar
	if !asJSON && isTerminal(os.Stderr) {
		bar = progressbar.NewOptions(pieces, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("buying pieces"),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	}
	for i := 1; i <= pieces; i++ {
		resp, err := client.Get(base + "/minute/" + strconv.Itoa(i))
		if err != nil {
			return fmt.Errorf("piece %d: %w", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("piece %d: %s", i, resp.Status)
		}
		if bar != nil {
			_ = bar.Add(1)
		}
	}
	info, err := e.WarrantInfo(ctx, cons, prov)
	if err != nil {
		return err
	}
	waitUntil(ctx, func() bool { // the last threshold settlement may still be landing
		info, err = e.WarrantInfo(ctx, cons, prov)
		return err == nil && uint64(pieces)*price-info.Paid < threshold
	})
	say("bought %d pieces over HTTP, %s signed off-ledger; settled by threshold so far: %s", pieces, tokens(tr.Spent()), tokens(info.Paid))

	if _, err := c.Revoke(ctx, prov); err != nil {
		return err
	}
	info, _ = e.WarrantInfo(ctx, cons, prov)
	deadline := time.Unix(int64(info.Deadline), 0)
	now, _ := e.Now(ctx)
	say("consumer revoked the warrant: settlement closes in %s of chain time", deadline.Sub(now).Round(time.Second))
	waitUntil(ctx, func() bool {
		info, err = e.WarrantInfo(ctx, cons, prov)
		return err == nil && info.Paid == uint64(pieces)*price
	})
	now, _ = e.Now(ctx)
	say("provider saw the revocation and settled the rest: %s paid in all, %s before the deadline", tokens(info.Paid), deadline.Sub(now).Round(time.Second))

	consBefore, _ := e.L2Balance(ctx, cons)
	if err := e.AdvanceClock(deadline.Sub(now) + time.Second); err != nil {
		return err
	}
	consAfter, _ := e.L2Balance(ctx, cons)
	info, _ = e.WarrantInfo(ctx, cons, prov)
	say("the deadline passed; the contract's scheduled close refunded %s to the consumer (warrant gone, next epoch %d)", tokens(consAfter-consBefore), info.Epoch)
	stopRun()

	provEnd, _ := e.L2Balance(ctx, prov)
	kept, _ := e.L2Balance(ctx, e.Contract)
	sum := demoSummary{
		Pieces: pieces, Price: price, Settlements: provSeam.Landed(contract.FuncSettle.Name),
		Consumer:     demoParty{cons.String(), demoFunds, consAfter, consSeam.Fees()},
		Provider:     demoParty{prov.String(), demoFunds, provEnd, provSeam.Fees()},
		CloseFee:     e.Chain.GetGasFeePolicy().FeeFromGas(contract.ScheduledCloseGas, nil, parameters.L1().BaseToken.Decimals),
		ContractKept: kept, Elapsed: time.Since(started),
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(out)
	fmt.Fprintln(tw, "\tstart\tend\tchange\tgas fees\t")
	fmt.Fprintf(tw, "consumer\t%d\t%d\t%+d\t%d\t\n", demoFunds, consAfter, int64(consAfter)-demoFunds, consSeam.Fees())
	fmt.Fprintf(tw, "provider\t%d\t%d\t%+d\t%d\t\n", demoFunds, provEnd, int64(provEnd)-demoFunds, provSeam.Fees())
	fmt.Fprintf(tw, "contract\t0\t%d\t%+d\t\t\n", kept, kept)
	tw.Flush()
	fmt.Fprintf(out, "\n%d pieces at %d = %d paid to the provider in %d settle requests; the consumer paid that plus its gas and the\n"+
		"scheduled close's fee (%d); the contract kept %d. Amounts in base tokens. %s.\n",
		pieces, price, uint64(pieces)*price, provSeam.Landed(contract.FuncSettle.Name), sum.CloseFee, kept, time.Since(started).Round(100*time.Millisecond))
	return nil
}

// waitUntil polls cond while background work (the provider's settler)
// proceeds, for at most 30 s.
func waitUntil(ctx context.Context, cond func() bool) {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

// isTerminal reports whether f is a character device (a terminal), where a
// progress bar belongs.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
