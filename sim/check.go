package sim

import (
	"errors"
	"fmt"
	"time"

	waspchain "github.com/iotaledger/wasp/packages/chain"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/kv/subrealm"
	"github.com/iotaledger/wasp/packages/vm/core/accounts"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/contract"
)

// Invariant names, in the order the report lists them.
const (
	InvFundsConserved   = "funds conserved"
	InvChargedAsSigned  = "no consumer charged more than it signed"
	InvAcknowledgedPaid = "every acknowledged payment settled unless its provider missed the deadline"
	InvCheatersRejected = "cheaters rejected, no funds moved"
	InvContractSolvent  = "the contract holds at least the sum of its warrants after every sync"
)

// maxViolationsPerKind bounds the violations an invariant lists; Failed
// counts them all.
const maxViolationsPerKind = 50

// checker collects the violations of one invariant.
type checker struct {
	inv *Invariant
}

func (k checker) ok() { k.inv.Checked++ }

func (k checker) fail(format string, args ...any) {
	k.inv.Checked++
	k.inv.Failed++
	if len(k.inv.Violations) < maxViolationsPerKind {
		k.inv.Violations = append(k.inv.Violations, fmt.Sprintf(format, args...))
	}
}

func (k checker) expect(cond bool, format string, args ...any) {
	if cond {
		k.ok()
	} else {
		k.fail(format, args...)
	}
}

// check reads the chain's final state and checks the invariants to the
// token. Reads go to the chain directly, not through the view cache.
func (g *engine) check() error {
	if err := g.sync(); err != nil {
		return err
	}
	g.rep.Invariants = []Invariant{{Name: InvFundsConserved}, {Name: InvChargedAsSigned}, {Name: InvAcknowledgedPaid}, {Name: InvCheatersRejected}, g.solvent}
	if f := g.opts.faults.feeSkew; f > 0 {
		g.consumers[0].fees += f
	}
	finals, err := g.readConsumers()
	if err != nil {
		return err
	}
	if err := g.checkFunds(checker{&g.rep.Invariants[0]}, finals); err != nil {
		return err
	}
	g.checkCharged(checker{&g.rep.Invariants[1]})
	g.checkAcknowledged(checker{&g.rep.Invariants[2]})
	g.checkCheats(checker{&g.rep.Invariants[3]})
	for i := range g.rep.Invariants {
		g.rep.Invariants[i].OK = g.rep.Invariants[i].Failed == 0
	}
	return nil
}

// consumerFinal is what the chain holds of a consumer at the end.
type consumerFinal struct {
	balance uint64            // its L2 account
	info    chain.WarrantInfo // its warrant with its provider
}

// readConsumers reads every consumer's final L2 balance (from the latest
// state at once, l2Balances) and warrant (getWarrantInfo, the reads spread
// over the cores: each is a view call on the same final state).
func (g *engine) readConsumers() ([]consumerFinal, error) {
	agents := make([]isc.AgentID, len(g.consumers))
	for i, c := range g.consumers {
		agents[i] = c.agent
	}
	balances, err := g.l2Balances(agents)
	if err != nil {
		return nil, err
	}
	out := make([]consumerFinal, len(g.consumers))
	errs := make([]error, len(g.consumers))
	parallel(len(g.consumers), func(i int) {
		c := g.consumers[i]
		out[i].balance = balances[i]
		out[i].info, errs[i] = g.e.WarrantInfo(g.ctx, c.agent, g.providers[c.prov].agent)
	})
	return out, errors.Join(errs...)
}

// l2Balances reads the base tokens of each agent's L2 account from the
// chain's latest state with the accounts contract's own accessor (what its
// balance view answers), a state read each instead of the two view calls
// of solochain.Embedded.L2Balance: a thousandth of a second less per
// account, 10,000 accounts at the end of a run.
func (g *engine) l2Balances(agents []isc.AgentID) ([]uint64, error) {
	out := make([]uint64, len(agents))
	var readErr error
	err := solochain.Do(func() {
		st, err := g.e.Chain.LatestState(waspchain.ActiveOrCommittedState)
		if err != nil {
			readErr = err
			return
		}
		v := st.SchemaVersion()
		acc := subrealm.NewReadOnly(st, kv.Key(accounts.Contract.Hname().Bytes()))
		for i, a := range agents {
			out[i] = accounts.GetBaseTokensBalance(v, acc, a, g.e.Chain.ChainID)
		}
	})
	if err == nil {
		err = readErr
	}
	if err != nil {
		return nil, fmt.Errorf("read L2 balances: %w", err)
	}
	return out, nil
}

// checkFunds checks invariant 1: funds conserved per consumer, per
// provider, for the bank, the contract's account and the whole chain.
func (g *engine) checkFunds(funds checker, finals []consumerFinal) error {
	var locked, keptByContract, inFlight uint64
	for i, c := range g.consumers {
		final, info := finals[i].balance, finals[i].info
		var paid uint64
		for i := range c.chain {
			paid += c.chain[i].paid
		}
		paid += c.foreignPaid
		kept := uint64(c.closesRun) * g.reserve
		flight := uint64(max(c.revokes-c.closesRun, 0)) * chain.DefaultRevokeDeposit
		locked += info.Balance
		keptByContract += kept
		inFlight += flight
		sum := final + c.fees + info.Balance + paid + kept + flight
		funds.expect(sum == c.funded,
			"consumer %d: funded %d != final L2 %d + gas fees %d + locked %d + paid to providers %d + revoke deposits kept %d + in flight %d = %d (off by %+d)",
			c.idx, c.funded, final, c.fees, info.Balance, paid, kept, flight, sum, int64(sum)-int64(c.funded))
		funds.expect(c.fees == c.feesChain,
			"consumer %d: the sim booked %d in gas fees from its receipts, the chain's block receipts charged %d", c.idx, c.fees, c.feesChain)
		if info.Exists {
			ce := c.chainEpoch(info.Epoch)
			funds.expect(info.Paid == ce.paid && info.Balance+ce.paid == ce.added,
				"consumer %d epoch %d: the chain's warrant (paid %d, balance %d) disagrees with its events (added %d, paid %d)",
				c.idx, info.Epoch, info.Paid, info.Balance, ce.added, ce.paid)
		}
	}
	if err := g.checkProviderAndBankFunds(funds); err != nil {
		return err
	}
	return g.checkChainFunds(funds, locked, keptByContract, inFlight)
}

// checkProviderAndBankFunds checks that each provider holds what it was
// given and settled less its gas fees, and the bank what it drew less what
// it gave and its fees.
func (g *engine) checkProviderAndBankFunds(funds checker) error {
	for _, pr := range g.providers {
		final, err := g.e.L2Balance(g.ctx, pr.agent)
		if err != nil {
			return err
		}
		pr.final = final
		want := int64(pr.funded) + int64(pr.settled) - int64(pr.fees)
		funds.expect(int64(final) == want,
			"provider %d: final L2 %d != funded %d + settled %d - gas fees %d = %d", pr.idx, final, pr.funded, pr.settled, pr.fees, want)
		funds.expect(pr.fees == pr.feesChain,
			"provider %d: the sim booked %d in gas fees from its receipts, the chain's block receipts charged %d", pr.idx, pr.fees, pr.feesChain)
	}
	bankFinal, err := g.e.L2Balance(g.ctx, g.bank.agent)
	if err != nil {
		return err
	}
	var given uint64
	for _, c := range g.consumers {
		given += c.funded
	}
	for _, pr := range g.providers {
		given += pr.funded
	}
	funds.expect(bankFinal+given+g.bank.fees == g.bank.funded,
		"bank: funded %d != final %d + given out %d + gas fees %d", g.bank.funded, bankFinal, given, g.bank.fees)
	return nil
}

// checkChainFunds checks the contract's own account and the chain's L2
// total, and runs Solo's account ledger check.
func (g *engine) checkChainFunds(funds checker, locked, keptByContract, inFlight uint64) error {
	// The contract's own account holds the warrants and the revoke deposits
	// that came back, less the scheduled closes' gas (all of each deposit but
	// its fee returned to the payer, so it keeps nothing).
	contractL2, err := g.e.L2Balance(g.ctx, g.e.Contract)
	if err != nil {
		return err
	}
	funds.expect(contractL2+g.contractFees == locked+keptByContract,
		"micropay contract account: %d + scheduled closes' gas %d != warrants' balances %d + revoke deposits kept %d",
		contractL2, g.contractFees, locked, keptByContract)
	// Chain-wide: nothing created or destroyed since the bank was funded.
	var total uint64
	ledgerErr := solochain.Do(func() {
		total = g.e.Chain.L2TotalBaseTokens()
		g.e.Chain.CheckAccountLedger()
	})
	funds.expect(ledgerErr == nil, "chain account ledger inconsistent: %v", ledgerErr)
	funds.expect(total+inFlight == g.baselineL2,
		"chain: L2 total %d + revoke deposits in flight on L1 %d != %d, the total once funded (%d before funding + %d from the faucet)",
		total, inFlight, g.baselineL2, g.startL2, g.baselineL2-g.startL2)
	g.rep.Chain.L2TotalBefore, g.rep.Chain.L2TotalFunded, g.rep.Chain.L2TotalAfter = g.startL2, g.baselineL2, total
	g.rep.Chain.RevokeDepositsInFlight = inFlight
	g.rep.Chain.ContractAccount = contractL2
	return nil
}

// checkCharged checks invariant 2: no consumer charged more than it
// signed, per warrant epoch.
func (g *engine) checkCharged(signed checker) {
	for _, c := range g.consumers {
		for i := range c.chain {
			epoch := uint32(i + 1)
			paid, signedMax := c.chain[i].paid, c.book(epoch).maxSigned
			signed.expect(paid <= signedMax,
				"consumer %d epoch %d: the chain paid provider %d %d, but the highest total the consumer signed is %d",
				c.idx, epoch, c.prov, paid, signedMax)
		}
		signed.expect(c.foreignPaid == 0,
			"consumer %d: %d was paid from its funds to a provider it has no warrant with", c.idx, c.foreignPaid)
	}
}

// checkAcknowledged checks invariant 3: every acknowledged payment
// settled, unless its provider missed the deadline (and something explains
// why).
func (g *engine) checkAcknowledged(acked checker) {
	for _, c := range g.consumers {
		pr := g.providers[c.prov]
		wid := pr.p.WarrantID(c.agent)
		for i := range c.chain {
			epoch := uint32(i + 1)
			ce := &c.chain[i]
			ack := c.book(epoch).acked
			switch {
			case ce.paid == ack:
				acked.ok()
			case ce.paid > ack:
				acked.fail("consumer %d epoch %d: the chain paid provider %d %d, more than the %d it acknowledged",
					c.idx, epoch, pr.idx, ce.paid, ack)
			default:
				missed, ok := pr.store.missed(wid, epoch)
				if !ok {
					acked.fail("consumer %d epoch %d: provider %d acknowledged a total of %d but the chain paid it %d, and it recorded no missed settlement",
						c.idx, epoch, pr.idx, ack, ce.paid)
					continue
				}
				loss := g.explain(c, pr, epoch, ce, ack, missed.Error)
				g.rep.Losses = append(g.rep.Losses, loss)
				if loss.Explained {
					acked.ok()
				} else {
					acked.fail("consumer %d epoch %d: provider %d missed the settlement of %d (%s) and nothing explains it",
						c.idx, epoch, pr.idx, loss.Lost, missed.Error)
				}
			}
		}
	}
}

// checkCheats checks invariant 4 from the cheats' outcomes.
func (g *engine) checkCheats(cheats checker) {
	for k := range g.rep.Cheats {
		st := &g.rep.Cheats[k]
		for range st.AsExpected {
			cheats.ok()
		}
		for _, u := range st.Unexpected {
			cheats.fail("%s", u)
		}
	}
}

// explain finds why a provider lost what it acknowledged in an epoch: its
// downtime over the revoke deadline is the expected cause.
func (g *engine) explain(c *consumer, pr *prov, epoch uint32, ce *chainEpoch, ack uint64, record string) Loss {
	l := Loss{
		Provider: pr.idx, Consumer: c.idx, Epoch: epoch,
		Acknowledged: ack, Paid: ce.paid, Lost: ack - ce.paid, Record: record,
	}
	if !ce.revoked {
		l.Cause = "the warrant was never revoked, yet the provider recorded a missed settlement"
		return l
	}
	deadline := time.Unix(int64(ce.deadline), 0).Sub(g.start)
	l.RevokedAt, l.Deadline = Duration(ce.revokedAt), Duration(deadline)
	for _, d := range g.sc.Downtime {
		if d.Provider != pr.idx {
			continue
		}
		// The provider was down when the deadline came, or came back at it:
		// it could not settle in time.
		if time.Duration(d.From) <= deadline && deadline <= time.Duration(d.To) {
			l.Cause = fmt.Sprintf("provider %d was down from %s to %s; the warrant was revoked at %s with a close timeout of %s, so its deadline %s passed during the downtime",
				pr.idx, d.From, d.To, l.RevokedAt, g.sc.Warrant.CloseTimeout, l.Deadline)
			l.Explained = true
			return l
		}
	}
	l.Cause = fmt.Sprintf("revoked at %s, deadline %s, and provider %d was up: it should have settled", l.RevokedAt, l.Deadline, pr.idx)
	return l
}

// plantAfterRun runs the faults that act after the run (tests only).
func (g *engine) plantAfterRun() error {
	extra := g.opts.faults.overSettle
	if extra == 0 {
		return nil
	}
	for _, c := range g.consumers {
		if c.revoked || !c.hasAcked {
			continue
		}
		pr := g.providers[c.prov]
		// Signed with the payer's key, but not by the consumer: its book
		// does not know this total.
		p := signRaw(c, c.ordinal+1, c.acked.Total+extra)
		_, err := chain.Settle(g.ctx, pr.seam, pr.key, c.agent, p)
		return err
	}
	return fmt.Errorf("no consumer with an open warrant to over-settle")
}

// checkSolvent checks, after the blocks sync has just scanned (those of one
// request the simulator posted, or of one clock step and the scheduled
// closes it released), that the contract's L2 account holds at least the
// sum of all warrant balances (the contract's getTotals view).
func (g *engine) checkSolvent(block uint32) error {
	var held uint64
	var ret dict.Dict
	var verr error
	err := solochain.Do(func() {
		held = g.e.Chain.L2BaseTokens(g.e.Contract)
		ret, verr = g.e.Chain.CallView(contract.Contract.Name, contract.ViewGetTotals.Name)
	})
	if err == nil {
		err = verr
	}
	var owed uint64
	if err == nil {
		owed, err = codec.DecodeUint64(ret[contract.ResultTotalBalance])
	}
	if err != nil {
		return fmt.Errorf("solvency after block %d: %w", block, err)
	}
	checker{&g.solvent}.expect(held >= owed,
		"after block %d the contract holds %d but its warrants hold %d (short %d)", block, held, owed, owed-held)
	return nil
}
