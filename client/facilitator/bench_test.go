package facilitator_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/micropay/micropay/client/facilitator"
)

// BenchmarkFacilitator times POST /verify and POST /settle over loopback
// HTTP against the real provider (pebble store, synced before /settle
// answers; embedded chain), a fresh payment of one warrant per iteration,
// and reports each call's p50 and p99. The payer's signing and durable
// position are outside the timed calls.
func BenchmarkFacilitator(b *testing.B) {
	r := newRig(b)
	verify := make([]time.Duration, 0, b.N)
	settle := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		req := r.request(r.pay(b), fmt.Sprintf("http://shop/piece/%d", i))
		b.StartTimer()
		var v facilitator.VerifyResponse
		start := time.Now()
		if code := r.post(b, "/verify", req, &v); code != http.StatusOK || !v.IsValid {
			b.Fatalf("verify: %d %+v", code, v)
		}
		verify = append(verify, time.Since(start))
		var s facilitator.SettleResponse
		start = time.Now()
		if code := r.post(b, "/settle", req, &s); code != http.StatusOK || !s.Success {
			b.Fatalf("settle: %d %+v", code, s)
		}
		settle = append(settle, time.Since(start))
	}
	b.ReportMetric(float64(percentile(verify, 0.50).Microseconds()), "verify-p50-µs")
	b.ReportMetric(float64(percentile(verify, 0.99).Microseconds()), "verify-p99-µs")
	b.ReportMetric(float64(percentile(settle, 0.50).Microseconds()), "settle-p50-µs")
	b.ReportMetric(float64(percentile(settle, 0.99).Microseconds()), "settle-p99-µs")
}

// percentile returns the p-th percentile of d (sorted in place).
func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}
