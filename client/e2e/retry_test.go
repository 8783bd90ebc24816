package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/x402"
)

// TestRetriedPaymentIsServedOnceByTheRealProvider: the provider stores a
// paid request's payment and serves it, and the connection drops before
// the answer reaches the consumer. The consumer's retry carries the same
// PAYMENT-SIGNATURE; the real provider serves the piece again without a
// new charge.
func TestRetriedPaymentIsServedOnceByTheRealProvider(t *testing.T) {
	const price = 700
	s, paywall := newShop(t, price)
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drop := false
		if r.Header.Get(x402.HeaderSignature) != "" {
			once.Do(func() { drop = true })
		}
		if !drop {
			paywall.ServeHTTP(w, r)
			return
		}
		paywall.ServeHTTP(httptest.NewRecorder(), r) // stored and served, the answer lost
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
	}))
	defer srv.Close()
	var retried []consumer.Event
	tr, err := consumer.NewTransport(s.payer, consumer.TransportOptions{
		Base:     &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{}).DialContext},
		MaxPrice: price, MaxTotal: 10 * price,
		Observe: func(e consumer.Event) { retried = append(retried, e) },
	})
	require.NoError(t, err)
	client := &http.Client{Transport: tr}
	for i := 0; i < 2; i++ {
		resp, err := client.Get(srv.URL + "/piece/1")
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		require.Equal(t, "piece /piece/1", string(b))
	}
	require.Len(t, retried, 1)
	require.Equal(t, consumer.EventRetried, retried[0].Kind)
	ws := s.provider.Warrants()
	require.Len(t, ws, 1)
	require.EqualValues(t, 2*price, ws[0].LastTotal, "two pieces received, two prices accepted: the retry cost nothing")
	require.EqualValues(t, 2, ws[0].LastOrdinal)
	require.EqualValues(t, 2*price, tr.Spent())
}
