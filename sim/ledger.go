package sim

import (
	"fmt"
	"time"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/vm/core/blocklog"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/contract"
)

// chainEpoch is what the chain did to one warrant epoch of a consumer, as
// read from the contract's events: the simulation's ledger of record.
type chainEpoch struct {
	added       uint64 // locked by addWarrant (new and top-ups)
	paid        uint64 // paid to the consumer's own provider (settled events)
	paidInEpoch uint64 // st after the last settled event
	revoked     bool
	revokedAt   time.Duration // simulation time of the revoke
	deadline    uint64        // unix seconds
	closed      bool
	closedAt    time.Duration
	closedHow   uint8
	refund      uint64
}

// sync scans the blocks produced since the last scan: it feeds the ledger
// from the micropay events, attributes gas fees from the request receipts,
// and drops the view cache's entries of the warrants the blocks touched.
// Blocks are read while the chain still keeps them (it prunes old ones).
func (g *engine) sync() (err error) {
	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	var latest uint32
	if err := solochain.Do(func() { latest = g.e.Chain.LatestBlockIndex() }); err != nil {
		return fmt.Errorf("read latest block: %w", err)
	}
	if g.nextBlock > latest {
		return nil
	}
	defer func() {
		if err == nil {
			err = g.checkSolvent(latest)
		}
	}()
	for ; g.nextBlock <= latest; g.nextBlock++ {
		i := g.nextBlock
		var events []*isc.Event
		var receipts []*blocklog.RequestReceipt
		var verr error
		err := solochain.Do(func() {
			events, verr = g.e.Chain.GetEventsForBlock(i)
			receipts = g.e.Chain.GetRequestReceiptsForBlock(i)
		})
		if err == nil {
			err = verr
		}
		if err != nil {
			return fmt.Errorf("scan block %d: %w", i, err)
		}
		g.blocks++
		for _, r := range receipts {
			if err := g.onReceipt(r); err != nil {
				return fmt.Errorf("block %d: %w", i, err)
			}
		}
		for _, ev := range events {
			if ev.ContractID != contract.Contract.Hname() {
				continue
			}
			if err := g.onEvent(ev); err != nil {
				return fmt.Errorf("block %d: %w", i, err)
			}
		}
	}
	return nil
}

// onReceipt attributes a request's gas fee to the party that sent it. A
// request sent by the contract itself is a scheduled close: its fee comes
// from the revoke deposit's reserve.
func (g *engine) onReceipt(r *blocklog.RequestReceipt) error {
	sender := r.Request.SenderAccount()
	if sender == nil {
		return nil
	}
	if sender.Equals(g.e.Contract) {
		g.contractFees += r.GasFeeCharged
		payer, err := codec.DecodeAgentID(r.Request.Params()[contract.ParamPayer])
		if err != nil {
			return fmt.Errorf("scheduled close without a payer: %w", err)
		}
		if c, ok := g.consumerOf(payer); ok {
			c.closesRun++
		} else {
			g.note("a scheduled close for unknown payer %s ran", payer)
		}
		return nil
	}
	if pt := g.partyOf(sender); pt != nil {
		pt.feesChain += r.GasFeeCharged
	}
	return nil
}

// onEvent applies one micropay event to the ledger.
func (g *engine) onEvent(ev *isc.Event) error {
	var payer, provider isc.AgentID
	switch ev.Topic {
	case contract.TopicWarrantAdded:
		e, err := contract.DecodeWarrantAdded(ev.Payload)
		if err != nil {
			return err
		}
		payer, provider = e.Payer, e.Provider
		if ce := g.epochOf(payer, provider, e.Epoch); ce != nil {
			ce.added += e.Added
		}
	case contract.TopicWarrantRevoked:
		e, err := contract.DecodeWarrantRevoked(ev.Payload)
		if err != nil {
			return err
		}
		payer, provider = e.Payer, e.Provider
		if ce := g.epochOf(payer, provider, e.Epoch); ce != nil {
			ce.revoked, ce.revokedAt, ce.deadline = true, g.now, e.Deadline
		}
	case contract.TopicSettled:
		e, err := contract.DecodeSettled(ev.Payload)
		if err != nil {
			return err
		}
		payer, provider = e.Payer, e.Provider
		g.onSettled(e)
	case contract.TopicSettledMany:
		e, err := contract.DecodeSettledMany(ev.Payload)
		if err != nil {
			return err
		}
		for _, it := range e.Items {
			g.onSettled(&contract.Settled{
				Payer: it.Payer, Provider: e.Provider, Epoch: it.Epoch, LastOrdinal: it.LastOrdinal,
				Paid: it.Paid, Shortfall: it.Shortfall, PaidInEpoch: it.PaidInEpoch, Balance: it.Balance,
			})
			g.views.invalidate(pairKey{string(it.Payer.Bytes()), string(e.Provider.Bytes())})
		}
		return nil
	case contract.TopicSettleRefused:
		return nil // the item moved nothing; the provider records why
	case contract.TopicWarrantClosed:
		e, err := contract.DecodeWarrantClosed(ev.Payload)
		if err != nil {
			return err
		}
		payer, provider = e.Payer, e.Provider
		if ce := g.epochOf(payer, provider, e.Epoch); ce != nil {
			ce.closed, ce.closedAt, ce.closedHow, ce.refund = true, g.now, e.How, e.Refund
			c, _ := g.consumerOf(payer)
			if b := c.book(e.Epoch); b.acked > ce.paid {
				g.providers[c.prov].exposure -= int64(b.acked - ce.paid)
			}
		}
	default:
		return fmt.Errorf("unknown micropay event %q", ev.Topic)
	}
	g.views.invalidate(pairKey{string(payer.Bytes()), string(provider.Bytes())})
	return nil
}

func (g *engine) onSettled(e *contract.Settled) {
	c, ok := g.consumerOf(e.Payer)
	if !ok {
		g.note("settled event for unknown payer %s", e.Payer)
		return
	}
	pr, ok := g.providerOf(e.Provider)
	if !ok || pr.idx != c.prov {
		// A provider was paid from a warrant the consumer never gave it:
		// check 2 reports it.
		c.foreignPaid += e.Paid
		return
	}
	ce := c.chainEpoch(e.Epoch)
	ce.paid += e.Paid
	ce.paidInEpoch = e.PaidInEpoch
	pr.settled += e.Paid
	if c.epoch == e.Epoch && !ce.closed {
		pr.exposure -= int64(e.Paid)
	}
	if g.ended {
		pr.settledAfterEnd += e.Paid
	} else {
		pr.hour(g.now).Settled += e.Paid
	}
}

// epochOf returns the ledger entry of payer's warrant epoch with its own
// provider; nil (and a note) for a pair the simulation never opened.
func (g *engine) epochOf(payer, provider isc.AgentID, epoch uint32) *chainEpoch {
	c, ok := g.consumerOf(payer)
	if !ok {
		g.note("micropay event for unknown payer %s", payer)
		return nil
	}
	if pr, ok := g.providerOf(provider); !ok || pr.idx != c.prov {
		g.note("micropay event for consumer %d with a provider that is not its own (%s)", c.idx, provider)
		return nil
	}
	return c.chainEpoch(epoch)
}
