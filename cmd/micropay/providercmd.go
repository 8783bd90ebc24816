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
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
)

func (a *app) providerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "provider", Short: "Run a provider and operate it", GroupID: "provider"}
	cmd.PersistentFlags().String("admin-url", "http://127.0.0.1:8403", "operator API of the running provider (for settle, status, export)")
	cmd.AddCommand(a.providerServeCommand())

	var payer string
	settle := &cobra.Command{
		Use:   "settle",
		Short: "Settle now: every warrant, or the one of --payer",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := ""
			if payer != "" {
				if _, err := agentArg("--payer", payer); err != nil {
					return err
				}
				q = "?payer=" + url.QueryEscape(payer)
			}
			var out struct {
				Settlements []provider.SettlementView `json:"settlements"`
				Error       string                    `json:"error"`
			}
			if err := a.adminCall(cmd.Context(), http.MethodPost, "/settle"+q, &out); err != nil {
				return err
			}
			var b strings.Builder
			if len(out.Settlements) == 0 {
				b.WriteString("nothing to settle")
			}
			for _, s := range out.Settlements {
				fmt.Fprintf(&b, "%s  epoch %d ordinal %d  %s  paid %s\n", s.Payer, s.Epoch, s.Ordinal, s.State, tokens(s.Paid))
			}
			a.emit(out, strings.TrimRight(b.String(), "\n"))
			if out.Error != "" {
				return withHint(errors.New(out.Error), exitUnreachable, "the provider keeps retrying in the background")
			}
			return nil
		},
	}
	settle.Flags().StringVar(&payer, "payer", "", "only this payer's warrant")
	cmd.AddCommand(settle)

	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List the provider's warrants with exposure and deadlines",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ws []provider.WarrantView
			if err := a.adminCall(cmd.Context(), http.MethodGet, "/warrants", &ws); err != nil {
				return err
			}
			var b strings.Builder
			tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "payer\tepoch\tbalance\tsettled\tunsettled\tlast ordinal\tdeadline")
			for _, w := range ws {
				dl := "-"
				if w.Deadline != 0 {
					dl = time.Unix(int64(w.Deadline), 0).UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", w.Payer, w.Epoch, w.Balance, w.Settled, w.Unsettled, w.LastOrdinal, dl)
			}
			tw.Flush()
			a.emit(ws, strings.TrimRight(b.String(), "\n")+"\n(amounts in base tokens)")
			return nil
		},
	})

	var format, since, until, exportPayer string
	export := &cobra.Command{
		Use:   "export",
		Short: "Export itemized receipts for billing (CSV or JSON Lines) to stdout",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"format": {format}}
			for k, v := range map[string]string{"since": since, "until": until, "payer": exportPayer} {
				if v != "" {
					q.Set(k, v)
				}
			}
			resp, err := a.adminRequest(cmd.Context(), http.MethodGet, "/receipts?"+q.Encode())
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(os.Stdout, resp.Body)
			return err
		},
	}
	export.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	export.Flags().StringVar(&since, "since", "", "only receipts accepted at or after this RFC 3339 time")
	export.Flags().StringVar(&until, "until", "", "only receipts accepted before this RFC 3339 time")
	export.Flags().StringVar(&exportPayer, "payer", "", "only this payer's receipts")
	cmd.AddCommand(export)
	return cmd
}

func (a *app) adminRequest(ctx context.Context, method, path string) (*http.Response, error) {
	base := strings.TrimRight(a.v.GetString("admin-url"), "/")
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return nil, usageErrorf("--admin-url %q: %v", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, withHint(fmt.Errorf("provider operator API: %w", err), exitUnreachable, "is `micropay provider serve` running? --admin-url sets where")
	}
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusBadGateway {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, usageErrorf("provider operator API: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return resp, nil
}

func (a *app) adminCall(ctx context.Context, method, path string, out any) error {
	resp, err := a.adminRequest(ctx, method, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

func (a *app) providerServeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the provider: a paywalled service, POST /pay, the settler, the operator API and /metrics",
		Long: `serve runs a provider with the key file's identity. --listen serves the
paywalled service (a reverse proxy to --upstream, or built-in demo pieces) and
POST /pay for metered services that are not HTTP. --admin serves the operator
API (GET /warrants, POST /settle, GET /receipts) and /metrics; keep it private.
Every accepted payment is synced to --store before it is acknowledged; the
settler settles by --threshold, on --interval or --schedule (cron), on demand
and at once when a warrant is revoked, before its deadline minus --margin.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serveProvider(cmd.Context()) },
	}
	f := cmd.Flags()
	f.String("listen", "127.0.0.1:8402", "address of the paywalled service and POST /pay")
	f.String("admin", "127.0.0.1:8403", "address of the operator API and /metrics")
	f.String("price", "1_000", "price of one piece (one request), in base tokens")
	f.String("upstream", "", "URL to reverse-proxy paid requests to (default: built-in demo pieces)")
	f.String("store", "", "payment store directory (default HOME/provider)")
	f.String("threshold", "100_000", "settle a warrant when its unsettled amount reaches this (0: never by threshold)")
	f.Duration("interval", 0, "also settle every warrant at this interval (0: no interval)")
	f.String("schedule", "", `also settle on this cron schedule, e.g. "0 2 * * *" or "@hourly"`)
	f.Duration("margin", 10*time.Minute, "settlement safety margin before a revoked warrant's deadline")
	f.Duration("poll", 30*time.Second, "how often warrants with unsettled payments are checked for revocation")
	f.String("exposure-cap", "0", "most a warrant may owe unsettled (0: up to its balance)")
	return cmd
}

func (a *app) serveProvider(ctx context.Context) error {
	v := a.v
	price, err := parseAmount("--price", v.GetString("price"))
	if err != nil {
		return err
	}
	threshold, err := parseAmount("--threshold", v.GetString("threshold"))
	if err != nil {
		return err
	}
	exposure, err := parseAmount("--exposure-cap", v.GetString("exposure-cap"))
	if err != nil {
		return err
	}
	var schedule provider.Schedule
	switch {
	case v.GetString("schedule") != "" && v.GetDuration("interval") != 0:
		return usageErrorf("use --schedule or --interval, not both")
	case v.GetString("schedule") != "":
		if schedule, err = provider.Cron(v.GetString("schedule")); err != nil {
			return usageErrorf("%v", err)
		}
	case v.GetDuration("interval") != 0:
		schedule = provider.Every(v.GetDuration("interval"))
	}
	var upstream *url.URL
	if u := v.GetString("upstream"); u != "" {
		if upstream, err = url.Parse(u); err != nil || upstream.Host == "" {
			return usageErrorf("--upstream %q is not an absolute URL", u)
		}
	}
	key, err := a.loadKey()
	if err != nil {
		return err
	}
	c, err := a.connect(ctx)
	if err != nil {
		return err
	}
	dir := v.GetString("store")
	if dir == "" {
		dir = filepath.Join(v.GetString("home"), "provider")
	}
	st, err := store.Open(dir)
	if err != nil {
		return fmt.Errorf("open payment store %s: %w", dir, err)
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	p, err := provider.New(ctx, provider.Config{
		Chain: c, Key: key, Store: st, Threshold: threshold, ExposureCap: exposure, Schedule: schedule,
		Margin: v.GetDuration("margin"), PollInterval: v.GetDuration("poll"), Log: log, Metrics: provider.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	provider.CollectWarrants(reg, p)

	var service http.Handler = http.HandlerFunc(demoPiece)
	if upstream != nil {
		service = httputil.NewSingleHostReverseProxy(upstream)
	}
	public := http.NewServeMux()
	public.Handle("/pay", p.PayHandler())
	public.Handle("/", p.Paywall(provider.FixedPrice(price, "one piece"), service))
	admin := http.NewServeMux()
	admin.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	admin.Handle("/", p.OperatorAPI())

	servers := []*http.Server{
		{Addr: v.GetString("listen"), Handler: public, ReadHeaderTimeout: 10 * time.Second},
		{Addr: v.GetString("admin"), Handler: admin, ReadHeaderTimeout: 10 * time.Second},
	}
	listeners := make([]net.Listener, len(servers))
	for i, s := range servers {
		if listeners[i], err = net.Listen("tcp", s.Addr); err != nil {
			return withHint(err, exitUsage, "is another provider running? choose other --listen / --admin addresses")
		}
	}
	runCtx, stopRun := context.WithCancel(ctx)
	settled := make(chan error, 1)
	go func() { settled <- p.Run(runCtx) }()
	for i, s := range servers {
		go func(s *http.Server, ln net.Listener) { _ = s.Serve(ln) }(s, listeners[i])
	}
	a.emit(map[string]any{"provider": p.Agent().String(), "service": "http://" + listeners[0].Addr().String(),
		"admin": "http://" + listeners[1].Addr().String(), "price": price, "store": dir},
		fmt.Sprintf("provider %s\n  service  http://%s  (%s a piece; POST /pay for metered services)\n  admin    http://%s  (/warrants /settle /receipts /metrics)\n  store    %s\nCtrl-C to stop",
			p.Agent(), listeners[0].Addr(), tokens(price), listeners[1].Addr(), dir))

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

// demoPiece is the built-in paywalled content: one numbered piece.
func demoPiece(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "piece %s, served %s\n", r.URL.Path, time.Now().UTC().Format(time.RFC3339))
}
