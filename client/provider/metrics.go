package provider

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/micropay/micropay/client/store"
)

// Metrics are the provider's Prometheus metrics. Register them with
// NewMetrics; the per-warrant gauges are computed at scrape time.
type Metrics struct {
	accepted      prometheus.Counter
	acceptedValue prometheus.Counter
	rejected      *prometheus.CounterVec
	intake        prometheus.Histogram
	settlements   *prometheus.CounterVec
	settleLatency prometheus.Histogram
	settled       prometheus.Counter
	lost          prometheus.Counter
	requests      *prometheus.CounterVec
	batch         prometheus.Histogram
	pieces        *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them, with a collector of
// p's warrants (unsettled exposure, seconds to deadline), on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "micropay_payments_accepted_total", Help: "Payments accepted and stored.",
		}),
		acceptedValue: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "micropay_payments_accepted_base_tokens_total", Help: "Sum of the prices of accepted payments.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "micropay_payments_rejected_total", Help: "Payments refused, by reason (rate_limited: refused unjudged).",
		}, []string{"reason"}),
		intake: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "micropay_intake_seconds", Help: "Time to check and durably store a payment.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		settlements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "micropay_settlements_total", Help: "Settlement attempts, by outcome (landed, rejected, unknown, missed).",
		}, []string{"outcome"}),
		settleLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "micropay_settle_seconds", Help: "Time from sending a settle request to its receipt.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		settled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "micropay_settled_base_tokens_total", Help: "Base tokens the chain paid the provider.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "micropay_lost_base_tokens_total", Help: "Accepted but never settled: the warrant closed or its deadline passed first.",
		}),
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "micropay_settle_requests_total", Help: "Settle and settleMany requests sent, by answer (answered: a receipt or a rejection; unknown).",
	}, []string{"answer"})
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "micropay_settle_request_warrants", Help: "Warrants per settle or settleMany request.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11),
	})
	m.pieces = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "micropay_pieces_total",
		Help: "Paid pieces, by how they went: served (sold; a credited piece a replay serves after all is sold then), credited (failed after payment: its price is the consumer's credit) or replayed (served again free to a consumer retrying a lost answer).",
	}, []string{"outcome"})
	for _, outcome := range []string{pieceServed, pieceCredited, pieceReplayed} {
		m.pieces.WithLabelValues(outcome) // every series from the start, at 0
	}
	reg.MustRegister(m.accepted, m.acceptedValue, m.rejected, m.intake, m.settlements, m.settleLatency, m.settled, m.lost, m.requests, m.batch, m.pieces)
	return m
}

func (m *Metrics) observeIntake(acc *Accepted, err error, d time.Duration) {
	if err == nil {
		m.accepted.Inc()
		m.acceptedValue.Add(float64(acc.Receipt.Price))
		m.intake.Observe(d.Seconds())
		return
	}
	if r, ok := IsRejection(err); ok {
		m.rejected.WithLabelValues(r.Reason).Inc()
		return
	}
	if errors.Is(err, ErrRateLimited) {
		m.rejected.WithLabelValues(ReasonRateLimited).Inc()
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	m.rejected.WithLabelValues("error").Inc()
}

func (m *Metrics) observeSettle(outcome string, d time.Duration, paid uint64) {
	m.settlements.WithLabelValues(outcome).Inc()
	if outcome == OutcomeLanded {
		m.settleLatency.Observe(d.Seconds())
		m.settled.Add(float64(paid))
	}
}

// Values of micropay_pieces_total's outcome label.
const (
	pieceServed   = "served"
	pieceCredited = "credited"
	pieceReplayed = "replayed"
)

// observePiece counts a piece that went as outcome says.
func (m *Metrics) observePiece(outcome string) { m.pieces.WithLabelValues(outcome).Inc() }

// observeConcluded counts a piece whose receipt went from was to now.
func (m *Metrics) observeConcluded(was, now store.Outcome) {
	switch {
	case was == now:
	case now == store.Served:
		m.observePiece(pieceServed)
	case now == store.Credited:
		m.observePiece(pieceCredited)
	}
}

// observeRequest counts a settlement request of warrants warrants.
func (m *Metrics) observeRequest(warrants int, answered bool) {
	answer := "answered"
	if !answered {
		answer = "unknown"
	}
	m.requests.WithLabelValues(answer).Inc()
	m.batch.Observe(float64(warrants))
}

// warrantCollector exports per-warrant gauges from the provider's cache.
type warrantCollector struct {
	p          *Provider
	unsettled  *prometheus.Desc
	toDeadline *prometheus.Desc
	balance    *prometheus.Desc
}

// CollectWarrants registers a collector of the warrants p holds payments
// for (none for payers that only asked) on reg:
// micropay_warrant_unsettled_base_tokens, micropay_warrant_balance_base_tokens
// and micropay_warrant_seconds_to_deadline (revoked warrants only), labelled
// by payer. Values are as of the provider's last read of each warrant.
func CollectWarrants(reg prometheus.Registerer, p *Provider) {
	reg.MustRegister(&warrantCollector{
		p: p,
		unsettled: prometheus.NewDesc("micropay_warrant_unsettled_base_tokens",
			"Accepted but not yet settled, per warrant.", []string{"payer"}, nil),
		balance: prometheus.NewDesc("micropay_warrant_balance_base_tokens",
			"The warrant's balance on chain at the last read.", []string{"payer"}, nil),
		toDeadline: prometheus.NewDesc("micropay_warrant_seconds_to_deadline",
			"Chain seconds left before a revoked warrant's deadline.", []string{"payer"}, nil),
	})
}

func (c *warrantCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.unsettled
	ch <- c.balance
	ch <- c.toDeadline
}

func (c *warrantCollector) Collect(ch chan<- prometheus.Metric) {
	var now time.Time
	for _, v := range c.p.Warrants() {
		ch <- prometheus.MustNewConstMetric(c.unsettled, prometheus.GaugeValue, float64(v.Unsettled), v.Payer)
		ch <- prometheus.MustNewConstMetric(c.balance, prometheus.GaugeValue, float64(v.Balance), v.Payer)
		if v.Deadline != 0 {
			if now.IsZero() {
				t, err := c.p.cfg.Chain.Now(context.Background())
				if err != nil {
					continue
				}
				now = t
			}
			ch <- prometheus.MustNewConstMetric(c.toDeadline, prometheus.GaugeValue, float64(int64(v.Deadline)-now.Unix()), v.Payer)
		}
	}
}
