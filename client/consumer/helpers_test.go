package consumer_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// keyFor returns a key derived from name, so tests (and the crash test's
// child process) agree on identities without sharing files.
func keyFor(name string) *cryptolib.KeyPair {
	seed := sha256.Sum256([]byte("micropay consumer test " + name))
	return cryptolib.KeyPairFromSeed(cryptolib.SeedFromBytes(seed[:]))
}

// env is an embedded chain with a funded payer and provider.
type env struct {
	chain       *solochain.Embedded
	payerKey    *cryptolib.KeyPair
	providerKey *cryptolib.KeyPair
	provider    isc.AgentID
	consumer    *consumer.Consumer
	states      consumer.StateStore
}

const payerFunds = 50_000_000

// newEnv starts a chain and a consumer whose payer keeps its state in
// memory (durable stores are covered by the state suite and the crash test).
func newEnv(t testing.TB) *env {
	t.Helper()
	e, err := newEnvWith(t.Name(), consumer.NewMemState())
	require.NoError(t, err)
	t.Cleanup(e.chain.Close)
	return e
}

func newEnvWith(name string, states consumer.StateStore) (*env, error) {
	c, err := solochain.New(solochain.Options{Name: name})
	if err != nil {
		return nil, err
	}
	e := &env{chain: c, payerKey: keyFor("payer"), providerKey: keyFor("provider"), states: states}
	e.provider = chain.AgentOf(e.providerKey)
	e.consumer = &consumer.Consumer{Chain: c, Key: e.payerKey, Payer: consumer.NewPayer(c, e.payerKey, states)}
	ctx := context.Background()
	if err := c.Fund(ctx, e.consumer.Agent(), payerFunds); err != nil {
		return nil, err
	}
	if err := c.Fund(ctx, e.provider, 10_000_000); err != nil {
		return nil, err
	}
	return e, nil
}

// addWarrant gives the payer a warrant for the provider.
func (e *env) addWarrant(t testing.TB, amount uint64) {
	t.Helper()
	_, err := e.consumer.AddWarrant(context.Background(), e.provider, amount, 0)
	require.NoError(t, err)
}

func (e *env) info(t testing.TB) chain.WarrantInfo {
	t.Helper()
	info, err := e.consumer.Info(context.Background(), e.provider)
	require.NoError(t, err)
	return info
}

func (e *env) position(t testing.TB) consumer.Position {
	t.Helper()
	pos, err := e.consumer.Payer.State(context.Background(), e.provider)
	require.NoError(t, err)
	return pos
}

// testProvider is a stand-in for the real provider (client/provider, built
// separately), written here so these tests depend only on the HTTP contract
// the consumer is built against:
//
//   - a request without PAYMENT-SIGNATURE gets 402 and PAYMENT-REQUIRED
//     offering one micropay-warrant payment of the current price, with the
//     payer's position (from MICROPAY-PAYER) in the terms;
//   - a request with one (pre-emptive or after a 402) has its payment checked by payment.Accept — the
//     provider's real acceptance rules — against the warrant read from the
//     chain on every request and the last payment this double accepted,
//     with the payer's registered key; accepted: 200, the body "piece N"
//     and PAYMENT-RESPONSE; refused: 402 with PAYMENT-REQUIRED{error,
//     reason} and PAYMENT-RESPONSE{success false}; malformed: 400.
//
// It stores nothing durably and never settles: the tests settle by hand.
// The exported-looking knobs (price, payTo, hideTerms, paidAnswer) let a
// test change its behaviour between requests; with payTo naming another
// provider it refuses every payment, as a site taken over would.
type testProvider struct {
	chain chain.Chain
	key   *cryptolib.KeyPair
	agent isc.AgentID

	mu         sync.Mutex
	price      uint64
	payTo      string // offered payTo; default the provider's agent ID
	hideTerms  bool   // omit the payer's position (epoch …) from offers
	paidAnswer int    // if set, answer every paid request with this status and no payment word
	credit     uint64 // owed to the payer: taken off the price of the next payment accepted
	last       map[string]payment.Payment
	accepted   []payment.Payment // in order of acceptance
	signatures int               // paid requests received
	requests   int               // requests received
	payerSeen  []string          // MICROPAY-PAYER of each request
}

func newTestProvider(c chain.Chain, key *cryptolib.KeyPair, price uint64) *testProvider {
	return &testProvider{chain: c, key: key, agent: chain.AgentOf(key), price: price, last: map[string]payment.Payment{}}
}

func (p *testProvider) set(f func(p *testProvider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// stats returns a copy of what the double saw.
func (p *testProvider) stats() (accepted []payment.Payment, signatures, requests int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]payment.Payment(nil), p.accepted...), p.signatures, p.requests
}

func (p *testProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// One request at a time: the double's bookkeeping is not the subject.
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	p.payerSeen = append(p.payerSeen, r.Header.Get(x402.HeaderPayer))

	offer, err := p.offer(ctx, r.Header.Get(x402.HeaderPayer))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resource := x402.Resource{URL: r.URL.String()}
	sigHeader := r.Header.Get(x402.HeaderSignature)
	if sigHeader == "" {
		p.require(w, resource, offer, "", "")
		return
	}
	p.signatures++
	if p.payTo != "" && p.payTo != p.agent.String() {
		// A site that names another provider takes no payment for this one.
		p.refuse(w, resource, offer, r.Header.Get(x402.HeaderPayer), "wrong_provider", "pay "+p.payTo)
		return
	}
	if p.paidAnswer != 0 {
		w.WriteHeader(p.paidAnswer)
		return
	}
	pl, err := x402.DecodePaymentPayload(sigHeader)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pay, err := pl.Payment()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	payer, err := isc.AgentIDFromString(pl.Payload.Payer)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	info, err := p.chain.WarrantInfo(ctx, payer, p.agent)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if !info.Exists {
		p.refuse(w, resource, offer, pl.Payload.Payer, consumer.ReasonNoWarrant, "no warrant")
		return
	}
	pk, err := p.chain.PublicKey(ctx, payer)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if pk == nil {
		p.refuse(w, resource, offer, pl.Payload.Payer, consumer.ReasonUnknownPayer, "no public key")
		return
	}
	now, err := p.chain.Now(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	in := p.intake(payer, info)
	in.Now = uint64(now.Unix())
	if _, err := payment.Accept(in, pay, payment.Signed{Warrant: chain.PaymentWarrant(p.chain, payer, p.agent), PublicKey: pk}); err != nil {
		var re *payment.RuleError
		if !errors.As(err, &re) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		p.refuse(w, resource, offer, pl.Payload.Payer, re.Reason.String(), err.Error())
		return
	}
	p.last[string(payer.Bytes())] = pay
	p.accepted = append(p.accepted, pay)
	p.credit -= min(p.credit, p.price)
	h, _ := x402.Encode(x402.PaymentResponse{
		Success: true, Network: offer.Network, Payer: pl.Payload.Payer,
		Extra: &x402.Settlement{Epoch: pay.Epoch, Ordinal: pay.Ordinal, Total: x402.Amount(pay.Total), Price: x402.Amount(in.Price), Credit: x402.Amount(p.credit)},
	})
	w.Header().Set(x402.HeaderResponse, h)
	fmt.Fprintf(w, "piece %d", len(p.accepted))
	if r.ContentLength > 0 {
		fmt.Fprintf(w, " (%d bytes received)", r.ContentLength)
	}
}

// intake is what the double knows of payer's warrant, as a real provider
// would assemble it. p.mu must be held.
func (p *testProvider) intake(payer isc.AgentID, info chain.WarrantInfo) payment.Intake {
	in := payment.Intake{
		Epoch: info.Epoch, LastOrdinal: info.LastOrdinal, LastTotal: info.Paid, Settled: info.Paid,
		Balance: info.Balance, Price: p.price - min(p.credit, p.price), Deadline: info.Deadline, Margin: 60,
	}
	if last, ok := p.last[string(payer.Bytes())]; ok && last.Epoch == info.Epoch {
		in.LastOrdinal = max(in.LastOrdinal, last.Ordinal)
		in.LastTotal = max(in.LastTotal, last.Total)
	}
	return in
}

// offer builds the Requirements for payerHeader. p.mu must be held.
func (p *testProvider) offer(ctx context.Context, payerHeader string) (x402.Requirements, error) {
	payTo := p.payTo
	if payTo == "" {
		payTo = p.agent.String()
	}
	o := x402.Requirements{
		Scheme: x402.Scheme, Network: x402.Network(p.chain.ID().String()), Amount: x402.Amount(p.price),
		Asset: x402.Asset, PayTo: payTo, MaxTimeoutSeconds: 60,
		Extra: x402.Terms{Contract: contract.Contract.Hname().String()},
	}
	if payerHeader == "" || p.hideTerms {
		return o, nil
	}
	payer, err := isc.AgentIDFromString(payerHeader)
	if err != nil {
		return o, nil // a real provider would answer 400; the offer stands
	}
	info, err := p.chain.WarrantInfo(ctx, payer, p.agent)
	if err != nil || !info.Exists {
		return o, err
	}
	in := p.intake(payer, info)
	o.Extra.Payer = payerHeader
	o.Extra.Epoch = info.Epoch
	o.Extra.LastOrdinal = in.LastOrdinal
	o.Extra.LastTotal = x402.Amount(in.LastTotal)
	o.Extra.Backed = x402.Amount(info.Balance - (in.LastTotal - info.Paid))
	o.Extra.Deadline = info.Deadline
	o.Extra.Credit = x402.Amount(p.credit)
	return o, nil
}

func (p *testProvider) require(w http.ResponseWriter, res x402.Resource, offer x402.Requirements, reason, msg string) {
	h, _ := x402.Encode(x402.PaymentRequired{X402Version: x402.Version, Error: msg, Reason: reason, Resource: res, Accepts: []x402.Requirements{offer}})
	w.Header().Set(x402.HeaderRequired, h)
	w.WriteHeader(http.StatusPaymentRequired)
}

func (p *testProvider) refuse(w http.ResponseWriter, res x402.Resource, offer x402.Requirements, payer, reason, msg string) {
	h, _ := x402.Encode(x402.PaymentResponse{Success: false, ErrorReason: reason, Network: offer.Network, Payer: payer})
	w.Header().Set(x402.HeaderResponse, h)
	p.require(w, res, offer, reason, msg)
}
