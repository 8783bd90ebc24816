package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/micropay/micropay/client/devnet"
)

func (a *app) devnetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "devnet",
		Annotations: embedded,
		Short:       "Run a local chain with micropay deployed, serving the Wasp web API (and a faucet)",
		GroupID:     "local",
		Long: `devnet runs the embedded chain (Solo, the real ISC VM, micropay deployed) as a
long-running local node. It serves the Wasp web API routes the clients use, so
every other command talks to it exactly as to a real Wasp node, plus a faucet
(micropay faucet) and a logical clock (POST /devnet/clock/advance). State is
kept in --data across restarts.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			listen, data := a.v.GetString("listen"), a.v.GetString("data")
			if data == "" {
				data = filepath.Join(a.v.GetString("home"), "devnet")
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			d, err := devnet.New(devnet.Config{Data: data, Log: log})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				_ = d.Shutdown(context.Background())
				return withHint(err, exitUsage, "is another devnet running? choose another --listen address")
			}
			srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			info, err := d.Info()
			if err == nil {
				a.emit(map[string]any{"url": "http://" + ln.Addr().String(), "chainId": info.ChainID, "contract": info.ContractHname, "data": data},
					fmt.Sprintf("devnet on http://%s  chain %s  micropay %s  data %s\nCtrl-C to stop", ln.Addr(), info.ChainID, info.ContractHname, data))
			}
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The devnet first: it ends pending receipt waits, which the
			// HTTP server would otherwise wait out.
			derr := d.Shutdown(ctx)
			return errors.Join(derr, srv.Shutdown(ctx))
		},
	}
	cmd.Flags().String("listen", "127.0.0.1:9090", "address of the web API")
	cmd.Flags().String("data", "", "state directory (default HOME/devnet)")
	cmd.AddCommand(a.devnetAdvanceCommand())
	return cmd
}

func (a *app) devnetAdvanceCommand() *cobra.Command {
	return &cobra.Command{
		Use:         "advance DURATION",
		Annotations: embedded,
		Short:       "Move the running devnet's logical clock forward (e.g. 1h, 90m): deadlines pass, scheduled closes run",
		Long: `advance moves the logical clock of the devnet at --node forward by DURATION (Go syntax: 90s,
10m, 1h30m), through POST /devnet/clock/advance. The chain's next block carries the new time, so
a revoked warrant's deadline can pass in seconds: its scheduled close runs in that block and the
rest of the warrant comes back to the payer (see ` + "`micropay warrant info`" + ` and ` + "`micropay key show`" + `).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := time.ParseDuration(args[0])
			if err != nil || d < time.Second {
				return usageErrorf("DURATION %q: want a duration of at least 1s, such as 90s, 10m or 1h", args[0])
			}
			now, err := a.devnetClient().AdvanceClock(cmd.Context(), d)
			if err != nil {
				return withHint(fmt.Errorf("advance the devnet clock: %w", err), exitUnreachable,
					"the clock moves only on `micropay devnet`: is it running at --node?")
			}
			a.emit(map[string]any{"advanced": d.String(), "now": now.UTC().Format(time.RFC3339)},
				fmt.Sprintf("devnet clock advanced by %s; chain time now %s", d, now.Local().Format(time.RFC3339)))
			return nil
		},
	}
}
