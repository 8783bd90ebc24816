package main

import (
	"net/http"
	"path/filepath"
	"time"

	"github.com/micropay/micropay/client/provider"
)

// meterTokenFile is the POST /pay meter token's file in the provider's
// home: serve creates it (0600) on first start; the provider's meters send
// it as "Authorization: Bearer TOKEN".
const meterTokenFile = "meter-token"

// meterHandler is POST /pay for the provider's meters, at price a piece and
// behind the meter token (created in HOME on first start; its path is
// returned).
func (a *app) meterHandler(p *provider.Provider, price uint64) (http.Handler, string, error) {
	path := filepath.Join(a.v.GetString("home"), meterTokenFile)
	tok, err := provider.LoadOrCreateToken(path)
	if err != nil {
		return nil, "", withHint(err, exitKey, "remove the file to have a new meter token made, or fix it (0600, the token and a newline)")
	}
	h, err := p.PayHandler(provider.PayConfig{Price: price, Token: tok})
	if err != nil {
		return nil, "", err
	}
	return h, path, nil
}

// adminServerConfig bounds the operator listener as the public one, but
// lets a receipts export stream for up to 10 minutes.
func adminServerConfig() provider.ServerConfig {
	return provider.ServerConfig{WriteTimeout: 10 * time.Minute}
}
