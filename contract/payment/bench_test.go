package payment_test

import (
	"testing"

	"github.com/micropay/micropay/contract/payment"
)

// Benchmarks report figures; they assert nothing about time. The loops use
// b.N rather than b.Loop because go.mod still declares go 1.22.

func BenchmarkSign(b *testing.B) {
	key, w := testKey(), testWarrant()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := payment.Sign(key, w, 1, uint64(i)+1, 100*uint64(i))
		if p.Ordinal == 0 {
			b.Fatal("unsigned")
		}
	}
}

// BenchmarkVerify is one signature check over prepared signed bytes: the
// floor of what accepting or settling a payment costs on one core.
func BenchmarkVerify(b *testing.B) {
	w, pub := testWarrant(), publicKey(testKey())
	p := signed(1, 7, 700)
	msg := w.SignedBytes(p.Epoch, p.Ordinal, p.Total)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if !payment.VerifyEd25519(msg, pub, p.Signature[:]) {
			b.Fatal("signature rejected")
		}
	}
}

// BenchmarkVerifyParallel runs signature checks on every core: the physical
// ceiling of payments per second a provider can accept, reported as
// verify/s.
func BenchmarkVerifyParallel(b *testing.B) {
	benchVerifyParallel(b, payment.VerifyEd25519)
}

// benchVerifyParallel runs verify on a payment's signature on every core
// and reports verify/s.
func benchVerifyParallel(b *testing.B, verify func(msg, pub, sig []byte) bool) {
	w, pub := testWarrant(), publicKey(testKey())
	p := signed(1, 7, 700)
	msg := w.SignedBytes(p.Epoch, p.Ordinal, p.Total)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !verify(msg, pub, p.Signature[:]) {
				panic("signature rejected") // b.Fatal may not be called from RunParallel goroutines
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verify/s")
}

func BenchmarkDecode(b *testing.B) {
	wire := signed(1, 7, 700).Bytes()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := payment.Decode(wire); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSettle100 settles an itemized batch of 100 payments as the
// contract does, with crypto/ed25519 as the verifier (the contract's burns
// gas around the same check).
func BenchmarkSettle100(b *testing.B) {
	batch := make([]payment.Payment, 100)
	for i := range batch {
		batch[i] = signed(1, uint64(i)+1, 10*uint64(i+1))
	}
	ledger := payment.Ledger{Epoch: 1, Balance: 1_000_000}
	sig := testSigned()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		out, err := payment.Settle(ledger, batch, sig)
		if err != nil || out.Paid != 1000 {
			b.Fatal(out.Paid, err)
		}
	}
}

func BenchmarkAccept(b *testing.B) {
	in := payment.Intake{Epoch: 1, LastOrdinal: 6, LastTotal: 600, Settled: 100, Balance: 1_000_000, Price: 100}
	p := signed(1, 7, 700)
	sig := testSigned()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := payment.Accept(in, p, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyVerifierParallel is BenchmarkVerifyParallel with the
// provider's checker (a KeyVerifier kept per key): the contract-equivalent
// ceiling of intake on every core, reported as verify/s.
func BenchmarkKeyVerifierParallel(b *testing.B) {
	benchVerifyParallel(b, payment.NewKeyVerifier(publicKey(testKey())).Verify)
}
