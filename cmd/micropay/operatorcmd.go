package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/micropay/micropay/client/provider"
)

// The operator commands: settle, status and export call the running
// provider's operator API with its token.

func (a *app) providerSettleCommand() *cobra.Command {
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
	return settle
}

func (a *app) providerStatusCommand() *cobra.Command {
	return &cobra.Command{
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
	}
}

func (a *app) providerExportCommand() *cobra.Command {
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
	return export
}

// operatorTokenFile is the operator API token's file in the provider's
// home: serve creates it (0600) on first start, the operator commands read
// it.
const operatorTokenFile = "operator-token"

func (a *app) operatorTokenPath() string {
	return filepath.Join(a.v.GetString("home"), operatorTokenFile)
}

// adminToken is --admin-token (or MICROPAY_ADMIN_TOKEN), else the token
// file in HOME.
func (a *app) adminToken() (string, error) {
	if t := a.v.GetString("admin-token"); t != "" {
		return t, nil
	}
	path := a.operatorTokenPath()
	tok, err := provider.ReadToken(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", withHint(err, exitNotFound, "`micropay provider serve` creates it on first start with the same --home; or pass --admin-token")
	}
	if err != nil {
		return "", withHint(err, exitKey, "the token file must be a 0600 regular file holding the token serve wrote")
	}
	return tok, nil
}

// adminBase is the operator API's base URL: --admin (or its deprecated
// alias --admin-url), with http:// added to a bare host:port.
func (a *app) adminBase() string {
	base := a.v.GetString("admin-url")
	if base == "" {
		base = a.v.GetString("admin")
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return strings.TrimRight(base, "/")
}

func (a *app) adminRequest(ctx context.Context, method, path string) (*http.Response, error) {
	base := a.adminBase()
	tok, err := a.adminToken()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return nil, usageErrorf("--admin %q: %v", base, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, withHint(fmt.Errorf("provider operator API: %w", err), exitUnreachable, "is `micropay provider serve` running? --admin sets where")
	}
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusBadGateway {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		err := fmt.Errorf("provider operator API: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return nil, withHint(err, exitUsage, "use the provider's own --home, or --admin-token with the token in its "+operatorTokenFile+" file")
		case http.StatusMisdirectedRequest:
			return nil, withHint(err, exitUsage, "name the provider in --admin as serve allows (--admin-host)")
		}
		return nil, &usageError{err.Error()}
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
