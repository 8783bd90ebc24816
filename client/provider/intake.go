package provider

import (
	"bytes"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract/payment"
)

// signing is what checking a warrant's payments needs besides the
// warrant's state, made once per warrant instead of once per payment: the
// signing domain (the warrant part of the signed bytes), the payer's key
// with its KeyVerifier, and the payer's name as answers give it.
type signing struct {
	domain payment.Warrant
	pubKey []byte
	// verify is pubKey's payment.KeyVerifier: it accepts exactly what the
	// contract accepts, at about 1.45 times crypto/ed25519's speed.
	verify payment.Verifier
	name   string // the payer's agent ID as text (bech32)
}

// signingOf returns w's signing for the payer's key pk, making it the
// first time and again if the key is another.
func (p *Provider) signingOf(w *warrant, pk []byte) *signing {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sig == nil || !bytes.Equal(w.sig.pubKey, pk) {
		w.sig = &signing{
			domain: chain.PaymentWarrant(p.cfg.Chain, w.payer, p.agent),
			pubKey: pk,
			verify: payment.NewKeyVerifier(pk).Verify,
			name:   w.payer.String(),
		}
	}
	return w.sig
}

// name returns the payer's agent ID as text once a payment of the warrant
// has been checked, "" before.
func (w *warrant) name() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sig == nil {
		return ""
	}
	return w.sig.name
}
