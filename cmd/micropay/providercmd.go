package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
)

func (a *app) providerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "provider", Short: "Run a provider and operate it", GroupID: "provider"}
	cmd.PersistentFlags().String("admin", "127.0.0.1:8403", "operator API and /metrics: the address serve listens on, and where settle, status and export call it (host:port or an http(s):// URL)")
	cmd.PersistentFlags().String("admin-url", "", "old name of --admin for the operator commands")
	_ = cmd.PersistentFlags().MarkDeprecated("admin-url", "use --admin")
	cmd.PersistentFlags().String("admin-token", "", "operator API token (default: read from HOME/"+operatorTokenFile+", which serve creates)")
	cmd.AddCommand(a.providerServeCommand())

	cmd.AddCommand(a.providerSettleCommand(), a.providerStatusCommand(), a.providerExportCommand())
	return cmd
}

func (a *app) providerServeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the provider: a paywalled service, POST /pay, the settler, the operator API and /metrics",
		Long: `serve runs a provider with the key file's identity. --listen serves the
paywalled service (a reverse proxy to --upstream, or built-in demo pieces) and
POST /pay for metered services that are not HTTP. --admin serves the operator
API (GET /warrants, POST /settle, GET /receipts) and /metrics: every request
needs the bearer token that serve keeps in HOME/operator-token (created 0600 on
first start; the operator commands read it), a Host of --admin or --admin-host,
and no foreign Origin.
Every accepted payment is synced to --store before it is acknowledged; the
settler settles by --threshold, on --interval or --schedule (cron), on demand
and at once when a warrant is revoked, before its deadline minus --margin.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serveProvider(cmd.Context()) },
	}
	f := cmd.Flags()
	f.String("listen", "127.0.0.1:8402", "address of the paywalled service and POST /pay")
	f.StringSlice("admin-host", nil, "also answer the operator API under this host name (e.g. a reverse proxy's); loopback names are always allowed")
	f.String("price", "1_000", "price of one piece (one request), in base tokens")
	f.String("upstream", "", "URL to reverse-proxy paid requests to (default: built-in demo pieces)")
	addProviderFlags(f)
	return cmd
}

// addProviderFlags adds the flags of the provider that serve and the
// facilitator both run: its store, its settlement policy and its start-up
// check.
func addProviderFlags(f *pflag.FlagSet) {
	f.String("store", "", "payment store directory (default HOME/provider)")
	f.String("threshold", "100_000", "settle a warrant when its unsettled amount reaches this (0: never by threshold)")
	f.Duration("interval", 0, "also settle every warrant at this interval (0: no interval)")
	f.String("schedule", "", `also settle on this cron schedule, e.g. "0 2 * * *" or "@hourly"`)
	f.Duration("margin", 10*time.Minute, "settlement safety margin before a revoked warrant's deadline")
	f.Duration("poll", 30*time.Second, "while the node's event feed is down: how often warrants with unsettled payments are checked for revocation")
	f.String("exposure-cap", "0", "most a warrant may owe unsettled (0: up to its balance)")
	f.Bool("accept-store-mismatch", false, "start although the store lacks payments the chain settled (recorded in the store; asked once per finding)")
	addSettleFlags(f)
}

// addSettleFlags adds the flags of how the settler sends what is due:
// serve's and the facilitator's. A value out of bounds is refused as the
// flags are parsed, before the node is contacted; parseSettleFlags checks
// the values a config file gives.
func addSettleFlags(f *pflag.FlagSet) {
	f.Var(&boundedInt{v: provider.DefaultSettleBatch, lo: 1, hi: contract.MaxSettlementsPerRequest, unit: "warrants per request"}, "settle-batch", fmt.Sprintf(
		"warrants per settleMany request when many are due (schedule, interval, settle); 1 to %d, the contract's limit", contract.MaxSettlementsPerRequest))
	f.Var(&boundedInt{v: 1, lo: 1, hi: maxSettleInFlight, unit: "requests at once"}, "settle-in-flight", fmt.Sprintf(
		"settle requests of a schedule in flight at once (the node takes them in nonce order); 1 to %d. Revoked warrants go out in requests of their own beside these", maxSettleInFlight))
}

// boundedInt is an int flag that refuses values outside lo..hi.
type boundedInt struct {
	v, lo, hi int
	unit      string
}

func (b *boundedInt) String() string { return strconv.Itoa(b.v) }
func (b *boundedInt) Type() string   { return "int" }
func (b *boundedInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	if n < b.lo || n > b.hi {
		return fmt.Errorf("%d to %d %s", b.lo, b.hi, b.unit)
	}
	b.v = n
	return nil
}

// maxSettleInFlight bounds --settle-in-flight: more requests at once than
// a block takes buy nothing and only hold the signer's nonces ahead.
const maxSettleInFlight = 64

// serveFlags are serve's flags, parsed.
type serveFlags struct {
	price, threshold, exposure uint64
	schedule                   provider.Schedule
	upstream                   *url.URL // nil: the built-in demo pieces
	settleBatch                int      // warrants per settleMany request
	settleInFlight             int      // bulk settle requests at once
}

// parseSettleFlags checks --settle-batch and --settle-in-flight.
func parseSettleFlags(batch, inFlight int) (int, int, error) {
	if batch < 1 || batch > contract.MaxSettlementsPerRequest {
		return 0, 0, usageErrorf("--settle-batch %d: 1 to %d warrants per request", batch, contract.MaxSettlementsPerRequest)
	}
	if inFlight < 1 || inFlight > maxSettleInFlight {
		return 0, 0, usageErrorf("--settle-in-flight %d: 1 to %d requests at once", inFlight, maxSettleInFlight)
	}
	return batch, inFlight, nil
}

func (a *app) parseServeFlags() (serveFlags, error) {
	v := a.v
	var f serveFlags
	var err error
	for _, amt := range []struct {
		flag string
		dst  *uint64
	}{{"price", &f.price}, {"threshold", &f.threshold}, {"exposure-cap", &f.exposure}} {
		if *amt.dst, err = parseAmount("--"+amt.flag, v.GetString(amt.flag)); err != nil {
			return f, err
		}
	}
	switch {
	case v.GetString("schedule") != "" && v.GetDuration("interval") != 0:
		return f, usageErrorf("use --schedule or --interval, not both")
	case v.GetString("schedule") != "":
		if f.schedule, err = provider.Cron(v.GetString("schedule")); err != nil {
			return f, usageErrorf("%v", err)
		}
	case v.GetDuration("interval") != 0:
		f.schedule = provider.Every(v.GetDuration("interval"))
	}
	if f.settleBatch, f.settleInFlight, err = parseSettleFlags(v.GetInt("settle-batch"), v.GetInt("settle-in-flight")); err != nil {
		return f, err
	}
	if u := v.GetString("upstream"); u != "" {
		if f.upstream, err = url.Parse(u); err != nil || f.upstream.Host == "" {
			return f, usageErrorf("--upstream %q is not an absolute URL", u)
		}
	}
	return f, nil
}

// servingProvider is what serve runs: the provider, its store and metrics.
type servingProvider struct {
	p     *provider.Provider
	store *store.Pebble
	dir   string
	reg   *prometheus.Registry
}

// openProvider opens the store and starts the provider on the chain.
func (a *app) openProvider(ctx context.Context, f serveFlags) (*servingProvider, error) {
	key, c, err := a.keyOnChain(ctx)
	if err != nil {
		return nil, err
	}
	dir := a.v.GetString("store")
	if dir == "" {
		dir = filepath.Join(a.v.GetString("home"), "provider")
	}
	st, err := store.Open(dir)
	if errors.Is(err, store.ErrDamaged) {
		return nil, withHint(fmt.Errorf("open payment store %s: %w", dir, err), exitFailure, "nothing is served on a store that lost acknowledged payments")
	}
	if err != nil {
		return nil, fmt.Errorf("open payment store %s: %w", dir, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	feed, _ := c.(chain.Feed) // the node's websocket: revocations and new warrants arrive as their blocks are made
	p, err := provider.New(ctx, provider.Config{
		Chain: c, Feed: feed, Key: key, Store: st, Threshold: f.threshold, ExposureCap: f.exposure, Schedule: f.schedule,
		SettleBatch: f.settleBatch, SettleInFlight: f.settleInFlight,
		Margin: a.v.GetDuration("margin"), PollInterval: a.v.GetDuration("poll"),
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), Metrics: provider.NewMetrics(reg),
		AcceptStoreMismatch: a.v.GetBool("accept-store-mismatch"),
	})
	if err != nil {
		_ = st.Close()
		switch {
		case errors.Is(err, provider.ErrUnsafeSettings):
			return nil, withHint(err, exitUsage, "--poll must be below --margin")
		case errors.Is(err, provider.ErrStoreMismatch):
			return nil, withHint(err, exitFailure, "once you have checked: micropay provider serve --accept-store-mismatch (recorded in the store; asked once per finding)")
		}
		return nil, err
	}
	provider.CollectWarrants(reg, p)
	return &servingProvider{p: p, store: st, dir: dir, reg: reg}, nil
}

// startProvider parses serve's flags and opens the provider they describe:
// provider serve and micropay facilitator both start here. Close sp.store
// when done.
func (a *app) startProvider(ctx context.Context) (serveFlags, *servingProvider, error) {
	f, err := a.parseServeFlags()
	if err != nil {
		return f, nil, err
	}
	sp, err := a.openProvider(ctx, f)
	return f, sp, err
}

func (a *app) serveProvider(ctx context.Context) error {
	f, sp, err := a.startProvider(ctx)
	if err != nil {
		return err
	}
	defer sp.store.Close()
	p := sp.p

	var service http.Handler = http.HandlerFunc(demoPiece)
	if f.upstream != nil {
		service = httputil.NewSingleHostReverseProxy(f.upstream)
	}
	pay, meterPath, err := a.meterHandler(p, f.price)
	if err != nil {
		return err
	}
	public := http.NewServeMux()
	public.Handle("/pay", pay)
	public.Handle("/", p.Paywall(provider.FixedPrice(f.price, "one piece"), service))
	admin, tokenPath, err := a.adminHandler(p, sp.reg)
	if err != nil {
		return err
	}
	servers, err := listenAll([]listener{{a.v.GetString("listen"), provider.ServerConfig{}, public}, {a.v.GetString("admin"), adminServerConfig(), admin}})
	if err != nil {
		return err
	}
	a.emit(map[string]any{"provider": p.Agent().String(), "service": "http://" + servers[0].Addr().String(),
		"admin": "http://" + servers[1].Addr().String(), "adminToken": tokenPath, "meterToken": meterPath, "price": f.price, "store": sp.dir},
		fmt.Sprintf("provider %s\n  service  http://%s  (%s a piece; POST /pay for metered services, token in %s)\n  admin    http://%s  (/warrants /settle /receipts /metrics; token in %s)\n  store    %s\nCtrl-C to stop",
			p.Agent(), servers[0].Addr(), tokens(f.price), meterPath, servers[1].Addr(), tokenPath, sp.dir))
	return runUntilDone(ctx, p, servers)
}

// runUntilDone runs the settler and the servers until ctx is done, then
// shuts them down.
func runUntilDone(ctx context.Context, p *provider.Provider, servers []*provider.Server) error {
	runCtx, stopRun := context.WithCancel(ctx)
	settled := make(chan error, 1)
	go func() { settled <- p.Run(runCtx) }()
	for _, s := range servers {
		go func(s *provider.Server) { _ = s.Serve() }(s)
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Shutdown(shutdown))
	}
	stopRun()
	errs = append(errs, <-settled)
	return errors.Join(errs...)
}

// adminHandler is the admin listener's handler: the operator API and
// /metrics, both behind the operator token (created in HOME on first
// start; its path is returned) and the Host allowlist.
func (a *app) adminHandler(p *provider.Provider, reg *prometheus.Registry) (http.Handler, string, error) {
	path := a.operatorTokenPath()
	tok, err := provider.LoadOrCreateToken(path)
	if err != nil {
		return nil, "", withHint(err, exitKey, "remove the file to have a new token made, or fix it (0600, the token and a newline)")
	}
	hosts, err := adminHosts(a.v.GetString("admin"), a.v.GetStringSlice("admin-host"))
	if err != nil {
		return nil, "", err
	}
	access := provider.OperatorAccess{Token: tok, Hosts: hosts}
	api, err := p.OperatorAPI(access)
	if err != nil {
		return nil, "", err
	}
	metrics, err := access.Guard(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if err != nil {
		return nil, "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.Handle("/", api)
	return mux, path, nil
}

// adminHosts are the Host names the operator API answers to: the loopback
// names, the --admin address's host unless it is a wildcard, and extra.
func adminHosts(listen string, extra []string) ([]string, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, usageErrorf("--admin %q: %v", listen, err)
	}
	hosts := []string{"localhost", "127.0.0.1", "[::1]"}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		hosts = append(hosts, host)
	}
	for _, h := range extra {
		if h = strings.TrimSpace(h); h == "" || strings.ContainsAny(h, "/ ") {
			return nil, usageErrorf("--admin-host %q: want a host name or host:port", h)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// demoPiece is the built-in paywalled content: one numbered piece.
func demoPiece(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "piece %s, served %s\n", r.URL.Path, time.Now().UTC().Format(time.RFC3339))
}
