package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract/payment"
)

// shop is an env with a testProvider on loopback HTTP.
type shop struct {
	*env
	prov *testProvider
	srv  *httptest.Server
}

func newShop(t *testing.T, price uint64) *shop {
	e := newEnv(t)
	prov := newTestProvider(e.chain, e.providerKey, price)
	srv := httptest.NewServer(prov)
	t.Cleanup(srv.Close)
	return &shop{env: e, prov: prov, srv: srv}
}

func (s *shop) transport(t *testing.T, opts consumer.TransportOptions) (*consumer.Transport, *http.Client) {
	t.Helper()
	opts.Base = s.srv.Client().Transport
	tr, err := consumer.NewTransport(s.consumer.Payer, opts)
	require.NoError(t, err)
	return tr, &http.Client{Transport: tr}
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b), nil
}

func TestTransportPaysA402(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000})

	body, err := get(t, client, s.srv.URL+"/article/1")
	require.NoError(t, err)
	require.Equal(t, "piece 1", body)
	require.EqualValues(t, 1_000, tr.Spent())

	resp, err := client.Post(s.srv.URL+"/meter", "text/plain", strings.NewReader("kWh reading 42"))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "piece 2 (14 bytes received)", string(b), "the body is replayed with the payment")
	require.EqualValues(t, 2_000, tr.Spent())

	accepted, signatures, requests := s.prov.stats()
	require.Equal(t, 2, signatures)
	require.Equal(t, 3, requests, "the first piece: a 402 and the paid request; the second, at the pinned price: one paid request")
	require.Len(t, accepted, 2)
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 2, Total: 2_000, Signed: 2_000}, s.position(t))
	require.Empty(t, s.prov.payerSeen[0], "an origin learns the payer only once it is pinned")
	for _, h := range s.prov.payerSeen[1:] {
		require.Equal(t, s.consumer.Agent().String(), h, "every request to the pinned origin names its payer")
	}

	// The provider settles the newest payment: the chain pays what the
	// transport counted.
	_, err = chain.Settle(context.Background(), s.chain, s.providerKey, s.consumer.Agent(), accepted[1])
	require.NoError(t, err)
	require.EqualValues(t, tr.Spent(), s.info(t).Paid)
}

func TestTransportPassesOtherAnswersThrough(t *testing.T) {
	s := newShop(t, 1_000)
	mux := http.NewServeMux()
	mux.HandleFunc("/free", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "free:"+r.Header.Get(x402.HeaderPayer))
	})
	mux.HandleFunc("/plain402", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusPaymentRequired)
		fmt.Fprint(w, "pay at the counter")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1, MaxTotal: 1})

	body, err := get(t, client, srv.URL+"/free")
	require.NoError(t, err)
	require.Equal(t, "free:", body, "an origin not pinned to a provider is not told who the payer is")

	resp, err := client.Get(srv.URL + "/plain402")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusPaymentRequired, resp.StatusCode, "a 402 that is not x402 is the caller's")
	require.Equal(t, "pay at the counter", string(b))
	require.Zero(t, tr.Spent())
}

func TestTransportCapsRefuseBeforeSigning(t *testing.T) {
	t.Run("PerPiece", func(t *testing.T) {
		s := newShop(t, 1_000)
		s.addWarrant(t, 1_000_000)
		tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 999, MaxTotal: 1_000_000})
		_, err := get(t, client, s.srv.URL+"/x")
		var capErr *consumer.CapError
		require.ErrorAs(t, err, &capErr)
		require.ErrorIs(t, err, consumer.ErrCapExceeded)
		require.Equal(t, consumer.CapError{Cap: "price", URL: s.srv.URL + "/x", Price: 1_000, Limit: 999}, *capErr)
		require.ErrorContains(t, err, "costs 1000, above the per-piece cap of 999")
		_, signatures, _ := s.prov.stats()
		require.Zero(t, signatures, "no payment was sent")
		require.Zero(t, s.position(t), "no payment was signed")
		require.Zero(t, tr.Spent())
	})
	t.Run("Total", func(t *testing.T) {
		s := newShop(t, 1_000)
		s.addWarrant(t, 1_000_000)
		tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 2_500})
		for i := 0; i < 2; i++ {
			_, err := get(t, client, s.srv.URL+"/x")
			require.NoError(t, err)
		}
		before := s.position(t)
		_, err := get(t, client, s.srv.URL+"/x")
		var capErr *consumer.CapError
		require.ErrorAs(t, err, &capErr)
		require.Equal(t, consumer.CapError{Cap: "total", URL: s.srv.URL + "/x", Price: 1_000, Spent: 2_000, Limit: 2_500}, *capErr)
		require.ErrorContains(t, err, "spent 2000 and 0 in flight, the total cap is 2500 (500 short)")
		_, signatures, _ := s.prov.stats()
		require.Equal(t, 2, signatures)
		require.Equal(t, before, s.position(t), "no payment was signed")
		require.EqualValues(t, 2_000, tr.Spent())
	})
}

func TestNewTransportNeedsCaps(t *testing.T) {
	payer := consumer.NewPayer(nil, keyFor("x"), consumer.NewMemState())
	for _, opts := range []consumer.TransportOptions{{}, {MaxPrice: 1}, {MaxTotal: 1}} {
		_, err := consumer.NewTransport(payer, opts)
		require.ErrorContains(t, err, "MaxPrice and MaxTotal must be set")
	}
	_, err := consumer.NewTransport(nil, consumer.TransportOptions{MaxPrice: 1, MaxTotal: 1})
	require.Error(t, err)
}

func TestTransportRefusesChangedTerms(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 5_000, MaxTotal: 100_000})
	_, err := get(t, client, s.srv.URL+"/x")
	require.NoError(t, err)

	s.prov.set(func(p *testProvider) { p.price = 1_500 })
	_, err = get(t, client, s.srv.URL+"/y")
	var changed *consumer.TermsChangedError
	require.ErrorAs(t, err, &changed)
	require.ErrorIs(t, err, consumer.ErrTermsChanged)
	require.Equal(t, consumer.TermsChangedError{Origin: s.srv.URL, Field: "price", Was: "1000", Now: "1500"}, *changed)

	thief := chain.AgentOf(cryptolib.NewKeyPair()).String()
	s.prov.set(func(p *testProvider) { p.price = 1_000; p.payTo = thief })
	_, err = get(t, client, s.srv.URL+"/x")
	var pinErr *consumer.PinError
	require.ErrorAs(t, err, &pinErr)
	require.ErrorIs(t, err, consumer.ErrPinMismatch)
	require.Equal(t, consumer.PinError{Origin: s.srv.URL, Provider: thief, PinnedProvider: s.provider.String()}, *pinErr)
	require.ErrorContains(t, err, "is pinned to provider "+s.provider.String()+" but now asks payment for "+thief)

	accepted, signatures, _ := s.prov.stats()
	require.Len(t, accepted, 1, "nothing was paid after the change")
	require.Equal(t, 3, signatures, "each change met by one pre-emptive payment on the pinned terms, refused")
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 3, Total: 1_000, Signed: 2_000}, s.position(t), "the refused payments rolled back")
	require.EqualValues(t, 1_000, tr.Spent())

	// A transport that allows price changes pays the new price (within
	// its cap); other changes stay refused.
	s.prov.set(func(p *testProvider) { p.payTo = ""; p.price = 1_000 })
	tr2, client2 := s.transport(t, consumer.TransportOptions{MaxPrice: 5_000, MaxTotal: 100_000, AllowPriceChange: true})
	_, err = get(t, client2, s.srv.URL+"/x")
	require.NoError(t, err)
	s.prov.set(func(p *testProvider) { p.price = 1_500 })
	_, err = get(t, client2, s.srv.URL+"/x")
	require.NoError(t, err)
	require.EqualValues(t, 2_500, tr2.Spent())
	s.prov.set(func(p *testProvider) { p.price = 6_000 })
	_, err = get(t, client2, s.srv.URL+"/x")
	require.ErrorIs(t, err, consumer.ErrCapExceeded, "a price change still meets the per-piece cap")
}

func TestTransportSurfacesRejectionAndRollsBack(t *testing.T) {
	s := newShop(t, 400_000)
	s.addWarrant(t, 1_000_000)
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 400_000, MaxTotal: 10_000_000})
	for i := 0; i < 2; i++ {
		_, err := get(t, client, s.srv.URL+"/x")
		require.NoError(t, err)
	}

	_, err := get(t, client, s.srv.URL+"/x")
	var rej *consumer.RejectedError
	require.ErrorAs(t, err, &rej)
	require.ErrorIs(t, err, consumer.ErrRejected)
	require.Equal(t, payment.ReasonOverBalance.String(), rej.Reason)
	require.Equal(t, http.StatusPaymentRequired, rej.Status)
	require.Contains(t, rej.Message, "owes 1200000 but the warrant's balance is only 1000000")
	require.EqualValues(t, 3, rej.Payment.Ordinal)
	require.EqualValues(t, 800_000, tr.Spent(), "a refused payment is not spent")
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 3, Total: 800_000, Signed: 1_200_000}, s.position(t), "rolled back")

	_, err = s.consumer.TopUp(context.Background(), s.provider, 1_000_000)
	require.NoError(t, err)
	_, err = get(t, client, s.srv.URL+"/x")
	require.NoError(t, err)
	accepted, _, _ := s.prov.stats()
	newest := accepted[len(accepted)-1]
	require.EqualValues(t, 4, newest.Ordinal)
	require.EqualValues(t, 1_200_000, newest.Total, "three pieces cost three prices, the refusal is not charged")
	require.EqualValues(t, 1_200_000, tr.Spent())
}

func TestTransportNoWarrant(t *testing.T) {
	s := newShop(t, 1_000)
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000})
	_, err := get(t, client, s.srv.URL+"/x")
	require.ErrorIs(t, err, consumer.ErrNoWarrant)
	_, signatures, _ := s.prov.stats()
	require.Zero(t, signatures)
	require.Zero(t, s.position(t))
	require.Zero(t, tr.Spent())

	// The provider's word for it is recognizable too.
	rej := &consumer.RejectedError{Reason: consumer.ReasonNoWarrant}
	require.ErrorIs(t, rej, consumer.ErrNoWarrant)
	require.ErrorIs(t, rej, consumer.ErrRejected)
}

func TestTransportFollowsTheChainsEpoch(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	ctx := context.Background()
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 100_000})
	_, err := get(t, client, s.srv.URL+"/x")
	require.NoError(t, err)

	// The provider closes the warrant and the payer opens a new one, in
	// epoch 2. The payer still has epoch 1 cached.
	accepted, _, _ := s.prov.stats()
	_, err = chain.Close(ctx, s.chain, s.providerKey, s.consumer.Agent(), s.provider, accepted[0])
	require.NoError(t, err)
	s.addWarrant(t, 1_000_000)

	t.Run("AnnouncedEpochIsCheckedWithTheChain", func(t *testing.T) {
		_, err := get(t, client, s.srv.URL+"/x")
		require.NoError(t, err)
		_, signatures, _ := s.prov.stats()
		require.Equal(t, 3, signatures, "the pre-emptive payment under the cached epoch 1 is refused; the chain's epoch 2 is read and paid at once")
		require.Equal(t, consumer.Position{Epoch: 2, Ordinal: 1, Total: 1_000, Signed: 1_000}, s.position(t))
	})

	_, err = chain.Close(ctx, s.chain, s.providerKey, s.consumer.Agent(), s.provider)
	require.NoError(t, err)
	s.addWarrant(t, 1_000_000)
	t.Run("WrongEpochRefreshesAndPaysOnce", func(t *testing.T) {
		s.prov.set(func(p *testProvider) { p.hideTerms = true })
		_, err := get(t, client, s.srv.URL+"/x")
		require.NoError(t, err)
		accepted, signatures, _ := s.prov.stats()
		require.Equal(t, 5, signatures, "one refused under epoch 2, one accepted under epoch 3")
		require.Equal(t, payment.Payment{Epoch: 3, Ordinal: 1, Total: 1_000, Signature: accepted[2].Signature}, accepted[2])
		require.Equal(t, consumer.Position{Epoch: 3, Ordinal: 1, Total: 1_000, Signed: 1_000}, s.position(t))
	})
	require.EqualValues(t, 3_000, tr.Spent(), "the refused payment is not counted")
}

func TestTransportSerializesPaymentsToOneProvider(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 1_000_000})
	const workers, each = 12, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; n < each; n++ {
				resp, err := client.Get(fmt.Sprintf("%s/w%d/%d", s.srv.URL, i, n))
				if err != nil {
					errs <- err
					continue
				}
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
				}
				discardBody(resp)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	accepted, signatures, _ := s.prov.stats()
	require.Equal(t, workers*each, signatures, "every payment was accepted the first time")
	require.Len(t, accepted, workers*each)
	for i, p := range accepted {
		require.EqualValues(t, i+1, p.Ordinal, "strictly increasing in arrival order, none twice")
		require.EqualValues(t, 1_000*(i+1), p.Total)
	}
	require.EqualValues(t, workers*each*1_000, tr.Spent())
}

func TestTransportCapHoldsUnderConcurrency(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 5_500})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, capped int
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(s.srv.URL + "/x")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				discardBody(resp)
			case errors.Is(err, consumer.ErrCapExceeded):
				capped++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 5, ok)
	require.Equal(t, 5, capped)
	require.EqualValues(t, 5_000, tr.Spent())
	require.EqualValues(t, 5, s.position(t).Ordinal, "capped requests signed nothing")
}

func TestTransportNeedsAReplayableBody(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000})
	defer func() { require.Zero(t, tr.Spent()) }()
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+"/x", io.NopCloser(strings.NewReader("stream")))
	require.NoError(t, err)
	_, err = client.Do(req)
	require.ErrorIs(t, err, consumer.ErrBodyNotReplayable)
	require.ErrorContains(t, err, "GetBody")
	_, _, requests := s.prov.stats()
	require.Zero(t, requests, "nothing was sent")

	// A body that cannot be replayed after all: the payment signed for it
	// never leaves, and is taken back.
	req, err = http.NewRequest(http.MethodPost, s.srv.URL+"/x", strings.NewReader("once"))
	require.NoError(t, err)
	errGone := errors.New("body gone")
	req.GetBody = func() (io.ReadCloser, error) { return nil, errGone }
	_, err = client.Do(req)
	require.ErrorIs(t, err, errGone)
	_, signatures, _ := s.prov.stats()
	require.Zero(t, signatures)
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 1, Total: 0, Signed: 1_000}, s.position(t))
}

func TestTransportRefusesUnusableOffers(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	good := func() x402.Requirements {
		s.prov.mu.Lock()
		defer s.prov.mu.Unlock()
		o, err := s.prov.offer(context.Background(), "")
		require.NoError(t, err)
		return o
	}
	for name, c := range map[string]struct {
		mutate func(o *x402.Requirements)
		want   string
	}{
		"other scheme":   {func(o *x402.Requirements) { o.Scheme = "exact" }, "offers [exact on"},
		"other chain":    {func(o *x402.Requirements) { o.Network = x402.Network("tgl1other") }, "on iota-isc:tgl1other, the payer is on"},
		"other contract": {func(o *x402.Requirements) { o.Extra.Contract = "deadbeef" }, `contract "deadbeef"`},
		"other asset":    {func(o *x402.Requirements) { o.Asset = "usdc" }, `asset "usdc"`},
		"bad payTo":      {func(o *x402.Requirements) { o.PayTo = "nobody" }, `payTo "nobody"`},
	} {
		t.Run(name, func(t *testing.T) {
			offer := good()
			c.mutate(&offer)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get(x402.HeaderSignature) != "" {
					t.Error("paid an unusable offer")
				}
				s.prov.require(w, x402.Resource{URL: r.URL.String()}, offer, "", "")
			}))
			defer srv.Close()
			_, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000})
			_, err := client.Get(srv.URL)
			require.ErrorIs(t, err, consumer.ErrNoOffer)
			require.ErrorContains(t, err, c.want)
		})
	}
	require.Zero(t, s.position(t))

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(x402.HeaderRequired, "%%%")
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	defer srv.Close()
	_, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000})
	_, err := client.Get(srv.URL)
	require.ErrorIs(t, err, x402.ErrMalformed)
}

func TestTransportPaidAnswersWithoutAVerdict(t *testing.T) {
	t.Run("400 is a refusal", func(t *testing.T) {
		s := newShop(t, 1_000)
		s.addWarrant(t, 1_000_000)
		tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000})
		s.prov.set(func(p *testProvider) { p.paidAnswer = http.StatusBadRequest })
		_, err := client.Get(s.srv.URL + "/x")
		var rej *consumer.RejectedError
		require.ErrorAs(t, err, &rej)
		require.Equal(t, consumer.ReasonMalformed, rej.Reason)
		require.Zero(t, tr.Spent())
		require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 1, Total: 0, Signed: 1_000}, s.position(t))
	})
	t.Run("no PAYMENT-RESPONSE is an unknown outcome, counted", func(t *testing.T) {
		s := newShop(t, 1_000)
		s.addWarrant(t, 1_000_000)
		tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 10_000})
		s.prov.set(func(p *testProvider) { p.paidAnswer = http.StatusBadGateway })
		resp, err := client.Get(s.srv.URL + "/x")
		require.NoError(t, err)
		discardBody(resp)
		require.Equal(t, http.StatusBadGateway, resp.StatusCode, "the answer is the caller's")
		require.EqualValues(t, 1_000, tr.Spent(), "the next payment's total includes it")
		require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 1, Total: 1_000, Signed: 1_000, Doubt: true}, s.position(t),
			"in doubt: the next payment asks the provider (402) rather than pay pre-emptively")
	})
}

func discardBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func TestTransportCapsCountTheChargeOfAKeptRefusal(t *testing.T) {
	s := newShop(t, 1_000)
	s.addWarrant(t, 1_000_000)
	ctx := context.Background()
	_, client := s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 100_000})
	_, err := get(t, client, s.srv.URL+"/x")
	require.NoError(t, err)

	// The provider says it refused the second payment, but keeps it and
	// settles it: the chain shows 2,000 paid, the payer's total is 1,000.
	s.prov.set(func(p *testProvider) { p.paidAnswer = http.StatusBadRequest })
	_, err = get(t, client, s.srv.URL+"/x")
	var rej *consumer.RejectedError
	require.ErrorAs(t, err, &rej)
	_, err = chain.Settle(ctx, s.chain, s.providerKey, s.consumer.Agent(), rej.Payment)
	require.NoError(t, err)
	s.prov.set(func(p *testProvider) { p.paidAnswer = 0 })
	_, err = s.consumer.Payer.RefreshEpoch(ctx, s.provider) // as after a provider's announced epoch
	require.NoError(t, err)
	before := s.position(t)
	require.Equal(t, consumer.Position{Epoch: 1, Ordinal: 2, Total: 1_000, Signed: 2_000}, before)

	// The next piece costs 1,000 but its payment adds 2,000 to the total.
	_, client = s.transport(t, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 100_000})
	_, err = get(t, client, s.srv.URL+"/x")
	var capErr *consumer.CapError
	require.ErrorAs(t, err, &capErr)
	require.Equal(t, consumer.CapError{Cap: "price", URL: s.srv.URL + "/x", Price: 1_000, Charge: 2_000, Limit: 1_000}, *capErr)
	require.ErrorContains(t, err, "costs 1000, and its payment would add 2000 to your total (the chain shows 1000 settled that the provider had refused), above the per-piece cap of 1000")
	_, client = s.transport(t, consumer.TransportOptions{MaxPrice: 2_000, MaxTotal: 1_500})
	_, err = get(t, client, s.srv.URL+"/x")
	require.ErrorAs(t, err, &capErr)
	require.Equal(t, "total", capErr.Cap)
	require.ErrorContains(t, err, "the total cap is 1500 (500 short)")
	require.Equal(t, before, s.position(t), "capped: nothing signed")

	tr, client := s.transport(t, consumer.TransportOptions{MaxPrice: 2_000, MaxTotal: 2_000})
	_, err = get(t, client, s.srv.URL+"/x")
	require.NoError(t, err)
	require.EqualValues(t, 2_000, tr.Spent(), "the charge is spent, not the price")
	accepted, _, _ := s.prov.stats()
	require.EqualValues(t, 3_000, accepted[len(accepted)-1].Total)
}
