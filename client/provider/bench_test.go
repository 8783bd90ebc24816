package provider_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/provider/settletest"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

// benchToken is the POST /pay credential of the benchmark's server.
const benchToken = "bench0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"

// benchConsumers is how many consumers pay at once in BenchmarkIntake,
// each sequentially on its own warrant.
const benchConsumers = 64

// BenchmarkIntake measures the provider accepting payments into the
// durable (pebble, fsync) store, 64 consumers paying at once, each on its
// own warrant: in-process (Accept), over HTTP on loopback (POST /pay, one
// payment per request on 64 connections), and over HTTP in batches of 16
// (a PayBatch of 16 consumers' payments per request on 4 connections: the
// same 64 payments in flight; MICROPAY_BENCH_BATCH_CONNS=64 runs it on 64
// connections of 16 consumers each, 1,024 warrants, opened a thousand a
// block). Payments are signed and request bodies encoded before the timer
// starts: this is the provider's cost, with the HTTP client on the same
// cores.
//
// Each row also measures, in the same run, the ceiling and the floor it is
// judged against: crypto/ed25519's verification rate on every core, just
// before and just after the row's payments (stdlib-verify/s, the mean;
// x-stdlib is the intake rate over it) and the p99 of a
// bare synced pebble write by 64 writers at once (pebble-p99-µs;
// p99/pebble-p99 is the intake p99 over it), with their rate
// (pebble-writes/s: what 64 sequential consumers can have acknowledged at
// one sync each; POST /pay syncs twice per payment). Latencies are per
// request.
func BenchmarkIntake(b *testing.B) {
	conns := envInt(b, "MICROPAY_BENCH_BATCH_CONNS", 4)
	rig := newIntakeRig(b, max(benchConsumers, 16*conns))
	defer rig.close()
	rows := []struct {
		name       string
		pay        func(r *intakeRow) payFunc
		consumers  int
		perRequest int
	}{
		{"inprocess/consumers-64", (*intakeRow).acceptPay, benchConsumers, 1},
		{"http/consumers-64", (*intakeRow).httpPay, benchConsumers, 1},
		{fmt.Sprintf("http/batch-16/consumers-%d", 16*conns), (*intakeRow).batchPay, 16 * conns, 16},
	}
	for _, row := range rows {
		r := rig.row(b, row.consumers, row.perRequest)
		b.Run(row.name, func(b *testing.B) { r.run(b, row.pay(r)) })
		r.close()
	}
}

// payFunc sends one request and returns when the provider has answered.
type payFunc func(req benchRequest) error

// benchPayment is one signed payment of a bench payer.
type benchPayment struct {
	payer *benchPayer
	pay   payment.Payment
}

// benchRequest is what one request carries: payments of distinct payers,
// and its POST /pay body.
type benchRequest struct {
	pays []benchPayment
	body []byte
}

type benchPayer struct {
	key   ed25519.PrivateKey
	agent isc.AgentID
	name  string
	w     payment.Warrant
	next  uint64 // the next ordinal to sign
}

// sign returns the payer's next n payments, each buying a piece of 10.
func (bp *benchPayer) sign(n int) []benchPayment {
	out := make([]benchPayment, n)
	for i := range out {
		bp.next++
		ord := bp.next
		out[i] = benchPayment{payer: bp, pay: payment.Sign(bp.key, bp.w, 1, ord, ord*10)}
	}
	return out
}

// intakeRig is the chain and the warrants that every row of the benchmark
// pays on.
type intakeRig struct {
	ctx     context.Context
	e       *solochain.Embedded
	provKey *cryptolib.KeyPair
	payers  []*benchPayer
}

func newIntakeRig(b *testing.B, consumers int) *intakeRig {
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rig := &intakeRig{ctx: ctx, e: e, provKey: cryptolib.NewKeyPair()}
	prov := chain.AgentOf(rig.provKey)
	// Thousands of warrants a block; each locks the contract's least,
	// 100,000 payments of 10.
	fleet, err := settletest.Open(ctx, e, nil, prov, consumers, 0)
	if err != nil {
		b.Fatal(err)
	}
	for i, key := range fleet.Keys {
		agent := fleet.Payers[i]
		rig.payers = append(rig.payers, &benchPayer{
			key: key.GetPrivateKey().AsStdKey(), agent: agent, name: agent.String(), w: chain.PaymentWarrant(e, agent, prov),
		})
	}
	return rig
}

func (r *intakeRig) close() { r.e.Close() }

// intakeRow is one row's provider, its own pebble store, its HTTP server,
// and the bare pebble database the floor is measured on.
type intakeRow struct {
	rig    *intakeRig
	payers []*benchPayer // the rig's payers this row pays for
	p      *provider.Provider
	st     store.Store
	bare   *pebble.DB
	srv    *httptest.Server
	client *http.Client
	warm   bool
	// perRequest is how many payments, of as many payers, a request
	// carries; the payers are split among len(payers)/perRequest senders.
	perRequest int
}

func (r *intakeRig) row(b *testing.B, consumers, perRequest int) *intakeRow {
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	p, err := provider.New(r.ctx, provider.Config{
		Chain: r.e, Key: r.provKey, Store: st, InfoMaxAge: 9 * time.Minute, // below the default margin; no expiry in a run
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	bare, err := pebble.Open(b.TempDir(), &pebble.Options{})
	if err != nil {
		b.Fatal(err)
	}
	pay, err := p.PayHandler(provider.PayConfig{Price: 10, Token: benchToken})
	if err != nil {
		b.Fatal(err)
	}
	return &intakeRow{
		rig: r, payers: r.payers[:consumers], p: p, st: st, bare: bare, srv: httptest.NewServer(pay), perRequest: perRequest,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: consumers}},
	}
}

func (r *intakeRow) close() {
	r.srv.Close()
	r.client.CloseIdleConnections()
	_ = r.bare.Close()
	_ = r.st.Close()
}

func (r *intakeRow) acceptPay() payFunc {
	return func(req benchRequest) error {
		for _, bp := range req.pays {
			if _, err := r.p.Accept(r.rig.ctx, provider.Payment{Payer: bp.payer.agent, Payment: bp.pay, Price: 10}); err != nil {
				return err
			}
		}
		return nil
	}
}

// httpPay posts a payment in its own request.
func (r *intakeRow) httpPay() payFunc {
	return func(req benchRequest) error {
		_, err := r.post(req.body)
		return err
	}
}

// batchPay posts a PayBatch and checks that every payment was accepted.
func (r *intakeRow) batchPay() payFunc {
	return func(req benchRequest) error {
		answer, err := r.post(req.body)
		if err != nil {
			return err
		}
		if n := bytes.Count(answer, []byte(`"accepted":true`)); n != len(req.pays) {
			return fmt.Errorf("%d of %d payments accepted: %s", n, len(req.pays), answer)
		}
		return nil
	}
}

// post sends body to POST /pay and returns the answer.
func (r *intakeRow) post(body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, r.srv.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+benchToken)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, answer)
	}
	return answer, nil
}

// request makes the request carrying pays: a PayRequest body for one
// payment on a row of single payments, a PayBatch otherwise.
func (r *intakeRow) request(pays []benchPayment) benchRequest {
	items := make([]provider.PayRequest, len(pays))
	for i, bp := range pays {
		items[i] = provider.PayRequest{Payer: bp.payer.name, Payment: hex.EncodeToString(bp.pay.Bytes())}
	}
	var body []byte
	if r.perRequest == 1 {
		body, _ = json.Marshal(items[0])
	} else {
		body, _ = json.Marshal(provider.PayBatch{Payments: items})
	}
	return benchRequest{pays: pays, body: body}
}

// run measures one row: each sender sends its share of b.N payments with
// pay, one request after another.
func (r *intakeRow) run(b *testing.B, pay payFunc) {
	b.StopTimer()
	if !r.warm { // the provider's first payment of a warrant reads the chain
		for _, bp := range r.payers {
			if err := pay(r.request(bp.sign(1))); err != nil {
				b.Fatal(err)
			}
		}
		r.warm = true
	}
	work := r.signShares(b.N)
	stdlibBefore := stdlibVerifyRate(b)
	floor := barePebble(b, r.bare)
	runtime.GC()

	latencies := make([][]time.Duration, len(work))
	var wg sync.WaitGroup
	b.StartTimer()
	start, cpu := time.Now(), processCPU()
	for i, reqs := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, len(reqs))
			for _, req := range reqs {
				t0 := time.Now()
				if err := pay(req); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			latencies[i] = lat
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu
	b.StopTimer()
	// The ceiling measured on both sides of the run, so that a change of
	// the machine's load during it weighs on both figures alike.
	stdlib := (stdlibBefore + stdlibVerifyRate(b)) / 2
	reportIntake(b, b.N, elapsed, slices.Concat(latencies...), stdlib, floor)
	if cpu > 0 {
		// the provider's, the load generator's and the runtime's together
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/payment")
		b.ReportMetric(cpu.Seconds()/elapsed.Seconds()/float64(runtime.GOMAXPROCS(0)), "cpu-busy")
	}
	b.ReportMetric(float64(r.perRequest), "payments/request")
}

// signShares signs n payments, spread over the payers, and groups them
// into each sender's requests: a sender pays for perRequest payers, each
// request carrying the next payment of each of them that has one left.
func (r *intakeRow) signShares(n int) [][]benchRequest {
	payers := r.payers
	pays := make([][]benchPayment, len(payers))
	parallel(len(payers), func(i int) {
		share := n / len(payers)
		if i < n%len(payers) {
			share++
		}
		pays[i] = payers[i].sign(share)
	})
	work := make([][]benchRequest, len(payers)/r.perRequest)
	parallel(len(work), func(s int) {
		mine := pays[s*r.perRequest : (s+1)*r.perRequest]
		for k := 0; ; k++ {
			var req []benchPayment
			for _, ps := range mine {
				if k < len(ps) {
					req = append(req, ps[k])
				}
			}
			if len(req) == 0 {
				return
			}
			work[s] = append(work[s], r.request(req))
		}
	})
	return work
}

// envInt reads a positive size from the environment variable name, def
// when it is not set.
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// parallel runs fn(0..n-1) on every core.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// reportIntake reports a row's rate and latencies beside the same run's
// ceiling (stdlib verifications/s) and floor (bare pebble p99).
func reportIntake(b *testing.B, payments int, elapsed time.Duration, lat []time.Duration, stdlib float64, floor pebbleFloor) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	rate := float64(payments) / elapsed.Seconds()
	p99 := lat[len(lat)*99/100]
	b.ReportMetric(rate, "payments/s")
	b.ReportMetric(stdlib, "stdlib-verify/s")
	b.ReportMetric(rate/stdlib, "x-stdlib")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(floor.p99.Microseconds()), "pebble-p99-µs")
	b.ReportMetric(float64(p99)/float64(floor.p99), "p99/pebble-p99")
	b.ReportMetric(floor.rate, "pebble-writes/s")
}

// stdlibVerifyRate measures crypto/ed25519.Verify on every core at once
// (the check the contract runs) and returns verifications per second.
func stdlibVerifyRate(b *testing.B) float64 {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 120) // about the signed bytes of a payment
	sig := ed25519.Sign(priv, msg)
	const perCore = 3000
	cores := runtime.GOMAXPROCS(0)
	start := time.Now()
	parallel(cores, func(int) {
		for range perCore {
			if !ed25519.Verify(pub, msg, sig) {
				b.Error("stdlib verification failed")
				return
			}
		}
	})
	return float64(perCore*cores) / time.Since(start).Seconds()
}

// pebbleFloor is what bare synced pebble writes achieve on this disk.
type pebbleFloor struct {
	p99  time.Duration // latency of one write
	rate float64       // writes per second, all writers together
}

// barePebble measures synced pebble writes of a receipt-sized record, 64
// writers at once, each one write after another as a consumer pays: the
// floor of a durable acknowledgement's latency, and the most payments per
// second 64 sequential consumers can have acknowledged with one sync each.
func barePebble(b *testing.B, db *pebble.DB) pebbleFloor {
	const writers, each = benchConsumers, 32
	value := make([]byte, 120)
	lat := make([]time.Duration, writers*each)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				key := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, uint32(i)), uint64(time.Now().UnixNano()))
				t0 := time.Now()
				if err := db.Set(key, value, pebble.Sync); err != nil {
					b.Error(err)
					return
				}
				lat[i*each+j] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	rate := float64(len(lat)) / time.Since(start).Seconds()
	slices.Sort(lat)
	return pebbleFloor{p99: lat[len(lat)*99/100], rate: rate}
}
