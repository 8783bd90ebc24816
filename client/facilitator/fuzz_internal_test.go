package facilitator

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/x402"
)

// envelopeOnly is a stand-in for the provider, named as such: the fuzz
// target exercises the decoding and envelope checks that run before the
// provider is asked, so it only answers ChainID and Agent.
type envelopeOnly struct {
	chainID isc.ChainID
	agent   isc.AgentID
}

var errNotAsked = errors.New("envelopeOnly: the provider is not asked in this test")

func (e envelopeOnly) Verify(context.Context, provider.Payment) (*provider.Verified, error) {
	return nil, errNotAsked
}
func (e envelopeOnly) Accept(context.Context, provider.Payment) (*provider.Accepted, error) {
	return nil, errNotAsked
}
func (e envelopeOnly) Position(context.Context, isc.AgentID) (provider.Position, error) {
	return provider.Position{}, errNotAsked
}
func (e envelopeOnly) ChainID() isc.ChainID { return e.chainID }
func (e envelopeOnly) Agent() isc.AgentID   { return e.agent }

// FuzzDecodeRequest feeds any body to the request decoder and the envelope
// checks: they never panic, and a request they pass carries a payment that
// re-encodes to the very hex it came as, priced above zero at the
// requirements' amount, for this facilitator's network and provider.
func FuzzDecodeRequest(f *testing.F) {
	chainID := isc.RandomChainID()
	agent := isc.NewRandomAgentID()
	fac, err := New(Config{Provider: envelopeOnly{chainID: chainID, agent: agent}, Token: strings.Repeat("a", 64)})
	if err != nil {
		f.Fatal(err)
	}
	req := x402.Requirements{Scheme: x402.Scheme, Network: x402.Network(chainID.String()), Amount: 700, Asset: x402.Asset,
		PayTo: agent.String(), Extra: x402.Terms{Contract: contractHname()}}
	good, _ := json.Marshal(Request{X402Version: 2, PaymentRequirements: req, PaymentPayload: PaymentPayload{
		X402Version: 2, Accepted: req, Payload: x402.SignedPayment{Payer: agent.String(), Payment: "01" + strings.Repeat("00", 84)},
		Extensions: map[string]json.RawMessage{PaymentIdentifier: json.RawMessage(`{"info":{"id":"pay_0123456789abcdef"}}`)},
	}})
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"x402Version":2,"paymentPayload":{"extensions":{"payment-identifier":7}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Request
		if json.NewDecoder(bytes.NewReader(body)).Decode(&r) != nil {
			return
		}
		_, _, _ = idempotencyKey(&r)
		in, rf := fac.payment(&r)
		if rf != nil {
			if rf.reason == "" || rf.msg == "" {
				t.Fatalf("refusal without reason or message: %+v", rf)
			}
			return
		}
		if got := hex.EncodeToString(in.Payment.Bytes()); got != strings.ToLower(r.PaymentPayload.Payload.Payment) {
			t.Fatalf("payment %s re-encodes to %s", r.PaymentPayload.Payload.Payment, got)
		}
		if in.Price == 0 || in.Price != uint64(r.PaymentRequirements.Amount) {
			t.Fatalf("price %d from amount %d", in.Price, r.PaymentRequirements.Amount)
		}
		if r.PaymentRequirements.Network != fac.network || r.PaymentRequirements.PayTo != fac.payTo {
			t.Fatalf("passed a request for %s / %s", r.PaymentRequirements.Network, r.PaymentRequirements.PayTo)
		}
	})
}
