package provider_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract/payment"
)

// pieces is a paywalled upstream whose answers a test chooses: /ok serves,
// /fail answers 502, /block waits until released, /gone waits for the
// client to leave and then writes until a write fails. Only the first
// /block waits.
type pieces struct {
	entered  atomic.Bool   // set by the first /block, which alone blocks
	blocked  chan struct{} // closed when /block is entered
	release  chan struct{}
	gone     chan error // the write error /gone saw
	provider func() *provider.Provider
}

func newPieces(h *harness) *pieces {
	return &pieces{blocked: make(chan struct{}), release: make(chan struct{}), gone: make(chan error, 1), provider: func() *provider.Provider { return h.p }}
}

func (u *pieces) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/fail":
		http.Error(w, "upstream failed", http.StatusBadGateway)
	case "/block":
		if u.entered.CompareAndSwap(false, true) {
			close(u.blocked)
			<-u.release
		}
		_, _ = io.WriteString(w, "late piece")
	case "/gone":
		<-r.Context().Done()
		chunk := []byte(strings.Repeat("x", 64<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				u.gone <- err
				return
			}
		}
	default:
		_, _ = io.WriteString(w, "piece "+r.URL.Path)
	}
}

// paywalled serves u behind the current provider's paywall: a provider
// started again (h.start) serves the same listener.
func (h *harness) paywalled(u *pieces) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.provider().Paywall(provider.FixedPrice(piecePrice, "a piece"), u).ServeHTTP(w, r)
	}))
	h.t.Cleanup(srv.Close)
	return srv
}

// paid sends a request for path paid with p and returns the status, the
// body and the decoded PAYMENT-RESPONSE (zero when absent).
func (h *harness) paid(base, path string, p payment.Payment) (int, string, x402.PaymentResponse) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(h.t, err)
	req.Header.Set(x402.HeaderSignature, h.signatureHeader(p))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	var pr x402.PaymentResponse
	if hdr := resp.Header.Get(x402.HeaderResponse); hdr != "" {
		require.NoError(h.t, x402.Decode(hdr, &pr))
	}
	return resp.StatusCode, string(body), pr
}

func (h *harness) credit() uint64 {
	sums, err := h.store.Warrants(h.ctx)
	require.NoError(h.t, err)
	for _, s := range sums {
		if s.Warrant == h.p.WarrantID(h.payer) {
			return s.Credit
		}
	}
	return 0
}

func (h *harness) receipts() []store.Receipt {
	var out []store.Receipt
	w := h.p.WarrantID(h.payer)
	require.NoError(h.t, h.store.Receipts(h.ctx, store.ReceiptFilter{Warrant: &w}, func(r store.Receipt) error {
		out = append(out, r)
		return nil
	}))
	return out
}

// TestReplayOfNewestPaymentIsServedAgainFree: a retried request with the
// same payment for the same resource is served again, charged nothing,
// also by a provider started again over the same store; the same payment
// for another resource, or an older payment, is refused.
func TestReplayOfNewestPaymentIsServedAgainFree(t *testing.T) {
	h := newHarness(t)
	srv := h.paywalled(newPieces(h))
	first := h.next(piecePrice)
	status, body, pr := h.paid(srv.URL, "/a", first)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, x402.OutcomeServed, pr.Extra.Outcome)
	require.EqualValues(t, piecePrice, pr.Extra.Price)

	status, body, pr = h.paid(srv.URL, "/a", first)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "piece /a", body)
	require.True(t, pr.Success)
	require.Equal(t, x402.OutcomeReplayed, pr.Extra.Outcome)
	require.EqualValues(t, 0, pr.Extra.Price, "a replay costs nothing")
	require.EqualValues(t, piecePrice, pr.Extra.Total)

	h.start() // a restarted provider knows its newest receipt from the store
	status, _, pr = h.paid(srv.URL, "/a", first)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, x402.OutcomeReplayed, pr.Extra.Outcome)

	status, _, _ = h.paid(srv.URL, "/b", first)
	require.Equal(t, http.StatusPaymentRequired, status, "the newest payment replayed for another resource")
	second := h.next(piecePrice)
	status, _, _ = h.paid(srv.URL, "/b", second)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = h.paid(srv.URL, "/a", first)
	require.Equal(t, http.StatusPaymentRequired, status, "an older payment replayed")

	rs := h.receipts()
	require.Len(t, rs, 2, "replays store nothing")
	require.EqualValues(t, 2*piecePrice, rs[1].Payment.Total)
	require.EqualValues(t, 0, h.credit())
}

// TestFailedPieceIsCreditedOnce: a piece whose upstream answers 502 after
// the payment was stored is credited before the 502 goes out and
// PAYMENT-RESPONSE says so; the next payment may fall short of the price
// by the credit, once; the export shows the piece as credited, not sold.
func TestFailedPieceIsCreditedOnce(t *testing.T) {
	h := newHarness(t)
	srv := h.paywalled(newPieces(h))
	status, _, pr := h.paid(srv.URL, "/fail", h.next(piecePrice))
	require.Equal(t, http.StatusBadGateway, status)
	require.False(t, pr.Success)
	require.Equal(t, x402.ReasonCredited, pr.ErrorReason)
	require.Equal(t, x402.OutcomeCredited, pr.Extra.Outcome)
	require.EqualValues(t, 0, pr.Extra.Price)
	require.EqualValues(t, piecePrice, pr.Extra.Credit)
	// Durable before the 502 was written: the client holds the answer, so
	// the store holds the credit.
	require.EqualValues(t, piecePrice, h.credit())
	require.Equal(t, store.Credited, h.receipts()[0].Outcome)
	// A 402 offer to this payer states the credit.
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/ok", nil)
	require.NoError(t, err)
	req.Header.Set(x402.HeaderPayer, h.payer.String())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	var offer x402.PaymentRequired
	require.NoError(t, x402.Decode(resp.Header.Get(x402.HeaderRequired), &offer))
	require.EqualValues(t, piecePrice, offer.Accepts[0].Extra.Credit)
	require.EqualValues(t, piecePrice, offer.Accepts[0].Amount, "the price stays; the credit is beside it")

	// The next piece is paid by the credit: the total does not move.
	status, body, pr := h.paid(srv.URL, "/ok", h.next(0))
	require.Equal(t, http.StatusOK, status, body)
	require.EqualValues(t, 0, pr.Extra.Price)
	require.EqualValues(t, 0, pr.Extra.Credit)
	require.EqualValues(t, 0, h.credit())
	// Used once: another piece paid by nothing is refused.
	status, _, pr = h.paid(srv.URL, "/ok", h.next(0))
	require.Equal(t, http.StatusPaymentRequired, status)
	require.Equal(t, payment.ReasonUnderpaid.String(), pr.ErrorReason)

	var csv strings.Builder
	require.NoError(t, store.WriteCSV(h.ctx, h.store, store.ReceiptFilter{}, &csv))
	lines := strings.Split(strings.TrimSpace(csv.String()), "\n")
	require.Len(t, lines, 3)
	require.True(t, strings.HasSuffix(lines[1], ",credited,0"), lines[1])
	require.True(t, strings.HasSuffix(lines[2], ",served,1000"), lines[2])
}

// TestPieceCutOffIsCreditedAtStartAndServedOnRetry: a provider that stops
// while a paid piece is being served leaves its receipt pending; the next
// provider over the store credits it at start, and a retry of the same
// payment is served, charged nothing, taking the credit back, so the
// piece is paid once and credited never.
func TestPieceCutOffIsCreditedAtStartAndServedOnRetry(t *testing.T) {
	h := newHarness(t)
	u := newPieces(h)
	srv := h.paywalled(u)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(u.release) }) }
	t.Cleanup(release) // before the server's Close, which waits for the handler
	cut := h.next(piecePrice)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/block", nil)
		req.Header.Set(x402.HeaderSignature, h.signatureHeader(cut))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-u.blocked
	require.Equal(t, store.Pending, h.receipts()[0].Outcome)

	h.start() // the provider that was serving is gone; a new one starts
	require.Equal(t, store.Credited, h.receipts()[0].Outcome)
	require.EqualValues(t, piecePrice, h.credit())
	pos, err := h.p.Position(h.ctx, h.payer)
	require.NoError(t, err)
	require.EqualValues(t, piecePrice, pos.Credit)

	status, _, _ := h.paid(srv.URL, "/other", cut)
	require.Equal(t, http.StatusPaymentRequired, status, "the cut-off payment is replayed only for its resource")
	status, body, pr := h.paid(srv.URL, "/block", cut) // the retry is not blocked
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "late piece", body)
	require.True(t, pr.Success)
	require.Equal(t, x402.OutcomeReplayed, pr.Extra.Outcome)
	require.EqualValues(t, 0, pr.Extra.Price)
	require.EqualValues(t, 0, pr.Extra.Credit)
	require.EqualValues(t, 0, h.credit())
	require.Equal(t, store.Served, h.receipts()[0].Outcome)

	release() // the first provider's handler ends: nothing changes
	<-done
	require.Equal(t, store.Served, h.receipts()[0].Outcome)
	require.EqualValues(t, 0, h.credit())
}

// TestPostPayReplayIsNotChargedAgain: a meter that posts the same payment
// for the same resource again gets a replayed receipt, price 0.
func TestPostPayReplayIsNotChargedAgain(t *testing.T) {
	h := newHarness(t)
	srv := h.server()
	pay := hex.EncodeToString(h.next(piecePrice).Bytes())
	status, body := h.postPay(srv.URL, h.payer.String(), pay)
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, x402.OutcomeServed, body["receipt"].(map[string]any)["outcome"])
	status, body = h.postPay(srv.URL, h.payer.String(), pay)
	require.Equal(t, http.StatusOK, status, "%v", body)
	receipt := body["receipt"].(map[string]any)
	require.Equal(t, x402.OutcomeReplayed, receipt["outcome"])
	require.Equal(t, "0", receipt["price"])
	require.Len(t, h.receipts(), 1)
	require.Equal(t, store.Served, h.receipts()[0].Outcome)
}

// TestClientGoneMidPieceIsCredited: a response whose writes fail (the
// client went away) is not a piece received: it is credited.
func TestClientGoneMidPieceIsCredited(t *testing.T) {
	h := newHarness(t)
	u := newPieces(h)
	srv := h.paywalled(u)
	ctx, cancel := context.WithCancel(h.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/gone", nil)
	require.NoError(t, err)
	req.Header.Set(x402.HeaderSignature, h.signatureHeader(h.next(piecePrice)))
	go func() {
		defer cancel()
		w := h.p.WarrantID(h.payer)
		for {
			if _, ok, err := h.store.Newest(h.ctx, w); ok || err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err)
	require.Error(t, <-u.gone)
	waitFor(t, "the piece credited", func() bool { return h.receipts()[0].Outcome == store.Credited })
	require.EqualValues(t, piecePrice, h.credit())
}

// failingStore fails every Append after storing it, as a sync that fails
// after the write reached the log would.
type failingStore struct{ store.Store }

func (f failingStore) Append(ctx context.Context, r store.Receipt) error {
	if err := f.Store.Append(ctx, r); err != nil {
		return err
	}
	return errors.New("injected: sync failed")
}

// TestStoreFailureSaysTheOutcomeIsUnknownAndRetryIsFree: a payment whose
// write failed gets 503 with PAYMENT-RESPONSE outcome "unknown"; its retry
// is served as a replay, charged once.
func TestStoreFailureSaysTheOutcomeIsUnknownAndRetryIsFree(t *testing.T) {
	h := newHarness(t)
	mem := h.store
	h.store = failingStore{mem}
	h.start()
	srv := h.paywalled(newPieces(h))
	p := h.next(piecePrice)
	status, _, pr := h.paid(srv.URL, "/a", p)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, x402.ReasonOutcomeUnknown, pr.ErrorReason)
	require.Equal(t, x402.OutcomeUnknown, pr.Extra.Outcome)
	require.EqualValues(t, 1, pr.Extra.Ordinal)

	h.store = mem
	h.start()
	status, _, pr = h.paid(srv.URL, "/a", p)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, x402.OutcomeReplayed, pr.Extra.Outcome)
	require.Len(t, h.receipts(), 1)
}

// TestPaywallKeepsTheFlusher: a streaming handler behind the paywall can
// still flush, and its piece is served.
func TestPaywallKeepsTheFlusher(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(h.p.Paywall(provider.FixedPrice(piecePrice, "a stream"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "no flusher", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "part 1 ")
		f.Flush()
		_, _ = io.WriteString(w, "part 2")
	})))
	t.Cleanup(srv.Close)
	status, body, pr := h.paid(srv.URL, "/stream", h.next(piecePrice))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "part 1 part 2", body)
	require.Equal(t, x402.OutcomeServed, pr.Extra.Outcome)
	require.Equal(t, store.Served, h.receipts()[0].Outcome)
}

// TestPiecesMetricCountsHowPiecesWent: micropay_pieces_total counts a
// piece served, one served again free to a retry, and one credited
// because its upstream failed, then the credited price spent on a piece
// that is served.
func TestPiecesMetricCountsHowPiecesWent(t *testing.T) {
	h, reg := newMetricsHarness(t)
	srv := h.paywalled(newPieces(h))
	first := h.next(piecePrice)
	status, _, _ := h.paid(srv.URL, "/a", first)
	require.Equal(t, http.StatusOK, status)
	status, _, pr := h.paid(srv.URL, "/a", first)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, x402.OutcomeReplayed, pr.Extra.Outcome)
	status, _, _ = h.paid(srv.URL, "/fail", h.next(piecePrice))
	require.Equal(t, http.StatusBadGateway, status)
	status, _, _ = h.paid(srv.URL, "/ok", h.next(0))
	require.Equal(t, http.StatusOK, status)

	// A served piece is concluded once its answer has been flushed, which
	// the client may see first: wait for the last one.
	var metrics string
	require.Eventually(t, func() bool {
		metrics = scrape(t, reg)
		return strings.Contains(metrics, `micropay_pieces_total{outcome="served"} 2`)
	}, 10*time.Second, time.Millisecond, "two pieces served")
	require.Contains(t, metrics, `micropay_pieces_total{outcome="replayed"} 1`)
	require.Contains(t, metrics, `micropay_pieces_total{outcome="credited"} 1`)
	require.Contains(t, metrics, "micropay_payments_accepted_total 3", "a replay is not a new payment")
}
