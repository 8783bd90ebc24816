package consumer_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract/payment"
)

// events collects what a Transport reports to TransportOptions.Observe.
type events struct {
	mu   sync.Mutex
	list []consumer.Event
}

func (e *events) observe(ev consumer.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *events) all() []consumer.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]consumer.Event(nil), e.list...)
}

// dropper stands in front of a provider and, the first time it receives a
// paid request, reads it and closes the connection without an answer: the
// provider restarting, a reset in transit. It records every
// PAYMENT-SIGNATURE it receives.
type dropper struct {
	next http.Handler

	mu      sync.Mutex
	dropped bool
	sigs    []string
}

func (d *dropper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sig := r.Header.Get(x402.HeaderSignature)
	d.mu.Lock()
	drop := sig != "" && !d.dropped
	if sig != "" {
		d.sigs = append(d.sigs, sig)
	}
	d.dropped = d.dropped || drop
	d.mu.Unlock()
	if !drop {
		d.next.ServeHTTP(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func (d *dropper) signatures() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.sigs...)
}

// noReuse is a base transport that opens a connection per request, so
// net/http never retries a request on its own (it does for some requests
// on a reused connection): the retry seen is the Transport's.
func noReuse() http.RoundTripper {
	return &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{}).DialContext}
}

func TestTransportRetriesAPaymentLostInTransit(t *testing.T) {
	for _, c := range []struct {
		name   string
		pinned bool // the piece is paid pre-emptively
		body   string
	}{{"after a 402", false, ""}, {"pre-emptive", true, ""}, {"with a body", false, "kWh 42"}} {
		t.Run(c.name, func(t *testing.T) {
			s := newShop(t, 1_000)
			s.addWarrant(t, 1_000_000)
			d := &dropper{next: s.prov}
			srv := httptest.NewServer(d)
			t.Cleanup(srv.Close)
			var seen events
			pins := consumer.NewPins()
			if c.pinned {
				require.NoError(t, pins.Bind(consumer.Origin(mustURL(t, srv.URL)), s.provider.String(), false))
				require.NoError(t, pins.PinPrice(consumer.Origin(mustURL(t, srv.URL)), 1_000, false))
			}
			tr, err := consumer.NewTransport(s.consumer.Payer, consumer.TransportOptions{
				Base: noReuse(), MaxPrice: 1_000, MaxTotal: 10_000, Pins: pins, Observe: seen.observe})
			require.NoError(t, err)
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/piece/1", strings.NewReader(c.body))
			require.NoError(t, err)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			require.NoError(t, err, "the retry was served")
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
			require.True(t, strings.HasPrefix(string(b), "piece 1"), string(b))

			sigs := d.signatures()
			require.Len(t, sigs, 2, "the dropped paid request and its retry")
			require.Equal(t, sigs[0], sigs[1], "the retry carries the identical PAYMENT-SIGNATURE")
			require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 1, Total: 1_000, Signed: 1_000}, s.position(t), "signed once")
			accepted, _, _ := s.prov.stats()
			require.Len(t, accepted, 1, "paid once")
			require.EqualValues(t, 1_000, tr.Spent())
			ev := seen.all()
			require.Len(t, ev, 1, "the retry is reported")
			require.Equal(t, consumer.EventRetried, ev[0].Kind)
			require.Equal(t, accepted[0], ev[0].Payment)
			require.Error(t, ev[0].Err, "with the failure that caused it")
			require.Contains(t, ev[0].String(), "sent again with the same payment")
		})
	}
}

func TestTransportPaysPinnedTermsOnTheFirstRequest(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	path := filepath.Join(t.TempDir(), "known_providers")
	pins, err := consumer.OpenPins(path)
	require.NoError(t, err)
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 100_000, Pins: pins})
	const pieces = 5
	for i := 0; i < pieces; i++ {
		_, err := get(t, client, s.srv.URL+"/piece")
		require.NoError(t, err)
	}
	accepted, signatures, requests := s.prov.stats()
	require.Len(t, accepted, pieces)
	require.Equal(t, pieces, signatures, "no payment refused")
	require.Equal(t, 1+pieces, requests, "one 402 for the first piece, then one request per piece")
	require.EqualValues(t, pieces*1_000, tr.Spent())

	// Another process on the same pins pays on its first request too.
	reopened, err := consumer.OpenPins(path)
	require.NoError(t, err)
	_, client = s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 100_000, Pins: reopened})
	_, err = get(t, client, s.srv.URL+"/piece")
	require.NoError(t, err)
	_, _, after := s.prov.stats()
	require.Equal(t, requests+1, after, "the pinned price survives a reopen: one request")

	// A free resource on the pinned origin ignores the payment: it is
	// taken back, not spent, and the next piece costs one price.
	free := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/free" {
			_, _ = io.WriteString(w, "free")
			return
		}
		s.prov.ServeHTTP(w, r)
	}))
	t.Cleanup(free.Close)
	freePins := consumer.NewPins()
	freeOrigin := consumer.Origin(mustURL(t, free.URL))
	require.NoError(t, freePins.Bind(freeOrigin, s.provider.String(), false))
	require.NoError(t, freePins.PinPrice(freeOrigin, 1_000, false))
	tr, client = s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 100_000, Pins: freePins})
	body, err := get(t, client, free.URL+"/free")
	require.NoError(t, err)
	require.Equal(t, "free", body)
	require.Zero(t, tr.Spent())
	before := s.position(t)
	_, err = get(t, client, free.URL+"/piece")
	require.NoError(t, err)
	accepted, _, _ = s.prov.stats()
	require.Equal(t, before.Total+1_000, accepted[len(accepted)-1].Total, "the ignored payment cost nothing")
}

func TestTransportFallsBackToThe402OnAChangedPrice(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	path := filepath.Join(t.TempDir(), "known_providers")
	open := func() (*consumer.Transport, *http.Client) {
		pins, err := consumer.OpenPins(path)
		require.NoError(t, err)
		return s.transport(t, consumer.TransportOptions{MaxPrice: 5_000, MaxTotal: 100_000, Pins: pins})
	}
	_, client := open()
	_, err := get(t, client, s.srv.URL+"/piece")
	require.NoError(t, err)
	paid := s.position(t).Total

	// The provider raises its price between two runs.
	s.prov.set(func(p *testProvider) { p.price = 1_500 })
	tr, client := open()
	_, _, requests := s.prov.stats()
	_, err = get(t, client, s.srv.URL+"/piece")
	var changed *consumer.TermsChangedError
	require.ErrorAs(t, err, &changed, "the pinned price holds across runs")
	require.Equal(t, consumer.TermsChangedError{Origin: s.srv.URL, Field: "price", Was: "1000", Now: "1500"}, *changed)
	_, _, after := s.prov.stats()
	require.Equal(t, requests+1, after, "the refusal's 402 is the offer: no extra round trip")
	accepted, _, _ := s.prov.stats()
	require.Len(t, accepted, 1, "the pre-emptive payment was refused, nothing else paid")
	require.Equal(t, paid, s.position(t).Total, "and rolled back")
	require.Zero(t, tr.Spent())

	// Accepting the change pays it through the 402 exchange and pins it.
	pins, err := consumer.OpenPins(path)
	require.NoError(t, err)
	_, client = s.transport(t, consumer.TransportOptions{MaxPrice: 5_000, MaxTotal: 100_000, Pins: pins, AllowPriceChange: true})
	_, err = get(t, client, s.srv.URL+"/piece")
	require.NoError(t, err)
	price, _ := pins.Price(s.srv.URL)
	require.EqualValues(t, 1_500, price)

	// A lowered price: the pre-emptive payment at the pinned 1,500 is
	// accepted (at most the pinned price, which the consumer agreed to);
	// the provider's answer names 900, so the next request sees the 402.
	s.prov.set(func(p *testProvider) { p.price = 900 })
	_, client = open()
	_, err = get(t, client, s.srv.URL+"/piece")
	require.NoError(t, err)
	_, err = get(t, client, s.srv.URL+"/piece")
	require.ErrorAs(t, err, &changed)
	require.Equal(t, consumer.TermsChangedError{Origin: s.srv.URL, Field: "price", Was: "1500", Now: "900"}, *changed)
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}

func TestTransportCreditedPieceIsNotSpent(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	var failed sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := false
		if r.Header.Get(x402.HeaderSignature) != "" {
			failed.Do(func() { fail = true })
		}
		if !fail {
			s.prov.ServeHTTP(w, r)
			return
		}
		// The provider stores the payment, its upstream fails: it credits
		// the piece and says so.
		rec := httptest.NewRecorder()
		s.prov.ServeHTTP(rec, r)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		accepted, _, _ := s.prov.stats()
		pay := accepted[len(accepted)-1]
		s.prov.set(func(p *testProvider) { p.credit = 1_000 })
		h, err := x402.Encode(x402.PaymentResponse{Success: false, ErrorReason: x402.ReasonCredited, Payer: s.consumer.Agent().String(),
			Extra: &x402.Settlement{Epoch: pay.Epoch, Ordinal: pay.Ordinal, Total: x402.Amount(pay.Total), Outcome: x402.OutcomeCredited, Credit: 1_000}})
		require.NoError(t, err)
		w.Header().Set(x402.HeaderResponse, h)
		http.Error(w, "upstream failed", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	var seen events
	tr, err := consumer.NewTransport(s.consumer.Payer, consumer.TransportOptions{
		Base: srv.Client().Transport, MaxPrice: 1_000, MaxTotal: 1_000, Observe: seen.observe})
	require.NoError(t, err)
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL + "/piece/1")
	require.NoError(t, err, "the provider's answer is the caller's")
	discardBody(resp)
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.Zero(t, tr.Spent(), "a credited piece is not spent")
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 1, Total: 1_000, Signed: 1_000, Doubt: true}, s.position(t),
		"the payment stands: the provider keeps it; in doubt until the provider states its credit")
	ev := seen.all()
	require.Len(t, ev, 1)
	require.Equal(t, consumer.EventCredited, ev[0].Kind)
	require.EqualValues(t, 1_000, ev[0].Credit)
	require.Contains(t, ev[0].String(), "credited, not charged")

	// The next piece goes through the 402, whose terms state the credit,
	// and is paid by it: within the total cap of one price, and the chain
	// is owed one price for the one piece received.
	_, _, requests := s.prov.stats()
	body, err := get(t, client, srv.URL+"/piece/2")
	require.NoError(t, err)
	require.Equal(t, "piece 2", body)
	accepted, _, after := s.prov.stats()
	require.Equal(t, requests+2, after, "the 402 exchange")
	require.Equal(t, payment.Payment{Epoch: 1, Ordinal: 2, Total: 1_000, Signature: accepted[1].Signature}, accepted[1])
	require.EqualValues(t, 1_000, tr.Spent(), "spent: one price for one piece")
	require.False(t, s.position(t).Doubt, "a clean answer clears the doubt")

	// A new process on the same payer state: it learns the credit from
	// the 402 after a doubt, and pays pre-emptively once it is clear.
	tr2, err := consumer.NewTransport(s.consumer.Payer, consumer.TransportOptions{Base: srv.Client().Transport, MaxPrice: 1_000, MaxTotal: 1_000})
	require.NoError(t, err)
	_, err = get(t, &http.Client{Transport: tr2}, srv.URL+"/piece/3")
	require.NoError(t, err)
	require.EqualValues(t, 1_000, tr2.Spent())
}

func TestTransportStaysInDoubtWhileTheProviderOwesACredit(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 100_000})
	_, err := get(t, client, s.srv.URL+"/piece/1")
	require.NoError(t, err)
	pos := s.position(t)
	require.False(t, pos.Doubt)

	// Two pieces failed after their payments were stored: the provider
	// owes two prices, and the payer's state is in doubt.
	s.prov.set(func(p *testProvider) { p.credit = 2_000 })
	accepted, _, _ := s.prov.stats()
	require.NoError(t, s.consumer.Payer.NoteDoubt(context.Background(), s.provider, accepted[0], true))
	for i, want := range []struct {
		requests int
		doubt    bool
	}{{2, true}, {2, false}, {1, false}} {
		_, _, before := s.prov.stats()
		_, err := get(t, client, s.srv.URL+"/piece")
		require.NoError(t, err)
		_, _, after := s.prov.stats()
		require.Equal(t, want.requests, after-before, "piece %d: the 402 while a credit is owed, then pre-emptive", i)
		require.Equal(t, want.doubt, s.position(t).Doubt, "piece %d", i)
	}
	accepted, _, _ = s.prov.stats()
	require.EqualValues(t, 2_000, accepted[len(accepted)-1].Total, "four pieces received, two paid by the credit")
	require.EqualValues(t, 4_000, tr.Spent(), "each piece cost its price")
}

func TestTransportPaysThroughThe402AfterAnUnknownOutcome(t *testing.T) {
	t.Run("stored and credited", func(t *testing.T) { testAfterUnknownOutcome(t, true) })
	t.Run("never received", func(t *testing.T) { testAfterUnknownOutcome(t, false) })
}

// testAfterUnknownOutcome: a paid request and its retry get no answer;
// the provider had stored the payment (and credits the lost piece at its
// restart) or never received it. Either way the next run pays one price
// per piece received.
func testAfterUnknownOutcome(t *testing.T, stored bool) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && r.Header.Get(x402.HeaderSignature) != "" {
			// The provider dies before it answers, twice: the payment
			// and its retry.
			if stored {
				s.prov.ServeHTTP(httptest.NewRecorder(), r)
			}
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			conn.Close()
			return
		}
		s.prov.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "known_providers")
	open := func() *http.Client {
		pins, err := consumer.OpenPins(path)
		require.NoError(t, err)
		tr, err := consumer.NewTransport(s.consumer.Payer, consumer.TransportOptions{Base: noReuse(), MaxPrice: 1_000, MaxTotal: 100_000, Pins: pins})
		require.NoError(t, err)
		return &http.Client{Transport: tr}
	}
	_, err := get(t, open(), srv.URL+"/piece/1")
	require.NoError(t, err)

	down.Store(true)
	_, err = open().Get(srv.URL + "/piece/2")
	require.ErrorIs(t, err, consumer.ErrOutcomeUnknown)
	require.True(t, s.position(t).Doubt, "the payer state remembers the doubt")

	// The provider restarts and credits the piece it never delivered.
	down.Store(false)
	if stored {
		s.prov.set(func(p *testProvider) { p.credit = 1_000 })
	}
	_, _, requests := s.prov.stats()
	_, err = get(t, open(), srv.URL+"/piece/2")
	require.NoError(t, err)
	accepted, _, after := s.prov.stats()
	require.Equal(t, requests+2, after, "in doubt: the 402 exchange, which states the credit and what the provider holds")
	newest := accepted[len(accepted)-1]
	require.EqualValues(t, 2_000, newest.Total, "two pieces received, two prices: the retry of the lost piece was free")
	require.False(t, s.position(t).Doubt)

	_, err = get(t, open(), srv.URL+"/piece/3")
	require.NoError(t, err)
	_, _, last := s.prov.stats()
	require.Equal(t, after+1, last, "clear again: paid on the first request")
}

func TestTransportTakesBackAPaymentItCouldNotSend(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	srv := httptest.NewServer(s.prov)
	pins := consumer.NewPins()
	var seen events
	tr, err := consumer.NewTransport(s.consumer.Payer, consumer.TransportOptions{
		Base: noReuse(), MaxPrice: 1_000, MaxTotal: 10_000, Pins: pins, Observe: seen.observe})
	require.NoError(t, err)
	client := &http.Client{Transport: tr}
	_, err = get(t, client, srv.URL+"/piece/1")
	require.NoError(t, err)
	before := s.position(t)

	srv.Close() // the provider is down: the pre-emptive payment cannot be sent
	_, err = client.Get(srv.URL + "/piece/2")
	require.Error(t, err)
	require.NotErrorIs(t, err, consumer.ErrOutcomeUnknown, "nothing was sent")
	require.ErrorContains(t, err, "connection refused")
	after := s.position(t)
	require.Equal(t, before.Total, after.Total, "taken back")
	require.False(t, after.Doubt)
	require.Equal(t, before.Ordinal+1, after.Ordinal, "its ordinal stays used")
	require.EqualValues(t, 1_000, tr.Spent())
	ev := seen.all()
	require.Len(t, ev, 1, "it was tried once more, in case the provider was restarting")
	require.Equal(t, consumer.EventRetried, ev[0].Kind)
}
