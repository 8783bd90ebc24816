package main

import (
	"net/url"
	"path/filepath"

	"github.com/micropay/micropay/client/consumer"
)

// pinsFile is the name of the consumer's known-providers file in HOME.
const pinsFile = "known_providers"

// openPins opens the consumer's pins, HOME/known_providers. Open them
// while holding the payer state (app.consumer), whose lock keeps another
// micropay process on the same home from rewriting them meanwhile.
func (a *app) openPins() (*consumer.Pins, error) {
	return consumer.OpenPins(filepath.Join(a.v.GetString("home"), pinsFile))
}

// httpURL parses an http:// or https:// URL argument.
func httpURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("%s %q is not an http:// or https:// URL", what, raw)
	}
	return u, nil
}
