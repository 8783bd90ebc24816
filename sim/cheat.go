package sim

import (
	"fmt"
	"time"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract/payment"
)

// cheatKind is a way of cheating the scenario's cheaters section counts.
type cheatKind uint8

const (
	cheatForged        cheatKind = iota // a payment with a signature that is not the payer's
	cheatReplayed                       // the consumer re-sends a payment already acknowledged, for another piece
	cheatCrossWarrant                   // a payment signed for the consumer's warrant with another provider
	cheatOverspending                   // a payment for more than the warrant holds
	cheatForeignSettle                  // a provider settles a payment from a warrant not given to it
	numCheatKinds
)

var cheatNames = [numCheatKinds]string{"forged", "replayed", "crossWarrant", "overspending", "foreignSettle"}

// expected is what must happen to each kind of cheat: the provider's
// rejection reason, or for a foreign settle the chain's rejection.
var cheatExpected = [numCheatKinds]string{
	payment.ReasonBadSignature.String(),
	payment.ReasonNotIncreasing.String(),
	payment.ReasonBadSignature.String(),
	payment.ReasonOverBalance.String(),
	expectChainRejects,
}

const expectChainRejects = "rejected_by_chain"

// cheat is one cheating attempt. It runs at its time with the drawn
// consumer, or if that one cannot cheat this way at that moment (revoked,
// nothing acknowledged yet, provider down) the next one that can.
type cheat struct {
	kind     cheatKind
	at       time.Duration
	consumer int
	other    int // foreign settle: the settling provider is this many places after the consumer's
}

func (c cheatKind) count(ch Cheaters) int {
	return [numCheatKinds]int{ch.Forged, ch.Replayed, ch.CrossWarrant, ch.Overspending, ch.ForeignSettle}[c]
}

// scheduleCheats draws each cheat's time in [2·interval, duration -
// interval] and its consumer among those that will not revoke.
func (g *engine) scheduleCheats() {
	sc := g.sc
	interval := time.Duration(sc.Pieces.Interval)
	from, to := 2*interval, time.Duration(sc.Duration)-interval
	var honest []int
	for _, c := range g.consumers {
		if c.revokeAt < 0 {
			honest = append(honest, c.idx)
		}
	}
	for k := range numCheatKinds {
		for range k.count(sc.Cheaters) {
			ch := &cheat{kind: k, at: from + time.Duration(g.rng.Int63n(int64(to-from)+1))}
			if len(honest) > 0 {
				ch.consumer = honest[g.rng.Intn(len(honest))]
			} else {
				ch.consumer = g.rng.Intn(len(g.consumers))
			}
			if len(g.providers) > 1 {
				ch.other = 1 + g.rng.Intn(len(g.providers)-1)
			}
			g.cheats = append(g.cheats, ch)
			g.push(ch.at, evCheat, len(g.cheats)-1)
		}
	}
}

// eligible reports whether consumer c can attempt ch now so that exactly
// the expected rule catches it.
func (g *engine) eligible(ch *cheat, c *consumer) (bool, error) {
	if !c.active() || !c.hasAcked {
		return false, nil
	}
	if ch.kind == cheatForeignSettle {
		return true, nil
	}
	pr := g.providers[c.prov]
	if pr.down {
		return false, nil
	}
	if ch.kind == cheatForged || ch.kind == cheatCrossWarrant {
		// The signature is checked last: the warrant must back one more
		// piece as the provider sees it, or over_balance comes first.
		pos, err := pr.p.Position(g.ctx, c.agent)
		if err != nil {
			return false, err
		}
		return pos.Backed >= g.sc.Pieces.Price, nil
	}
	return true, nil
}

// runCheat runs one cheating attempt and books its outcome.
func (g *engine) runCheat(ch *cheat) error {
	st := &g.rep.Cheats[ch.kind]
	st.Attempted++
	var c *consumer
	for i := range g.consumers {
		cand := g.consumers[(ch.consumer+i)%len(g.consumers)]
		ok, err := g.eligible(ch, cand)
		if err != nil {
			return err
		}
		if ok {
			c = cand
			break
		}
	}
	if c == nil {
		st.Skipped++
		return nil
	}
	if ch.kind == cheatForeignSettle {
		return g.foreignSettle(ch, c, st)
	}

	pr := g.providers[c.prov]
	price := g.sc.Pieces.Price
	var p payment.Payment
	switch ch.kind {
	case cheatForged:
		p = payment.Payment{Epoch: c.epoch, Ordinal: c.ordinal + 1, Total: c.acked.Total + price}
		for i := range p.Signature {
			p.Signature[i] = byte(g.rng.Intn(256))
		}
	case cheatReplayed:
		p = c.acked
	case cheatCrossWarrant:
		other := chain.PaymentWarrant(g.e, c.agent, g.otherProvider(c, max(ch.other, 1)))
		p = payment.Sign(c.priv, other, c.epoch, c.ordinal+1, c.acked.Total+price)
	case cheatOverspending:
		// A device that signed it must never sign another total under this
		// ordinal: the ordinal is used up.
		c.ordinal++
		p = c.sign(c.ordinal, c.deposited+price)
	}
	wid := pr.p.WarrantID(c.agent)
	before, _, err := pr.store.Newest(g.ctx, wid)
	if err != nil {
		return err
	}
	blocks := g.blocks
	reason, err := g.offer(c, p, price, true)
	if err != nil {
		return err
	}
	after, _, err := pr.store.Newest(g.ctx, wid)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%s by consumer %d at %s", cheatNames[ch.kind], c.idx, Duration(g.now))
	switch {
	case reason == "":
		st.Unexpected = append(st.Unexpected, what+": accepted")
		g.acknowledge(c, p) // it is owed now: the checks follow it
	case reason != cheatExpected[ch.kind]:
		st.Unexpected = append(st.Unexpected, fmt.Sprintf("%s: rejected as %s, want %s", what, reason, cheatExpected[ch.kind]))
	case before != after || blocks != g.blocks:
		st.Unexpected = append(st.Unexpected, what+": rejected, but the provider's store or the chain changed")
	default:
		st.AsExpected++
	}
	return nil
}

// foreignSettle has another provider settle the consumer's newest
// acknowledged payment from a warrant the consumer never gave it. The
// chain must reject it, and nothing but that provider's gas fee may move.
func (g *engine) foreignSettle(ch *cheat, c *consumer, st *CheatStats) error {
	rogue := g.providers[(c.prov+max(ch.other, 1))%len(g.providers)]
	own := g.providers[c.prov]
	balBefore, err := g.e.L2Balance(g.ctx, rogue.agent)
	if err != nil {
		return err
	}
	infoBefore, err := g.e.WarrantInfo(g.ctx, c.agent, own.agent)
	if err != nil {
		return err
	}
	feesBefore := rogue.fees
	_, serr := chain.Settle(g.ctx, rogue.seam, rogue.key, c.agent, c.acked)
	balAfter, err := g.e.L2Balance(g.ctx, rogue.agent)
	if err != nil {
		return err
	}
	infoAfter, err := g.e.WarrantInfo(g.ctx, c.agent, own.agent)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("foreignSettle: provider %d settling consumer %d's payment to provider %d at %s", rogue.idx, c.idx, own.idx, Duration(g.now))
	fee := rogue.fees - feesBefore
	switch {
	case serr == nil:
		st.Unexpected = append(st.Unexpected, what+": the chain accepted it")
	case !chain.IsRejected(serr):
		return fmt.Errorf("%s: %w", what, serr)
	case balAfter+fee != balBefore || infoAfter != infoBefore:
		st.Unexpected = append(st.Unexpected, fmt.Sprintf("%s: rejected, but funds moved (provider %d: %d -> %d, fee %d; warrant %s -> %s)",
			what, rogue.idx, balBefore, balAfter, fee, infoBefore, infoAfter))
	default:
		st.AsExpected++
	}
	return nil
}

// otherProvider returns the agent of the provider k places after c's own;
// with a single provider, an agent that is no provider at all.
func (g *engine) otherProvider(c *consumer, k int) isc.AgentID {
	if len(g.providers) == 1 {
		return newParty(g.sc.Seed, "stranger", 0).agent
	}
	return g.providers[(c.prov+k)%len(g.providers)].agent
}
