package main

import (
	"context"
	"encoding/json"
	"errors"
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
	d := &demoRun{out: out, asJSON: asJSON, pieces: pieces, price: price, started: time.Now()}
	dir, err := os.MkdirTemp("", "micropay-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if d.e, err = solochain.New(solochain.Options{Name: "demo"}); err != nil {
		return err
	}
	defer d.e.Close()
	runCtx, stopRun := context.WithCancel(ctx)
	defer func() {
		stopRun()
		d.close()
	}()
	steps := []func(context.Context) error{
		d.fund,
		func(ctx context.Context) error { return d.startProvider(ctx, runCtx, filepath.Join(dir, "provider")) },
		func(ctx context.Context) error { return d.openConsumer(ctx, filepath.Join(dir, "payer")) },
		d.buyPieces, d.revokeAndSettle, d.scheduledClose,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	stopRun()
	return d.summarize(ctx)
}

// demoRun is one run of the demo: the embedded chain, a provider and a
// consumer, and what the steps learn on the way.
type demoRun struct {
	out     io.Writer
	asJSON  bool
	pieces  int
	price   uint64
	started time.Time

	e                  *solochain.Embedded
	provKey, consKey   *cryptolib.KeyPair
	prov, cons         isc.AgentID
	provSeam, consSeam *chain.Metered
	base               string // the provider's URL
	threshold          uint64
	c                  *consumer.Consumer
	tr                 *consumer.Transport
	closeFee           uint64 // the scheduled close's fee, from the revoke deposit
	consEnd            uint64 // the consumer's balance after the scheduled close

	closers []func() error
}

func (d *demoRun) say(format string, args ...any) {
	if !d.asJSON {
		fmt.Fprintf(d.out, format+"\n", args...)
	}
}

func (d *demoRun) total() uint64 { return uint64(d.pieces) * d.price }

func (d *demoRun) fund(ctx context.Context) error {
	d.provKey, d.consKey = cryptolib.NewKeyPair(), cryptolib.NewKeyPair()
	d.prov, d.cons = chain.AgentOf(d.provKey), chain.AgentOf(d.consKey)
	for _, agent := range []isc.AgentID{d.prov, d.cons} {
		if err := d.e.Fund(ctx, agent, demoFunds); err != nil {
			return fmt.Errorf("fund %s: %w", agent, err)
		}
	}
	d.say("embedded chain %s, micropay deployed\n  provider %s\n  consumer %s\n  each funded with %s on L2", d.e.ID(), d.prov, d.cons, tokens(demoFunds))
	return nil
}

// startProvider runs a provider with a durable store and a threshold of a
// quarter of the pieces until runCtx ends, behind a paywalled HTTP service
// on loopback.
func (d *demoRun) startProvider(ctx, runCtx context.Context, dir string) error {
	d.threshold = d.total() / 4
	d.provSeam = &chain.Metered{Chain: d.e}
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	p, err := provider.New(ctx, provider.Config{
		Chain: d.provSeam, Key: d.provKey, Store: st, Threshold: d.threshold, Margin: time.Minute,
		PollInterval: 100 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		_ = st.Close()
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = st.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/minute/", p.Paywall(provider.FixedPrice(d.price, "one call minute"), http.HandlerFunc(demoPiece)))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = p.Run(runCtx)
	}()
	go func() { _ = srv.Serve(ln) }()
	d.closers = append(d.closers, srv.Close, func() error {
		<-ran // the provider's last store write is done
		return st.Close()
	})
	d.base = "http://" + ln.Addr().String()
	d.say("provider serving %s/minute/N at %s a piece; settles whenever %s is unsettled", d.base, tokens(d.price), tokens(d.threshold))
	return nil
}

// openConsumer locks a warrant for all the pieces and a bit more and makes
// the paying HTTP transport.
func (d *demoRun) openConsumer(ctx context.Context, dir string) error {
	d.consSeam = &chain.Metered{Chain: d.e}
	states, err := consumer.OpenPayerState(dir)
	if err != nil {
		return err
	}
	d.closers = append(d.closers, states.Close)
	payer := consumer.NewPayer(d.consSeam, d.consKey, states)
	d.c = &consumer.Consumer{Chain: d.consSeam, Key: d.consKey, Payer: payer}
	amount := max(d.total()*5/4, 1_000_000)
	if _, err := d.c.AddWarrant(ctx, d.prov, amount, demoTimeout); err != nil {
		return err
	}
	d.say("consumer locked %s in a warrant for the provider (close timeout %s)", tokens(amount), demoTimeout)
	d.tr, err = consumer.NewTransport(payer, consumer.TransportOptions{MaxPrice: d.price, MaxTotal: d.total()})
	return err
}

func (d *demoRun) buyPieces(ctx context.Context) error {
	client := &http.Client{Transport: d.tr}
	var bar *progressbar.ProgressBar
	if !d.asJSON && isTerminal(os.Stderr) {
		bar = progressbar.NewOptions(d.pieces, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("buying pieces"),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	}
	for i := 1; i <= d.pieces; i++ {
		if err := d.buyPiece(ctx, client, i); err != nil {
			return fmt.Errorf("piece %d: %w", i, err)
		}
		if bar != nil {
			_ = bar.Add(1)
		}
	}
	// the last threshold settlement may still be landing
	info, err := d.waitFor(ctx, "the threshold settlements", func(w chain.WarrantInfo) bool { return d.total()-w.Paid < d.threshold })
	if err != nil {
		return err
	}
	d.say("bought %d pieces over HTTP, %s signed off-ledger; settled by threshold so far: %s", d.pieces, tokens(d.tr.Spent()), tokens(info.Paid))
	return nil
}

func (d *demoRun) buyPiece(ctx context.Context, client *http.Client, i int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/minute/"+strconv.Itoa(i), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// revokeAndSettle revokes the warrant and waits for the provider to settle
// every piece before the deadline.
func (d *demoRun) revokeAndSettle(ctx context.Context) error {
	deposit, err := chain.AskRevokeDeposit(ctx, d.e, d.cons, d.prov)
	if err != nil {
		return err
	}
	d.closeFee = deposit.CloseFee
	if _, err := d.c.Revoke(ctx, d.prov); err != nil {
		return err
	}
	info, err := d.e.WarrantInfo(ctx, d.cons, d.prov)
	if err != nil {
		return err
	}
	deadline := time.Unix(int64(info.Deadline), 0)
	now, err := d.e.Now(ctx)
	if err != nil {
		return err
	}
	d.say("consumer revoked the warrant: settlement closes in %s of chain time", deadline.Sub(now).Round(time.Second))
	info, err = d.waitFor(ctx, "the settlement after the revocation", func(w chain.WarrantInfo) bool { return w.Paid == d.total() })
	if err != nil {
		return err
	}
	if now, err = d.e.Now(ctx); err != nil {
		return err
	}
	d.say("provider saw the revocation and settled the rest: %s paid in all, %s before the deadline", tokens(info.Paid), deadline.Sub(now).Round(time.Second))
	return nil
}

// scheduledClose moves the chain's clock past the deadline, where the
// contract's scheduled close refunds the rest to the consumer.
func (d *demoRun) scheduledClose(ctx context.Context) error {
	info, err := d.e.WarrantInfo(ctx, d.cons, d.prov)
	if err != nil {
		return err
	}
	now, err := d.e.Now(ctx)
	if err != nil {
		return err
	}
	before, err := d.e.L2Balance(ctx, d.cons)
	if err != nil {
		return err
	}
	if err := d.e.AdvanceClock(time.Unix(int64(info.Deadline), 0).Sub(now) + time.Second); err != nil {
		return err
	}
	if d.consEnd, err = d.e.L2Balance(ctx, d.cons); err != nil {
		return err
	}
	if info, err = d.e.WarrantInfo(ctx, d.cons, d.prov); err != nil {
		return err
	}
	d.say("the deadline passed; the contract's scheduled close refunded %s to the consumer (warrant gone, next epoch %d)", tokens(d.consEnd-before), info.Epoch)
	return nil
}

// settlements counts the provider's settle requests that landed, single
// and batched.
func (d *demoRun) settlements() int {
	return d.provSeam.Landed(contract.FuncSettle.Name) + d.provSeam.Landed(contract.FuncSettleMany.Name)
}

// close releases what the steps opened, once runCtx has ended.
func (d *demoRun) close() {
	for _, c := range d.closers {
		_ = c()
	}
}

func (d *demoRun) summarize(ctx context.Context) error {
	provEnd, err := d.e.L2Balance(ctx, d.prov)
	if err != nil {
		return err
	}
	kept, err := d.e.L2Balance(ctx, d.e.Contract)
	if err != nil {
		return err
	}
	sum := demoSummary{
		Pieces: d.pieces, Price: d.price, Settlements: d.settlements(),
		Consumer: demoParty{d.cons.String(), demoFunds, d.consEnd, d.consSeam.Fees()},
		Provider: demoParty{d.prov.String(), demoFunds, provEnd, d.provSeam.Fees()},
		CloseFee: d.closeFee, ContractKept: kept, Elapsed: time.Since(d.started),
	}
	if d.asJSON {
		enc := json.NewEncoder(d.out)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	tw := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(d.out)
	fmt.Fprintln(tw, "\tstart\tend\tchange\tgas fees\t")
	for _, row := range []struct {
		name string
		p    demoParty
	}{{"consumer", sum.Consumer}, {"provider", sum.Provider}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%+d\t%d\t\n", row.name, row.p.Start, row.p.End, int64(row.p.End)-int64(row.p.Start), row.p.GasFees)
	}
	fmt.Fprintf(tw, "contract\t0\t%d\t%+d\t\t\n", kept, kept)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(d.out, "\n%d pieces at %d = %d paid to the provider in %d settle requests; the consumer paid that plus its gas and the\n"+
		"scheduled close's fee (%d); the contract kept %d. Amounts in base tokens. %s.\n",
		d.pieces, d.price, d.total(), sum.Settlements, sum.CloseFee, kept, time.Since(d.started).Round(100*time.Millisecond))
	return err
}

// waitFor polls the warrant while background work (the provider's
// settler) proceeds, until cond holds, for at most 30 s.
func (d *demoRun) waitFor(ctx context.Context, what string, cond func(chain.WarrantInfo) bool) (chain.WarrantInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := d.e.WarrantInfo(ctx, d.cons, d.prov)
		if err == nil && cond(info) {
			return info, nil
		}
		select {
		case <-ctx.Done():
			return info, fmt.Errorf("waiting for %s: %w (last read: %+v, err %v)", what, ctx.Err(), info, err)
		case <-tick.C:
		}
	}
}

// isTerminal reports whether f is a character device (a terminal), where a
// progress bar belongs.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
