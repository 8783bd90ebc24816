package provider_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract/payment"
)

// readCounter counts the chain reads a provider makes through the real
// chain seam it wraps.
type readCounter struct {
	chain.Chain
	warrantReads atomic.Int64
	keyReads     atomic.Int64
}

func (c *readCounter) WarrantInfo(ctx context.Context, payer, provider isc.AgentID) (chain.WarrantInfo, error) {
	c.warrantReads.Add(1)
	return c.Chain.WarrantInfo(ctx, payer, provider)
}

func (c *readCounter) PublicKey(ctx context.Context, payer isc.AgentID) ([]byte, error) {
	c.keyReads.Add(1)
	return c.Chain.PublicKey(ctx, payer)
}

func (c *readCounter) reads() int64 { return c.warrantReads.Load() + c.keyReads.Load() }

// countReads makes the provider read the chain through a readCounter.
func countReads(rc **readCounter) func(*provider.Config) {
	return func(c *provider.Config) {
		*rc = &readCounter{Chain: c.Chain}
		c.Chain = *rc
	}
}

// strangerHeader is a PAYMENT-SIGNATURE header of a payment that names
// payer, an agent with no warrant for the provider.
func (h *harness) strangerHeader(payer isc.AgentID) string {
	return h.headerWith(func(p *x402.PaymentPayload) { p.Payload.Payer = payer.String() })
}

func strangers(n int) []isc.AgentID {
	out := make([]isc.AgentID, n)
	for i := range out {
		out[i] = chain.AgentOf(cryptolib.NewKeyPair())
	}
	return out
}

// payWith GETs the paywalled piece with a PAYMENT-SIGNATURE header and
// returns the status, the Retry-After header and the rejection reason.
func payWith(t *testing.T, url, header string) (status int, retryAfter, reason string) {
	t.Helper()
	resp := get(t, url, map[string]string{x402.HeaderSignature: header})
	if resp.StatusCode == http.StatusPaymentRequired {
		var pr x402.PaymentRequired
		require.NoError(t, x402.Decode(resp.Header.Get(x402.HeaderRequired), &pr))
		reason = pr.Reason
	} else if resp.StatusCode != http.StatusOK {
		var body map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		reason = body["reason"]
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), reason
}

// TestStrangersCostNothing: 5,000 requests naming payers without a warrant,
// over the paywall on loopback, leave no warrant state, add no metric
// series, cost one chain read each the first time and none when repeated
// within MissTTL, and add no chain reads to a schedule tick.
func TestStrangersCostNothing(t *testing.T) {
	const n = 5_000
	var rc *readCounter
	reg := prometheus.NewRegistry()
	h := newHarness(t, countReads(&rc), func(c *provider.Config) {
		c.Metrics = provider.NewMetrics(reg)
		c.Schedule = provider.Every(time.Hour)
		c.Lookups = provider.LookupLimits{Rate: rate.Inf, MissEntries: 2 * n}
	})
	provider.CollectWarrants(reg, h.p)
	srv := h.server()
	h.p.RunOnce(h.ctx) // start the settler: first schedule tick in an hour

	status, _, _ := payWith(t, srv.URL+"/piece", h.signatureHeader(h.next(piecePrice)))
	require.Equal(t, http.StatusOK, status)
	status, _, reason := payWith(t, srv.URL+"/piece", h.strangerHeader(strangers(1)[0]))
	require.Equal(t, http.StatusPaymentRequired, status)
	require.Equal(t, provider.ReasonNoWarrant, reason)
	statesBefore, metricsBefore := provider.WarrantStates(h.p), scrape(t, reg)
	require.Equal(t, 1, statesBefore, "the paying payer only")

	payers := strangers(n)
	readsBefore := rc.reads()
	for _, payer := range payers {
		status, _, reason := payWith(t, srv.URL+"/piece", h.strangerHeader(payer))
		require.Equal(t, http.StatusPaymentRequired, status)
		require.Equal(t, provider.ReasonNoWarrant, reason)
	}
	require.EqualValues(t, n, rc.reads()-readsBefore, "one warrant read per stranger, no key read")
	require.Equal(t, statesBefore, provider.WarrantStates(h.p), "no state for strangers")

	metricsAfter := scrape(t, reg)
	require.Equal(t, strings.Count(metricsBefore, "\n"), strings.Count(metricsAfter, "\n"), "no new series")
	require.Equal(t, 2, strings.Count(metricsAfter, `{payer="`), "per-warrant series of the paying payer only")
	require.Less(t, len(metricsAfter)-len(metricsBefore), 64, "only counter values grew")
	require.Contains(t, metricsAfter, `micropay_payments_rejected_total{reason="no_warrant"} `+strconv.Itoa(n+1))

	readsBefore = rc.reads()
	for _, payer := range payers[:n/10] {
		status, _, _ := payWith(t, srv.URL+"/piece", h.strangerHeader(payer))
		require.Equal(t, http.StatusPaymentRequired, status)
	}
	require.Zero(t, rc.reads()-readsBefore, "a remembered miss costs no chain read")

	readsBefore = rc.reads()
	h.clock.Add(time.Hour)
	h.p.RunOnce(h.ctx) // the schedule tick settles the paying payer
	require.EqualValues(t, piecePrice, h.info().Paid)
	tickReads := rc.reads() - readsBefore
	require.LessOrEqual(t, tickReads, int64(3), "the tick reads the paying payer's warrant only")
	t.Logf("%d strangers: %d warrant states, /metrics %d -> %d bytes, schedule tick %d chain reads",
		n, provider.WarrantStates(h.p), len(metricsBefore), len(metricsAfter), tickReads)
}

// TestWarrantOpenedAfterRefusalIsAccepted: a payer refused for having no
// warrant opens one and is accepted once MissTTL has passed, well within
// the poll interval and InfoMaxAge; within MissTTL the refusal is answered
// from memory.
func TestWarrantOpenedAfterRefusalIsAccepted(t *testing.T) {
	var rc *readCounter
	h := newHarness(t, countReads(&rc))
	srv := h.server()
	key := cryptolib.NewKeyPair()
	payer := chain.AgentOf(key)
	require.NoError(t, h.chain.Fund(h.ctx, payer, 5_000_000))
	_, err := chain.RegisterKey(h.ctx, h.chain, key)
	require.NoError(t, err)
	signed := hex.EncodeToString(h.signFor(key, 1, 1, piecePrice).Bytes())
	header := h.headerWith(func(p *x402.PaymentPayload) { p.Payload.Payer, p.Payload.Payment = payer.String(), signed })

	status, _, reason := payWith(t, srv.URL+"/piece", header)
	require.Equal(t, http.StatusPaymentRequired, status)
	require.Equal(t, provider.ReasonNoWarrant, reason)

	_, err = chain.AddWarrant(h.ctx, h.chain, key, chain.AddWarrantRequest{Provider: h.prov, Amount: 2_000_000})
	require.NoError(t, err)
	reads := rc.reads()
	status, _, reason = payWith(t, srv.URL+"/piece", header)
	require.Equal(t, http.StatusPaymentRequired, status, "within MissTTL the miss is remembered")
	require.Equal(t, provider.ReasonNoWarrant, reason)
	require.Equal(t, reads, rc.reads(), "answered without a chain read")

	h.clock.Add(2 * time.Second) // the default MissTTL; PollInterval and InfoMaxAge are 30 s
	status, _, reason = payWith(t, srv.URL+"/piece", header)
	require.Equal(t, http.StatusOK, status, reason)
	require.Equal(t, 1, provider.WarrantStates(h.p), "state for the new warrant")
}

// TestLookupsRateLimitedPerClient: a client that looks up more unknown
// payers than its burst gets 429 with Retry-After and costs no chain read;
// known payers are still served; after Retry-After it may look up again.
func TestLookupsRateLimitedPerClient(t *testing.T) {
	var rc *readCounter
	reg := prometheus.NewRegistry()
	h := newHarness(t, countReads(&rc), func(c *provider.Config) {
		c.Metrics = provider.NewMetrics(reg)
		c.Lookups = provider.LookupLimits{Rate: 0.5, Burst: 3}
	})
	srv := h.server()
	status, _, _ := payWith(t, srv.URL+"/piece", h.signatureHeader(h.next(piecePrice)))
	require.Equal(t, http.StatusOK, status, "a known payer: one look-up of the burst")

	payers := strangers(4)
	for _, payer := range payers[:2] {
		status, _, reason := payWith(t, srv.URL+"/piece", h.strangerHeader(payer))
		require.Equal(t, http.StatusPaymentRequired, status)
		require.Equal(t, provider.ReasonNoWarrant, reason)
	}
	reads := rc.reads()
	status, retryAfter, reason := payWith(t, srv.URL+"/piece", h.strangerHeader(payers[2]))
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, provider.ReasonRateLimited, reason)
	require.Equal(t, "2", retryAfter, "one look-up per 2 s")
	require.Equal(t, reads, rc.reads(), "refused without a chain read")
	require.Contains(t, scrape(t, reg), `micropay_payments_rejected_total{reason="rate_limited"} 1`)

	status, _, _ = payWith(t, srv.URL+"/piece", h.signatureHeader(h.next(piecePrice)))
	require.Equal(t, http.StatusOK, status, "known payers are not limited")
	status, _, reason = payWith(t, srv.URL+"/piece", h.strangerHeader(payers[0]))
	require.Equal(t, http.StatusPaymentRequired, status, "a remembered miss needs no budget")
	require.Equal(t, provider.ReasonNoWarrant, reason)

	h.clock.Add(2 * time.Second)
	status, _, reason = payWith(t, srv.URL+"/piece", h.strangerHeader(payers[3]))
	require.Equal(t, http.StatusPaymentRequired, status, "budget refilled after Retry-After")
	require.Equal(t, provider.ReasonNoWarrant, reason)
}

// TestRememberedMissesAreBounded: misses beyond MissEntries push out the
// oldest.
func TestRememberedMissesAreBounded(t *testing.T) {
	h := newHarness(t, func(c *provider.Config) { c.Lookups = provider.LookupLimits{MissEntries: 10} })
	for _, payer := range strangers(25) {
		_, err := h.p.Accept(h.ctx, provider.Payment{Payer: payer, Payment: h.sign(1, 1, 100), Price: 100})
		rej, ok := provider.IsRejection(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, provider.ReasonNoWarrant, rej.Reason)
	}
	require.Equal(t, 10, provider.RememberedMisses(h.p))
	require.Zero(t, provider.WarrantStates(h.p))
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:4711":              "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:4711": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:80":     "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:4711":     "192.0.2.7",
		"not an address":              "not an address",
	} {
		require.Equal(t, want, provider.ClientKey(in), in)
	}
}

// signFor signs a payment of key's warrant for the harness provider.
func (h *harness) signFor(key *cryptolib.KeyPair, epoch uint32, ordinal, total uint64) payment.Payment {
	return payment.Sign(key.GetPrivateKey().AsStdKey(), chain.PaymentWarrant(h.chain, chain.AgentOf(key), h.prov), epoch, ordinal, total)
}

// TestPayerHintFromStrangersCostsLittle: 402 answers to requests that only
// name a payer (MICROPAY-PAYER) leave no state for strangers, and their
// chain look-ups share the client's budget: past it the 402 comes without
// the position and without a chain read.
func TestPayerHintFromStrangersCostsLittle(t *testing.T) {
	var rc *readCounter
	h := newHarness(t, countReads(&rc), func(c *provider.Config) { c.Lookups = provider.LookupLimits{Rate: 0.5, Burst: 2} })
	srv := h.server()
	for _, payer := range strangers(10) {
		resp := get(t, srv.URL+"/piece", map[string]string{x402.HeaderPayer: payer.String()})
		require.Equal(t, http.StatusPaymentRequired, resp.StatusCode)
		var pr x402.PaymentRequired
		require.NoError(t, x402.Decode(resp.Header.Get(x402.HeaderRequired), &pr))
		require.Empty(t, pr.Accepts[0].Extra.Payer, "no position for a stranger")
	}
	require.EqualValues(t, 2, rc.reads(), "the burst's look-ups only")
	require.Zero(t, provider.WarrantStates(h.p))

	resp := get(t, srv.URL+"/piece", map[string]string{x402.HeaderPayer: h.payer.String()})
	require.Equal(t, http.StatusPaymentRequired, resp.StatusCode)
	h.clock.Add(2 * time.Second)
	resp = get(t, srv.URL+"/piece", map[string]string{x402.HeaderPayer: h.payer.String()})
	var pr x402.PaymentRequired
	require.NoError(t, x402.Decode(resp.Header.Get(x402.HeaderRequired), &pr))
	require.Equal(t, h.payer.String(), pr.Accepts[0].Extra.Payer, "a real payer's position once the budget refills")
	require.Equal(t, 1, provider.WarrantStates(h.p))
}
