package consumer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/consumer"
)

const (
	shopA = "https://shop.example"
	shopB = "https://relay.example:8443"
	provP = "tgl1qqn885wfcll4d4ayamawzugg0eatjgvhp74xu87n3t89dy6tyew0spgjut7"
	provQ = "tgl1qpg38cv03pemz4q4rjjc9pdqfxtspqt2vqf4uevlldz7czps54cjgt3yqa2"
)

// TestPinsConformance runs the binding rules on both kinds of Pins.
func TestPinsConformance(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) *consumer.Pins{
		"Memory": func(*testing.T) *consumer.Pins { return consumer.NewPins() },
		"File": func(t *testing.T) *consumer.Pins {
			p, err := consumer.OpenPins(filepath.Join(t.TempDir(), "known_providers"))
			require.NoError(t, err)
			return p
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := open(t)
			require.False(t, p.Bound(shopA))
			require.NoError(t, p.Bind(shopA, provP, false), "first use pins")
			require.NoError(t, p.Bind(shopA, provP, false), "the same binding again")
			require.True(t, p.Bound(shopA))
			got, ok := p.Provider(shopA)
			require.True(t, ok)
			require.Equal(t, provP, got)

			var pinErr *consumer.PinError
			err := p.Check(shopA, provQ, false)
			require.ErrorAs(t, err, &pinErr)
			require.ErrorIs(t, err, consumer.ErrPinMismatch)
			require.Equal(t, consumer.PinError{Origin: shopA, Provider: provQ, PinnedProvider: provP}, *pinErr)
			require.ErrorAs(t, p.Bind(shopA, provQ, false), &pinErr, "a changed binding")

			err = p.Bind(shopB, provP, false)
			require.ErrorAs(t, err, &pinErr, "another origin for a pinned provider: a relay")
			require.Equal(t, consumer.PinError{Origin: shopB, Provider: provP, PinnedOrigins: []string{shopA}}, *pinErr)
			require.ErrorContains(t, err, "which is pinned to "+shopA)
			require.False(t, p.Bound(shopB), "refused: nothing pinned")

			require.NoError(t, p.Bind(shopB, provP, true), "repinned: the provider serves both")
			require.NoError(t, p.Check(shopB, provP, false))
			require.NoError(t, p.Bind(shopA, provQ, true), "repinned: the origin changed provider")
			got, _ = p.Provider(shopA)
			require.Equal(t, provQ, got)
			require.NoError(t, p.Check(shopB, provP, false))
			err = p.Check("https://third.example", provP, false)
			require.ErrorAs(t, err, &pinErr)
			require.Equal(t, []string{shopB}, pinErr.PinnedOrigins, "shopA no longer counts for P")

			for _, bad := range []struct{ origin, provider string }{
				{"https://Shop.example", provP}, {"shop.example", provP}, {shopA + "/path", provP}, {shopA, "not an agent"}, {shopA, ""},
			} {
				require.ErrorContains(t, p.Bind(bad.origin, bad.provider, true), "cannot pin", "%q %q", bad.origin, bad.provider)
			}
		})
	}
}

func TestPinsFileSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_providers")
	p, err := consumer.OpenPins(path)
	require.NoError(t, err)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "no file until the first pin")
	require.NoError(t, p.Bind(shopA, provP, false))
	require.NoError(t, p.Bind(shopB, provQ, false))

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, consumer.PinsFileMode, st.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "# micropay known providers v2: origin provider-agent-id [price]\n"+shopB+" "+provQ+"\n"+shopA+" "+provP+"\n", string(b),
		"sorted by origin")

	again, err := consumer.OpenPins(path)
	require.NoError(t, err)
	got, ok := again.Provider(shopA)
	require.True(t, ok)
	require.Equal(t, provP, got)
	require.ErrorIs(t, again.Bind(shopA, provQ, false), consumer.ErrPinMismatch, "the reopened pins hold")
	require.ErrorIs(t, again.Bind("https://third.example", provP, false), consumer.ErrPinMismatch)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")
}

func TestPinsFileIsOutsideInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), mode))
		require.NoError(t, os.Chmod(path, mode))
		return path
	}
	header := "# micropay known providers v1: origin provider-agent-id\n"

	_, err := consumer.OpenPins(write("loose", header, 0o664))
	require.ErrorIs(t, err, consumer.ErrPinsMalformed)
	require.ErrorContains(t, err, "lets group or others change your pins; run: chmod 600")

	_, err = consumer.OpenPins(write("garbled", header+shopA+" "+provP+"\n"+shopA+" "+provQ+"\n", 0o600))
	require.ErrorIs(t, err, consumer.ErrPinsMalformed)
	require.ErrorContains(t, err, "line 3: origin "+shopA+" pinned twice")

	_, err = consumer.OpenPins(write("huge", header+strings.Repeat("#", 4<<20), 0o600))
	require.ErrorIs(t, err, consumer.ErrPinsMalformed)
	require.ErrorContains(t, err, "limit")

	require.NoError(t, os.Mkdir(filepath.Join(dir, "adir"), 0o700))
	_, err = consumer.OpenPins(filepath.Join(dir, "adir"))
	require.ErrorIs(t, err, consumer.ErrPinsMalformed)
	require.ErrorContains(t, err, "not a regular file")
}

func TestPinsAreBounded(t *testing.T) {
	p := consumer.NewPins()
	for i := 0; ; i++ {
		err := p.Bind(fmt.Sprintf("https://%d.example", i), provP, true)
		if err != nil {
			require.ErrorIs(t, err, consumer.ErrPinsFull)
			require.Equal(t, 4096, i, "the file layout's bound")
			break
		}
	}
	require.NoError(t, p.Bind("https://0.example", provQ, true), "a full set still repins an origin it has")
}

func TestPinsKeepThePricePaid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_providers")
	p, err := consumer.OpenPins(path)
	require.NoError(t, err)
	require.ErrorContains(t, p.PinPrice(shopA, 700, false), "not pinned to a provider")
	require.NoError(t, p.Bind(shopA, provP, false))
	require.ErrorContains(t, p.PinPrice(shopA, 0, true), "price of 0")
	require.NoError(t, p.PinPrice(shopA, 700, false))
	require.NoError(t, p.PinPrice(shopA, 700, false), "the same price again")

	again, err := consumer.OpenPins(path)
	require.NoError(t, err)
	price, ok := again.Price(shopA)
	require.True(t, ok)
	require.EqualValues(t, 700, price, "the price survives a reopen")
	var changed *consumer.TermsChangedError
	require.ErrorAs(t, again.PinPrice(shopA, 900, false), &changed)
	require.Equal(t, consumer.TermsChangedError{Origin: shopA, Field: "price", Was: "700", Now: "900"}, *changed)
	require.ErrorIs(t, again.CheckPrice(shopA, 900, false), consumer.ErrTermsChanged)
	require.NoError(t, again.CheckPrice(shopA, 900, true))
	price, _ = again.Price(shopA)
	require.EqualValues(t, 700, price, "a refused or checked price changes nothing")

	require.NoError(t, again.PinPrice(shopA, 900, true), "an accepted change is pinned")
	require.NoError(t, again.Bind(shopA, provQ, true))
	_, ok = again.Price(shopA)
	require.False(t, ok, "a repin to another provider forgets the price")
	third, err := consumer.OpenPins(path)
	require.NoError(t, err)
	_, ok = third.Price(shopA)
	require.False(t, ok)
}
