package sim

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/contract/payment"
)

// party is an L2 account of the simulation: the bank, a consumer or a
// provider.
type party struct {
	key        *cryptolib.KeyPair
	agent      isc.AgentID
	agentBytes string
	funded     uint64 // base tokens the bank (or the faucet) gave it
	fees       uint64 // gas fees of its requests, from the receipts it got back
	feesChain  uint64 // the same, from the chain's block receipts
}

func newParty(seed int64, role string, i int) party {
	h := sha256.Sum256([]byte(fmt.Sprintf("micropay/sim/%d/%s/%d", seed, role, i)))
	key := cryptolib.KeyPairFromSeed(cryptolib.SeedFromBytes(h[:]))
	agent := isc.NewAgentID(key.Address())
	return party{key: key, agent: agent, agentBytes: string(agent.Bytes())}
}

// consumer is a simulated device: it holds one warrant with one provider
// and keeps its (epoch, ordinal, total) in memory, signing each payment
// directly with payment.Sign.
type consumer struct {
	party
	idx  int
	prov int
	priv ed25519.PrivateKey
	w    payment.Warrant // what it signs over: its warrant with its provider

	epoch     uint32
	ordinal   uint64 // newest ordinal it signed in this epoch
	total     uint64 // total of its newest honest payment
	deposited uint64 // locked in the warrant this epoch, by its own book
	pending   *payment.Payment
	acked     payment.Payment // newest payment its provider acknowledged
	hasAcked  bool
	inRun     bool // a piece of it is in the current parallel run
	topUps    int

	revokeAt  time.Duration // -1: never
	revoked   bool
	exhausted bool
	revokes   int // revoke requests sent
	closesRun int // scheduled closes the chain ran for it

	books       []epochBook  // by epoch-1: what it signed and was acknowledged
	chain       []chainEpoch // by epoch-1: what the chain did (ledger.go)
	foreignPaid uint64       // paid from its funds to a provider it has no warrant with
}

// epochBook is the consumer's own record of one warrant epoch.
type epochBook struct {
	maxSigned    uint64 // highest total it signed for this warrant epoch
	acked        uint64 // total of the newest acknowledged payment
	ackedOrdinal uint64
	payments     int // acknowledged payments
}

func (c *consumer) book(epoch uint32) *epochBook {
	for len(c.books) < int(epoch) {
		c.books = append(c.books, epochBook{})
	}
	return &c.books[epoch-1]
}

func (c *consumer) chainEpoch(epoch uint32) *chainEpoch {
	for len(c.chain) < int(epoch) {
		c.chain = append(c.chain, chainEpoch{})
	}
	return &c.chain[epoch-1]
}

// active reports whether the consumer still buys pieces.
func (c *consumer) active() bool { return !c.revoked && !c.exhausted }

// sign signs (epoch, ordinal, total) over its own warrant and records the
// total as signed.
func (c *consumer) sign(ordinal, total uint64) payment.Payment {
	b := c.book(c.epoch)
	b.maxSigned = max(b.maxSigned, total)
	return signPayment(c.priv, c.w, c.epoch, ordinal, total)
}

// signPayment is payment.Sign with curve25519-voi's ed25519 signer instead
// of crypto/ed25519's: the same RFC 8032 signature (deterministic, so
// byte for byte; TestSignPaymentIsPaymentSign), about twice as fast, which
// matters when the consumers sign 2.88 million payments in a run.
func signPayment(key ed25519.PrivateKey, w payment.Warrant, epoch uint32, ordinal, total uint64) payment.Payment {
	p := payment.Payment{Epoch: epoch, Ordinal: ordinal, Total: total}
	copy(p.Signature[:], voi.Sign(voi.PrivateKey(key), w.SignedBytes(epoch, ordinal, total)))
	return p
}

// signRaw signs with the consumer's key without booking the total: only
// planted faults do this.
func signRaw(c *consumer, ordinal, total uint64) payment.Payment {
	return signPayment(c.priv, c.w, c.epoch, ordinal, total)
}

// prov is a simulated provider: a real provider.Provider on its own store
// and chain seam, driven with RunOnce.
type prov struct {
	party
	idx       int
	p         *provider.Provider
	seam      *providerSeam
	store     *recordingStore
	consumers int

	down            bool
	final           uint64 // L2 balance at the end
	settled         uint64 // paid to it on chain, from the settled events
	settledAfterEnd uint64
	exposure        int64 // acknowledged but not settled, over its consumers' open epochs
	maxExposure     uint64
	hours           []HourStats
}

// hour returns the stats bucket of simulation time t: hour h covers
// (h·1h, (h+1)·1h], so that the step ending at 1h counts in hour 0.
func (p *prov) hour(t time.Duration) *HourStats {
	h := 0
	if t > 0 {
		h = int((t - 1) / time.Hour)
	}
	h = min(h, len(p.hours)-1)
	return &p.hours[h]
}

func (p *prov) sampleExposure(t time.Duration) {
	e := uint64(max(p.exposure, 0))
	p.maxExposure = max(p.maxExposure, e)
	if hs := p.hour(t); e > hs.MaxExposure {
		hs.MaxExposure = e
	}
}
