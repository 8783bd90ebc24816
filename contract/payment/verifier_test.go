package payment_test

import (
	"compress/gzip"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/contract/payment"
)

// edgeCase is one (public key, message, signature) of the edge vectors.
type edgeCase struct {
	set, name     string
	pub, msg, sig []byte
}

func readGzipJSON(t testing.TB, name string, v any) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "ed25519", name))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(zr).Decode(v))
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// edgeCases loads every vector of testdata/ed25519 (see its README).
func edgeCases(t testing.TB) []edgeCase {
	var out []edgeCase
	var spec []struct{ Message, PubKey, Signature string }
	readGzipJSON(t, "speccheck_cases.json.gz", &spec)
	for i, v := range spec {
		out = append(out, edgeCase{"speccheck", string(rune('0' + i)), unhex(t, v.PubKey), unhex(t, v.Message), unhex(t, v.Signature)})
	}
	var c2sp []struct{ A, R, S, M string }
	readGzipJSON(t, "ed25519vectors.json.gz", &c2sp)
	for _, v := range c2sp {
		out = append(out, edgeCase{"c2sp", v.M, unhex(t, v.A), []byte(v.M), append(unhex(t, v.R), unhex(t, v.S)...)})
	}
	var zip [][2]string
	readGzipJSON(t, "zip215.json.gz", &zip)
	for _, v := range zip {
		out = append(out, edgeCase{"zip215", v[0][:8], unhex(t, v[0]), []byte("Zcash"), unhex(t, v[1])})
	}
	var wp struct {
		TestGroups []struct {
			Key   struct{ PK string }
			Tests []struct{ Comment, Msg, Sig string }
		}
	}
	readGzipJSON(t, "eddsa_test.json.gz", &wp)
	for _, g := range wp.TestGroups {
		for _, tc := range g.Tests {
			out = append(out, edgeCase{"wycheproof", tc.Comment, unhex(t, g.Key.PK), unhex(t, tc.Msg), unhex(t, tc.Sig)})
		}
	}
	return out
}

// TestKeyVerifierMatchesStdlib: on every edge vector that separates ed25519
// verifiers (small-order and mixed-order keys and R, non-canonical S, R and
// A, the "Taming the many EdDSAs" set, Wycheproof), KeyVerifier answers
// exactly what crypto/ed25519.Verify answers, which is what the contract
// accepts. Both answers occur, so the comparison can fail either way.
func TestKeyVerifierMatchesStdlib(t *testing.T) {
	cases := edgeCases(t)
	require.Greater(t, len(cases), 300)
	var accepted, refused int
	for _, c := range cases {
		want := payment.VerifyEd25519(c.msg, c.pub, c.sig)
		got := payment.NewKeyVerifier(c.pub).Verify(c.msg, c.pub, c.sig)
		require.Equal(t, want, got, "%s %q: pub %x sig %x", c.set, c.name, c.pub, c.sig)
		if want {
			accepted++
		} else {
			refused++
		}
	}
	t.Logf("%d edge vectors: %d accepted, %d refused by both", len(cases), accepted, refused)
	require.Positive(t, accepted)
	require.Positive(t, refused)
}

// TestKeyVerifierOtherKeyFallsBack: asked about a key it was not made for,
// a KeyVerifier still answers correctly (by crypto/ed25519).
func TestKeyVerifierOtherKeyFallsBack(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	pubA, privA, _ := ed25519.GenerateKey(rng)
	pubB, privB, _ := ed25519.GenerateKey(rng)
	msg := []byte("micropay")
	v := payment.NewKeyVerifier(pubA)
	require.True(t, v.Verify(msg, pubA, ed25519.Sign(privA, msg)))
	require.True(t, v.Verify(msg, pubB, ed25519.Sign(privB, msg)))
	require.False(t, v.Verify(msg, pubA, ed25519.Sign(privB, msg)))
	require.False(t, v.Verify(msg, pubA[:31], ed25519.Sign(privA, msg)))
}

// FuzzKeyVerifierMatchesStdlib is the differential fuzz target: a real key
// and signature, then the fuzzer's bytes XORed into the key, the signature
// and the message; KeyVerifier and crypto/ed25519 must agree on every one.
func FuzzKeyVerifierMatchesStdlib(f *testing.F) {
	for _, c := range edgeCases(f)[:40] {
		f.Add(c.pub, c.sig, c.msg, false)
	}
	f.Add(make([]byte, 32), make([]byte, 64), []byte{}, true)
	f.Fuzz(func(t *testing.T, keyMask, sigMask, msg []byte, fresh bool) {
		seed := make([]byte, ed25519.SeedSize)
		copy(seed, msg)
		priv := ed25519.NewKeyFromSeed(seed)
		pub := []byte(priv.Public().(ed25519.PublicKey))
		sig := ed25519.Sign(priv, msg)
		if !fresh { // the fuzzer's bytes are the key and signature themselves
			pub, sig = append([]byte(nil), keyMask...), append([]byte(nil), sigMask...)
		} else {
			xor(pub, keyMask)
			xor(sig, sigMask)
		}
		want := payment.VerifyEd25519(msg, pub, sig)
		if got := payment.NewKeyVerifier(pub).Verify(msg, pub, sig); got != want {
			t.Fatalf("pub %x sig %x msg %x: KeyVerifier %v, crypto/ed25519 %v", pub, sig, msg, got, want)
		}
	})
}

func xor(dst, mask []byte) {
	for i := range dst {
		if i < len(mask) {
			dst[i] ^= mask[i]
		}
	}
}

// BenchmarkKeyVerifier compares the contract-equivalent checks on one
// signature in the same run: crypto/ed25519 against a KeyVerifier made once
// for the key (as a provider keeps one per warrant).
func BenchmarkKeyVerifier(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.New(rand.NewSource(1)))
	msg := make([]byte, 120)
	sig := ed25519.Sign(priv, msg)
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if !payment.VerifyEd25519(msg, pub, sig) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("key-verifier", func(b *testing.B) {
		v := payment.NewKeyVerifier(pub)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if !v.Verify(msg, pub, sig) {
				b.Fatal("refused")
			}
		}
	})
}
