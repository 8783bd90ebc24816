package payment_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/contract/payment"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from the fixed inputs")

const goldenPath = "testdata/golden.json"

// Fixed inputs of the golden vectors, also used by most other tests.
const testContract uint32 = 0x6d696370 // four distinct bytes, so byte order shows

// seq returns n bytes counting up from first: seq(1, 3) = 01 02 03.
func seq(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// testKey is the payer's key, from the seed 0x01..0x20.
func testKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seq(0x01, ed25519.SeedSize)) }

// otherKey is a key that is not the payer's.
func otherKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seq(0x41, ed25519.SeedSize)) }

func publicKey(key ed25519.PrivateKey) []byte { return key.Public().(ed25519.PublicKey) }

// agentID returns bytes shaped like an ISC AddressAgentID.Bytes(): agent ID
// kind 0x01 (address), address kind 0x00 (Ed25519), then a 32-byte address.
func agentID(first byte) []byte {
	return append([]byte{0x01, 0x00}, seq(first, 32)...)
}

func testWarrant() payment.Warrant {
	w := payment.Warrant{
		Contract: testContract,
		Payer:    agentID(0x80),
		Provider: agentID(0xc0),
	}
	copy(w.ChainID[:], seq(0x20, payment.ChainIDSize))
	return w
}

// testSigned checks signatures against testWarrant and testKey with the
// default verifier (crypto/ed25519).
func testSigned() payment.Signed {
	return payment.Signed{Warrant: testWarrant(), PublicKey: publicKey(testKey())}
}

// signed returns the payment (epoch, ordinal, total) signed by testKey on
// testWarrant.
func signed(epoch uint32, ordinal, total uint64) payment.Payment {
	return payment.Sign(testKey(), testWarrant(), epoch, ordinal, total)
}

// goldenFile is testdata/golden.json: fixed inputs and, for each (epoch,
// ordinal, total), the signed bytes, the wire form and the signature an
// implementation must produce. Byte strings are hex; 64-bit integers are JSON
// strings so that readers without 64-bit integers (JavaScript) keep them exact.
type goldenFile struct {
	Comment   string         `json:"comment"`
	Seed      string         `json:"ed25519_seed"`
	PublicKey string         `json:"public_key"`
	ChainID   string         `json:"chain_id"`
	Contract  uint32         `json:"contract_hname"`
	Payer     string         `json:"payer_agent_id"`
	Provider  string         `json:"provider_agent_id"`
	Vectors   []goldenVector `json:"vectors"`
}

type goldenVector struct {
	Epoch       uint32 `json:"epoch"`
	Ordinal     uint64 `json:"ordinal,string"`
	Total       uint64 `json:"total,string"`
	SignedBytes string `json:"signed_bytes"`
	Wire        string `json:"wire"`
	Signature   string `json:"signature"`
}

// goldenInputs are the (epoch, ordinal, total) of the golden vectors: zero,
// small values, values with every byte distinct, and values at and near the
// top of their ranges.
var goldenInputs = []struct {
	epoch          uint32
	ordinal, total uint64
}{
	{0, 0, 0},
	{0, 1, 1},
	{1, 2, 1_000_000},
	{7, 1 << 32, 123_456_789_012},
	{0x01020304, 0x0102030405060708, 0x1112131415161718},
	{math.MaxUint32 - 1, math.MaxUint64 - 1, math.MaxUint64 - 1},
	{math.MaxUint32, math.MaxUint64, math.MaxUint64},
	{math.MaxUint32, 1 << 63, math.MaxUint64},
}

// makeGolden computes the golden file from the fixed inputs with the code
// under test.
func makeGolden() goldenFile {
	key, w := testKey(), testWarrant()
	g := goldenFile{
		Comment:   "micropay/v1 payment vectors; regenerate with: go test ./contract/payment -run TestGolden -update",
		Seed:      hex.EncodeToString(key.Seed()),
		PublicKey: hex.EncodeToString(publicKey(key)),
		ChainID:   hex.EncodeToString(w.ChainID[:]),
		Contract:  w.Contract,
		Payer:     hex.EncodeToString(w.Payer),
		Provider:  hex.EncodeToString(w.Provider),
	}
	for _, in := range goldenInputs {
		p := payment.Sign(key, w, in.epoch, in.ordinal, in.total)
		g.Vectors = append(g.Vectors, goldenVector{
			Epoch:       in.epoch,
			Ordinal:     in.ordinal,
			Total:       in.total,
			SignedBytes: hex.EncodeToString(w.SignedBytes(in.epoch, in.ordinal, in.total)),
			Wire:        hex.EncodeToString(p.Bytes()),
			Signature:   hex.EncodeToString(p.Signature[:]),
		})
	}
	return g
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err, "hex %q", s)
	return b
}

// TestGolden recomputes every vector of testdata/golden.json from the inputs
// stored in the file and compares byte for byte. With -update it rewrites the
// file from the fixed inputs above instead.
func TestGolden(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(makeGolden(), "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(goldenPath), 0o755))
		require.NoError(t, os.WriteFile(goldenPath, append(b, '\n'), 0o644))
		t.Logf("wrote %s", goldenPath)
	}

	raw, err := os.ReadFile(goldenPath)
	require.NoError(t, err, "run with -update to create it")
	var g goldenFile
	require.NoError(t, json.Unmarshal(raw, &g))
	require.NotEmpty(t, g.Vectors)

	key := ed25519.NewKeyFromSeed(mustHex(t, g.Seed))
	require.Equal(t, g.PublicKey, hex.EncodeToString(publicKey(key)), "public key of the seed")
	w := payment.Warrant{Contract: g.Contract, Payer: mustHex(t, g.Payer), Provider: mustHex(t, g.Provider)}
	chainID := mustHex(t, g.ChainID)
	require.Len(t, chainID, payment.ChainIDSize)
	copy(w.ChainID[:], chainID)

	for _, v := range g.Vectors {
		msg := w.SignedBytes(v.Epoch, v.Ordinal, v.Total)
		require.Equal(t, v.SignedBytes, hex.EncodeToString(msg), "signed bytes of %+v", v)

		p := payment.Sign(key, w, v.Epoch, v.Ordinal, v.Total)
		require.Equal(t, v.Signature, hex.EncodeToString(p.Signature[:]), "signature of %+v", v)
		require.Equal(t, v.Wire, hex.EncodeToString(p.Bytes()), "wire form of %+v", v)

		// The stored vector is self-consistent too: the wire form decodes to
		// the stored fields and its signature verifies over the signed bytes.
		d, err := payment.Decode(mustHex(t, v.Wire))
		require.NoError(t, err)
		require.Equal(t, p, d)
		require.True(t, payment.VerifyEd25519(mustHex(t, v.SignedBytes), mustHex(t, g.PublicKey), mustHex(t, v.Signature)))
	}

	// The file covers exactly the fixed inputs, so -update is needed (and
	// shows in review) whenever they change.
	require.Equal(t, makeGolden(), g, "golden file is stale: run with -update")
}

// TestSignedBytesLayout checks each field of the signed bytes at its
// documented offset, with the expected bytes written out by hand.
func TestSignedBytesLayout(t *testing.T) {
	w := testWarrant()
	msg := w.SignedBytes(0x01020304, 0x0102030405060708, 0x1112131415161718)

	fields := []struct {
		name   string
		offset int
		want   []byte
	}{
		{"tag", 0, []byte("micropay/v1")},
		{"chain id", 11, seq(0x20, 32)},
		{"contract hname (u32 LE)", 43, []byte{0x70, 0x63, 0x69, 0x6d}},
		{"payer length", 47, []byte{34}},
		{"payer", 48, append([]byte{0x01, 0x00}, seq(0x80, 32)...)},
		{"provider length", 82, []byte{34}},
		{"provider", 83, append([]byte{0x01, 0x00}, seq(0xc0, 32)...)},
		{"epoch (u32 LE)", 117, []byte{0x04, 0x03, 0x02, 0x01}},
		{"ordinal (u64 LE)", 121, []byte{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}},
		{"total (u64 LE)", 129, []byte{0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11}},
	}
	end := 0
	for _, f := range fields {
		require.Equal(t, end, f.offset, "%s must follow the previous field", f.name)
		require.GreaterOrEqual(t, len(msg), f.offset+len(f.want), "%s", f.name)
		require.Equal(t, f.want, msg[f.offset:f.offset+len(f.want)], "%s at offset %d", f.name, f.offset)
		end = f.offset + len(f.want)
	}
	require.Len(t, msg, 137, "nothing after total")
	require.Equal(t, len(payment.Tag), 11)

	// Agent IDs of other lengths move the later fields; the length bytes say
	// by how much.
	w.Payer, w.Provider = []byte{0xaa}, nil
	msg = w.SignedBytes(1, 2, 3)
	require.Equal(t, []byte{1, 0xaa, 0}, msg[47:50])
	require.Len(t, msg, 47+3+4+8+8)
}

// TestWireLayout checks each field of the wire form at its documented offset.
func TestWireLayout(t *testing.T) {
	p := payment.Payment{Epoch: 0x01020304, Ordinal: 0x0102030405060708, Total: 0x1112131415161718}
	copy(p.Signature[:], seq(0x40, 64))
	b := p.Bytes()

	require.Equal(t, 85, payment.WireSize)
	require.Len(t, b, 85)
	require.Equal(t, byte(0x01), b[0], "version")
	require.Equal(t, []byte{0x04, 0x03, 0x02, 0x01}, b[1:5], "epoch (u32 LE)")
	require.Equal(t, []byte{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}, b[5:13], "ordinal (u64 LE)")
	require.Equal(t, []byte{0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11}, b[13:21], "total (u64 LE)")
	require.Equal(t, seq(0x40, 64), b[21:85], "signature")
}

func TestAppendReusesBuffer(t *testing.T) {
	w, p := testWarrant(), signed(1, 2, 3)

	prefix := []byte("prefix")
	require.Equal(t, append([]byte("prefix"), w.SignedBytes(1, 2, 3)...), w.AppendSignedBytes(prefix, 1, 2, 3))
	require.Equal(t, append([]byte("prefix"), p.Bytes()...), p.AppendBytes(prefix))

	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf = w.AppendSignedBytes(buf[:0], 1, 2, 3)
		buf = p.AppendBytes(buf[:0])
	})
	require.Zero(t, allocs, "appending into a large enough buffer must not allocate")
}

func TestSignedBytesAgentIDLength(t *testing.T) {
	w := testWarrant()
	w.Payer = bytes.Repeat([]byte{1}, 255)
	require.NotPanics(t, func() { w.SignedBytes(1, 2, 3) }, "255 bytes fit the length byte")

	w.Payer = bytes.Repeat([]byte{1}, 256)
	require.PanicsWithValue(t, "payment: agent ID longer than 255 bytes", func() { w.SignedBytes(1, 2, 3) })

	w = testWarrant()
	w.Provider = bytes.Repeat([]byte{1}, 256)
	require.Panics(t, func() { w.SignedBytes(1, 2, 3) })
}

func TestPaymentString(t *testing.T) {
	p := signed(3, 7, 400)
	require.Equal(t, "payment{epoch 3, ordinal 7, total 400}", p.String())
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, in := range goldenInputs {
		p := signed(in.epoch, in.ordinal, in.total)
		got, err := payment.Decode(p.Bytes())
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := signed(1, 2, 3).Bytes()
	withVersion := func(v byte) []byte {
		b := bytes.Clone(valid)
		b[0] = v
		return b
	}
	cases := []struct {
		name string
		wire []byte
		msg  string
	}{
		{"nil", nil, "payment: malformed: wire payment must be 85 bytes, got 0"},
		{"empty", []byte{}, "payment: malformed: wire payment must be 85 bytes, got 0"},
		{"short by one", valid[:84], "payment: malformed: wire payment must be 85 bytes, got 84"},
		{"long by one", append(bytes.Clone(valid), 0), "payment: malformed: wire payment must be 85 bytes, got 86"},
		{"two payments", append(bytes.Clone(valid), valid...), "payment: malformed: wire payment must be 85 bytes, got 170"},
		{"version 0", withVersion(0x00), "payment: malformed: unknown version 0 (want 1)"},
		{"version 2", withVersion(0x02), "payment: malformed: unknown version 2 (want 1)"},
		{"version 255", withVersion(0xff), "payment: malformed: unknown version 255 (want 1)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := payment.Decode(c.wire)
			require.ErrorIs(t, err, payment.ErrMalformed)
			require.EqualError(t, err, c.msg)
			require.Zero(t, p)
		})
	}
}

// FuzzDecode checks that Decode either rejects its input with an error
// wrapping ErrMalformed, or accepts it and the payment encodes back to exactly
// the same bytes: there is one wire form per payment.
func FuzzDecode(f *testing.F) {
	valid := signed(1, 2, 3).Bytes()
	f.Add(valid)
	f.Add(signed(math.MaxUint32, math.MaxUint64, math.MaxUint64).Bytes())
	f.Add([]byte{})
	f.Add(valid[:84])
	f.Add(append(bytes.Clone(valid), 0))
	f.Add(append([]byte{0x00}, valid[1:]...))
	f.Add(append([]byte{0x02}, valid[1:]...))
	f.Add(bytes.Repeat([]byte{0xff}, payment.WireSize))

	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := payment.Decode(b)
		wellFormed := len(b) == payment.WireSize && b[0] == payment.Version
		if err != nil {
			if !errors.Is(err, payment.ErrMalformed) {
				t.Fatalf("Decode(%x): error %q does not wrap ErrMalformed", b, err)
			}
			if wellFormed {
				t.Fatalf("Decode(%x) rejected a well-formed payment: %v", b, err)
			}
			return
		}
		if !wellFormed {
			t.Fatalf("Decode(%x) accepted a malformed payment: %v", b, p)
		}
		if got := p.Bytes(); !bytes.Equal(got, b) {
			t.Fatalf("Decode(%x) = %v, which encodes to %x", b, p, got)
		}
		if p.Epoch != binary.LittleEndian.Uint32(b[1:]) || p.Ordinal != binary.LittleEndian.Uint64(b[5:]) ||
			p.Total != binary.LittleEndian.Uint64(b[13:]) {
			t.Fatalf("Decode(%x) = %v: fields not at their offsets", b, p)
		}
	})
}

// TestSignedValid checks that a signature verifies only over the exact bytes
// it was made for: every field the signed bytes bind is tried.
func TestSignedValid(t *testing.T) {
	const epoch, ordinal, total = 3, 7, 400
	w := testWarrant()
	p := signed(epoch, ordinal, total)

	require.True(t, testSigned().Valid(p), "default verifier")
	s := testSigned()
	s.Verify = payment.VerifyEd25519
	require.True(t, s.Valid(p), "explicit verifier")

	t.Run("flipped signature bit", func(t *testing.T) {
		for bit := 0; bit < 8*ed25519.SignatureSize; bit++ {
			q := p
			q.Signature[bit/8] ^= 1 << (bit % 8)
			require.False(t, testSigned().Valid(q), "bit %d flipped", bit)
		}
	})

	// signedOn signs (epoch, ordinal, total) on the warrant w changed by edit.
	signedOn := func(edit func(w *payment.Warrant)) payment.Payment {
		other := testWarrant()
		edit(&other)
		return payment.Sign(testKey(), other, epoch, ordinal, total)
	}
	rejected := []struct {
		name string
		p    payment.Payment
	}{
		{"another chain", signedOn(func(w *payment.Warrant) { w.ChainID[31] ^= 1 })},
		{"another contract", signedOn(func(w *payment.Warrant) { w.Contract++ })},
		{"another payer", signedOn(func(w *payment.Warrant) { w.Payer = agentID(0x81) })},
		{"another provider", signedOn(func(w *payment.Warrant) { w.Provider = agentID(0xc1) })},
		{"payer and provider swapped", signedOn(func(w *payment.Warrant) { w.Payer, w.Provider = w.Provider, w.Payer })},
		{"agent ID kind changed", signedOn(func(w *payment.Warrant) { w.Payer[0] = 0x02 })},
		{"another epoch", payment.Payment{Epoch: epoch + 1, Ordinal: ordinal, Total: total, Signature: p.Signature}},
		{"another ordinal", payment.Payment{Epoch: epoch, Ordinal: ordinal + 1, Total: total, Signature: p.Signature}},
		{"another total", payment.Payment{Epoch: epoch, Ordinal: ordinal, Total: total + 1, Signature: p.Signature}},
	}
	for _, c := range rejected {
		t.Run(c.name, func(t *testing.T) {
			require.False(t, testSigned().Valid(c.p))
		})
	}

	t.Run("wrong public key", func(t *testing.T) {
		s := testSigned()
		s.PublicKey = publicKey(otherKey())
		require.False(t, s.Valid(p))
		require.True(t, s.Valid(payment.Sign(otherKey(), w, epoch, ordinal, total)), "control")
	})

	t.Run("public key of the wrong length", func(t *testing.T) {
		pub := publicKey(testKey())
		for _, k := range [][]byte{nil, {}, pub[:31], append(bytes.Clone(pub), 0)} {
			s := testSigned()
			s.PublicKey = k
			require.NotPanics(t, func() { require.False(t, s.Valid(p), "%d-byte key", len(k)) })
		}
	})

	// crypto/ed25519 rejects a signature whose S half is not reduced modulo
	// the group order L (RFC 8032 §5.1.7), which closes the classic
	// malleability: S + L satisfies the verification equation just as S does.
	t.Run("malleable signature S+L", func(t *testing.T) {
		q := p
		malleate(t, &q.Signature)
		msg := w.SignedBytes(epoch, ordinal, total)
		pub := publicKey(testKey())
		require.True(t, ed25519.Verify(pub, msg, p.Signature[:]), "control")
		require.False(t, ed25519.Verify(pub, msg, q.Signature[:]), "crypto/ed25519")
		require.False(t, payment.VerifyEd25519(msg, pub, q.Signature[:]), "VerifyEd25519")
		require.False(t, testSigned().Valid(q), "Signed.Valid")
	})
}

// malleate adds the group order L to the S half of an ed25519 signature.
func malleate(t *testing.T, sig *[ed25519.SignatureSize]byte) {
	t.Helper()
	// L = 2^252 + 27742317777372353535851937790883648493
	l, ok := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	require.True(t, ok)
	s := new(big.Int).SetBytes(reverse(sig[32:]))
	require.Negative(t, s.Cmp(l), "a canonical S is below L")
	s.Add(s, l)
	b := s.FillBytes(make([]byte, 32)) // S + L < 2^253: it still fits
	copy(sig[32:], reverse(b))
}

func reverse(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}

// TestVerifierSeam checks that Signed.Valid hands its Verifier exactly the
// signed bytes, the registered key and the signature, which is what the
// contract's gas-burning verifier relies on.
func TestVerifierSeam(t *testing.T) {
	p := signed(3, 7, 400)
	var calls int
	s := testSigned()
	s.Verify = func(msg, pub, sig []byte) bool {
		calls++
		require.Equal(t, testWarrant().SignedBytes(3, 7, 400), msg)
		require.Equal(t, publicKey(testKey()), pub)
		require.Equal(t, p.Signature[:], sig)
		return false
	}
	require.False(t, s.Valid(p), "the verifier decides")
	require.Equal(t, 1, calls)
}
