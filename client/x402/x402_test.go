package x402

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/contract/payment"
)

func validPayload() PaymentPayload {
	p := payment.Payment{Epoch: 1, Ordinal: 2, Total: 300}
	return PaymentPayload{
		X402Version: Version,
		Accepted:    Requirements{Scheme: Scheme, Network: Network("tgl1x"), Amount: 100, Asset: Asset, PayTo: "provider"},
		Payload:     SignedPayment{Payer: "payer", Payment: hex.EncodeToString(p.Bytes())},
	}
}

func TestRoundTrip(t *testing.T) {
	in := validPayload()
	h, err := Encode(in)
	require.NoError(t, err)
	out, err := DecodePaymentPayload(h)
	require.NoError(t, err)
	require.Equal(t, in, *out)
	p, err := out.Payment()
	require.NoError(t, err)
	require.EqualValues(t, 300, p.Total)
}

func TestAmountIsADecimalString(t *testing.T) {
	h, err := Encode(PaymentResponse{Extra: &Settlement{Total: 18446744073709551615}})
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, Decode(h, &back))
	require.Equal(t, "18446744073709551615", back["extra"].(map[string]any)["total"])
}

func TestDecodeRejects(t *testing.T) {
	enc := func(mut func(p *PaymentPayload)) string {
		p := validPayload()
		mut(&p)
		h, err := Encode(p)
		require.NoError(t, err)
		return h
	}
	for name, h := range map[string]string{
		"empty":         "",
		"not base64":    "%%%",
		"not json":      "bm90IGpzb24=",
		"wrong version": enc(func(p *PaymentPayload) { p.X402Version = 1 }),
		"wrong scheme":  enc(func(p *PaymentPayload) { p.Accepted.Scheme = "exact" }),
		"no payer":      enc(func(p *PaymentPayload) { p.Payload.Payer = "" }),
		"huge":          string(make([]byte, maxHeader+1)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodePaymentPayload(h)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
	p := validPayload()
	p.Payload.Payment = "zz"
	_, err := p.Payment()
	require.ErrorIs(t, err, ErrMalformed)
	p.Payload.Payment = "00"
	_, err = p.Payment()
	require.True(t, errors.Is(err, payment.ErrMalformed))
}

func FuzzDecodePaymentPayload(f *testing.F) {
	h, _ := Encode(validPayload())
	f.Add(h)
	f.Add("")
	f.Add("eyJ4NDAyVmVyc2lvbiI6Mn0=")
	f.Fuzz(func(t *testing.T, header string) {
		p, err := DecodePaymentPayload(header)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		again, err := Encode(p)
		require.NoError(t, err)
		q, err := DecodePaymentPayload(again)
		require.NoError(t, err)
		require.Equal(t, p, q)
		_, _ = p.Payment()
	})
}

func TestSettlementOutcomeAndCreditRoundTrip(t *testing.T) {
	in := PaymentResponse{Success: false, ErrorReason: ReasonCredited, Extra: &Settlement{Ordinal: 3, Total: 300, Outcome: OutcomeCredited, Credit: 100}}
	h, err := Encode(in)
	require.NoError(t, err)
	var out PaymentResponse
	require.NoError(t, Decode(h, &out))
	require.Equal(t, in, out)
	var raw map[string]any
	require.NoError(t, Decode(h, &raw))
	require.Equal(t, "100", raw["extra"].(map[string]any)["credit"])
	require.Equal(t, "credited", raw["extra"].(map[string]any)["outcome"])
}
