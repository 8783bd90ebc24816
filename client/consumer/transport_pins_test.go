package consumer_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/x402"
)

// relay is a third-party site on loopback that forwards every request to
// a provider's origin, as a site would that relays the provider's 402s so
// that the consumer pays for what it fetches. It records the
// MICROPAY-PAYER header of what it receives.
type relay struct {
	*httptest.Server
	mu    sync.Mutex
	payer []string
}

func newRelay(t *testing.T, target string) *relay {
	u, err := url.Parse(target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	r := &relay{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.payer = append(r.payer, req.Header.Get(x402.HeaderPayer))
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *relay) payersSeen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.payer...)
}

func TestTransportRefusesARelayedOffer(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	pins := consumer.NewPins()
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000, Pins: pins})
	_, err := get(t, client, s.srv.URL+"/x")
	require.NoError(t, err)
	before := s.position(t)

	rel := newRelay(t, s.srv.URL)
	_, err = get(t, client, rel.URL+"/x")
	var pinErr *consumer.PinError
	require.ErrorAs(t, err, &pinErr)
	require.ErrorIs(t, err, consumer.ErrPinMismatch)
	require.Equal(t, consumer.PinError{Origin: rel.URL, Provider: s.provider.String(), PinnedOrigins: []string{s.srv.URL}}, *pinErr)
	require.Equal(t, []string{""}, rel.payersSeen(), "one unpaid request, and it did not name the payer")
	_, signatures, _ := s.prov.stats()
	require.Equal(t, 1, signatures, "the relay got no payment to forward")
	require.Equal(t, before, s.position(t), "nothing signed")
	require.EqualValues(t, 1_000, tr.Spent())
	require.False(t, pins.Bound(rel.URL))

	// Told explicitly that the provider serves there too, it pays.
	tr2, client2 := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000, Pins: pins, RepinOrigin: rel.URL})
	_, err = get(t, client2, rel.URL+"/x")
	require.NoError(t, err)
	require.EqualValues(t, 1_000, tr2.Spent())
	require.True(t, pins.Bound(rel.URL))
}

func TestTransportPinsSurviveReopen(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	path := filepath.Join(t.TempDir(), "known_providers")
	pins, err := consumer.OpenPins(path)
	require.NoError(t, err)
	_, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000, Pins: pins})
	_, err = get(t, client, s.srv.URL+"/x")
	require.NoError(t, err)

	reopened, err := consumer.OpenPins(path)
	require.NoError(t, err)
	_, client = s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000, Pins: reopened})
	_, err = get(t, client, s.srv.URL+"/x")
	require.NoError(t, err)
	s.prov.mu.Lock()
	seen := append([]string(nil), s.prov.payerSeen...)
	s.prov.mu.Unlock()
	require.Equal(t, []string{"", s.consumer.Agent().String(), s.consumer.Agent().String()}, seen,
		"after the reopen the pinned origin is told the payer from the first request on, and paid at once (pinned price)")

	rel := newRelay(t, s.srv.URL)
	_, err = get(t, client, rel.URL+"/x")
	require.ErrorIs(t, err, consumer.ErrPinMismatch, "the reopened pin still refuses a relay")
	require.Equal(t, []string{""}, rel.payersSeen())
}

// switchable serves with whichever handler it holds.
type switchable struct{ h atomic.Pointer[http.Handler] }

func (s *switchable) set(h http.Handler)                               { s.h.Store(&h) }
func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }

func TestTransportChangedBindingNeedsRepin(t *testing.T) {
	e := newEnv(t)
	e.addWarrant(t, 1_000_000)
	p1 := newTestProvider(e.chain, e.providerKey, 1_000)
	key2 := keyFor("provider 2")
	p2 := newTestProvider(e.chain, key2, 1_000)
	provider2 := chain.AgentOf(key2)
	_, err := e.consumer.AddWarrant(context.Background(), provider2, 1_000_000, 0)
	require.NoError(t, err)
	site := &switchable{}
	site.set(p1)
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	pins := consumer.NewPins()
	newClient := func(repin string) *http.Client {
		tr, err := consumer.NewTransport(e.consumer.Payer, consumer.TransportOptions{
			Base: srv.Client().Transport, MaxPrice: 1_000, MaxTotal: 10_000, Pins: pins, RepinOrigin: repin})
		require.NoError(t, err)
		return &http.Client{Transport: tr}
	}
	_, err = get(t, newClient(""), srv.URL+"/x")
	require.NoError(t, err)

	site.set(p2) // the site now names another provider
	_, err = get(t, newClient(""), srv.URL+"/x")
	var pinErr *consumer.PinError
	require.ErrorAs(t, err, &pinErr)
	require.Equal(t, consumer.PinError{Origin: srv.URL, Provider: provider2.String(), PinnedProvider: e.provider.String()}, *pinErr)
	accepted, signatures, _ := p2.stats()
	require.Empty(t, accepted)
	require.Equal(t, 1, signatures, "only the pre-emptive payment to the pinned provider, which provider 2 refused")

	_, err = get(t, newClient("https://other.example"), srv.URL+"/x")
	require.ErrorIs(t, err, consumer.ErrPinMismatch, "the repin flag names one origin")

	_, err = get(t, newClient(srv.URL), srv.URL+"/x")
	require.NoError(t, err, "repinned explicitly")
	got, _ := pins.Provider(srv.URL)
	require.Equal(t, provider2.String(), got)
	accepted, _, _ = p2.stats()
	require.Len(t, accepted, 1)
}

func TestTransportPinsOnlyWhatItPays(t *testing.T) {
	s := newShop(t, 1_000)
	pins := consumer.NewPins()
	_, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000, Pins: pins})
	_, err := get(t, client, s.srv.URL+"/x")
	require.ErrorIs(t, err, consumer.ErrNoWarrant)
	require.False(t, pins.Bound(s.srv.URL), "no warrant, no payment: no pin")

	s.addWarrant(t, 1_000_000)
	_, capped := s.transport(t, consumer.TransportOptions{MaxPrice: 999, MaxTotal: 10_000, Pins: pins})
	_, err = get(t, capped, s.srv.URL+"/x")
	require.ErrorIs(t, err, consumer.ErrCapExceeded)
	require.False(t, pins.Bound(s.srv.URL), "capped: no pin")

	// So an offer made to the consumer but not paid pins nothing that
	// could stand in the way of the provider's own origin later.
	_, err = get(t, client, s.srv.URL+"/x")
	require.NoError(t, err)
	require.True(t, pins.Bound(s.srv.URL))
}

func TestTransportPinsThePricePaidNotThePriceOffered(t *testing.T) {
	s := newShop(t, 1_000)
	_, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000})
	_, err := get(t, client, s.srv.URL+"/x")
	require.ErrorIs(t, err, consumer.ErrNoWarrant, "offered at 1,000, not paid")

	s.addWarrant(t, 1_000_000)
	s.prov.set(func(p *testProvider) { p.price = 900 })
	_, err = get(t, client, s.srv.URL+"/x")
	require.NoError(t, err, "the first price paid is the one pinned")
	s.prov.set(func(p *testProvider) { p.price = 1_000 })
	_, err = get(t, client, s.srv.URL+"/x")
	var changed *consumer.TermsChangedError
	require.ErrorAs(t, err, &changed)
	require.Equal(t, consumer.TermsChangedError{Origin: s.srv.URL, Field: "price", Was: "900", Now: "1000"}, *changed)
}
