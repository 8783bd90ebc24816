package main

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireConsumerHardening checks, with the built binary against the
// provider serving at svc, that the consumer in home pinned svc's origin to
// provider and refuses a relay of its 402, and that it refuses to pay
// after losing its payer state until `warrant resync --yes`. The warrant
// must have settled payments.
func requireConsumerHardening(t *testing.T, home, node, svc, provider string) {
	t.Helper()
	origin := "http://" + svc
	path := filepath.Join(home, pinsFile)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	pins, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(pins), "\n"+origin+" "+provider+" 700\n", "pinned to the provider and the price paid")

	target, err := url.Parse(origin)
	require.NoError(t, err)
	relay := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }})
	defer relay.Close()
	r := mp(t, home, node, "get", relay.URL+"/piece/relayed")
	require.Equal(t, exitRefused, r.code, r.stderr)
	require.Contains(t, r.stderr, "which is pinned to "+origin)

	// The payer state is lost: the chain shows payments this home never
	// signed, and get refuses until the chain's figures are adopted.
	require.NoError(t, os.Rename(filepath.Join(home, "payer"), filepath.Join(home, "payer.lost")))
	r = mp(t, home, node, "get", origin+"/piece/after-loss")
	require.Equal(t, exitRefused, r.code, r.stderr)
	require.Contains(t, r.stderr, "payer state does not match the chain")
	require.Contains(t, r.stderr, "micropay warrant resync "+provider)

	r = mp(t, home, node, "warrant", "resync", provider)
	require.Equal(t, exitUsage, r.code, "no --yes, no change: %s", r.stderr)
	require.Contains(t, r.stdout, "Adopting: epoch 1, ordinal 3, total 2100")
	require.Contains(t, r.stderr, "re-run with --yes")
	r = mp(t, home, node, "get", origin+"/piece/after-loss")
	require.Equal(t, exitRefused, r.code, "still refused: %s", r.stderr)

	r = ok(t, mp(t, home, node, "warrant", "resync", provider, "--yes"))
	require.Contains(t, r.stdout, "adopted: epoch 1, ordinal 3, total 2100")
	r = ok(t, mp(t, home, node, "get", origin+"/piece/after-loss"))
	require.Contains(t, r.stderr, "paid 700 base tokens")
	r = ok(t, mp(t, home, node, "warrant", "resync", provider))
	require.Contains(t, r.stdout, "nothing to adopt")

	// warrant add --origin pins before it sends anything: a conflicting
	// pin stops it with no funds moved.
	before := ok(t, mp(t, home, node, "--json", "warrant", "info", provider)).stdout
	r = mp(t, home, node, "warrant", "add", provider, "1000", "--origin", "https://other.example/shop")
	require.Equal(t, exitRefused, r.code, r.stderr)
	require.Contains(t, r.stderr, "which is pinned to "+origin)
	require.Equal(t, before, ok(t, mp(t, home, node, "--json", "warrant", "info", provider)).stdout, "nothing moved")
	ok(t, mp(t, home, node, "warrant", "add", provider, "1000", "--origin", origin+"/piece/1"))
}

func TestCLIWarrantAddOriginMustBeAURL(t *testing.T) {
	home := t.TempDir()
	dead := "http://" + freeAddr(t)
	ok(t, mp(t, home, dead, "key", "new"))
	r := mp(t, home, dead, "warrant", "add", "tgl1qqn885wfcll4d4ayamawzugg0eatjgvhp74xu87n3t89dy6tyew0spgjut7", "1000", "--origin", "shop.example")
	require.Equal(t, exitUsage, r.code, "checked before the node is asked: %s", r.stderr)
	require.Contains(t, r.stderr, `--origin "shop.example" is not an http:// or https:// URL`)
	r = mp(t, home, dead, "get", "ftp://shop.example/x")
	require.Equal(t, exitUsage, r.code, r.stderr)
}
