package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/micropay/micropay/client/facilitator"
	"github.com/micropay/micropay/client/provider"
)

// facilitatorTokenFile is the facilitator's bearer token file in HOME: the
// resource servers send it (x402's FacilitatorConfig.createAuthHeaders).
const facilitatorTokenFile = "facilitator-token"

func (a *app) facilitatorCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "facilitator",
		Short:   "Serve x402's facilitator API (/supported, /verify, /settle) for stock x402 resource servers, settling through this provider's warrants",
		GroupID: "provider",
		Long: `facilitator runs the provider with the key file's identity, as serve does,
and serves x402 v2's facilitator API on --listen for the micropay-warrant
scheme (docs/x402-scheme.md): GET /supported, POST /verify (the provider's
rules, nothing stored), POST /settle (the payment synced to --store before
the answer; the settler redeems it on chain in batches, by --threshold,
--interval or --schedule, on demand and at once on a revocation). Point an
x402 resource server's HTTPFacilitatorClient at it with the bearer token
kept in HOME/facilitator-token (created 0600 on first start). --admin
serves the operator API and /metrics as for serve.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serveFacilitator(cmd.Context()) },
	}
	f := cmd.Flags()
	f.String("listen", "127.0.0.1:8404", "address of the facilitator API")
	f.String("admin", "127.0.0.1:8403", "operator API and /metrics")
	f.StringSlice("admin-host", nil, "also answer the operator API under this host name")
	addProviderFlags(f)
	// The resource server's requirements set the price; serve's --price is
	// parsed by the shared flag parser and unused here.
	f.String("price", "1", "unused: the resource server's paymentRequirements set the price")
	_ = f.MarkHidden("price")
	return cmd
}

func (a *app) serveFacilitator(ctx context.Context) error {
	_, sp, err := a.startProvider(ctx)
	if err != nil {
		return err
	}
	defer sp.store.Close()
	tokenPath := filepath.Join(a.v.GetString("home"), facilitatorTokenFile)
	tok, err := provider.LoadOrCreateToken(tokenPath)
	if err != nil {
		return withHint(err, exitKey, "remove the file to have a new token made, or fix it (0600, the token and a newline)")
	}
	fac, err := facilitator.New(facilitator.Config{Provider: sp.p, Token: tok})
	if err != nil {
		return err
	}
	admin, adminTokenPath, err := a.adminHandler(sp.p, sp.reg)
	if err != nil {
		return err
	}
	servers, err := listenAll([]listener{{a.v.GetString("listen"), provider.ServerConfig{}, fac.Handler()}, {a.v.GetString("admin"), adminServerConfig(), admin}})
	if err != nil {
		return err
	}
	sup := fac.Supported().Kinds[0]
	a.emit(map[string]any{"provider": sp.p.Agent().String(), "facilitator": "http://" + servers[0].Addr().String(), "token": tokenPath,
		"network": sup.Network, "scheme": sup.Scheme, "admin": "http://" + servers[1].Addr().String(), "adminToken": adminTokenPath, "store": sp.dir},
		fmt.Sprintf("facilitator for provider %s\n  x402       http://%s  (%s on %s; token in %s)\n  admin      http://%s  (token in %s)\n  store      %s\nCtrl-C to stop",
			sp.p.Agent(), servers[0].Addr(), sup.Scheme, sup.Network, tokenPath, servers[1].Addr(), adminTokenPath, sp.dir))
	return runUntilDone(ctx, sp.p, servers)
}

// listener is an address to serve a handler on.
type listener struct {
	addr string
	cfg  provider.ServerConfig
	h    http.Handler
}

// listenAll listens on every address, or on none: on a failure it closes
// those it opened.
func listenAll(ls []listener) ([]*provider.Server, error) {
	servers := make([]*provider.Server, 0, len(ls))
	for _, l := range ls {
		s, err := provider.Listen(l.addr, l.cfg, l.h)
		if err != nil {
			for _, s := range servers {
				_ = s.Close()
			}
			return nil, withHint(err, exitUsage, "is another provider running? choose other --listen / --admin addresses")
		}
		servers = append(servers, s)
	}
	return servers, nil
}
