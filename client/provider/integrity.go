package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
)

// ErrStoreMismatch is New's error when the chain shows settlements of a
// warrant that the store has no receipt for: the store lost payments it
// had acknowledged (a restored backup, a lost write-ahead log), or another
// provider instance accepts payments with the same key. Serving on such a
// store would accept those payments' pieces again without pay. The error
// is a *StoreMismatchError listing what was found.
var ErrStoreMismatch = errors.New("provider: the payment store does not match the chain")

// StoreFinding is one warrant whose on-chain state the store cannot
// explain.
type StoreFinding struct {
	Payer        isc.AgentID
	ChainEpoch   uint32 // the warrant's epoch on chain
	ChainOrdinal uint64 // the last ordinal the chain settled in it
	StoreEpoch   uint32 // the epoch of the store's newest receipt
	StoreOrdinal uint64 // that receipt's ordinal
}

func (f StoreFinding) String() string {
	return fmt.Sprintf("warrant of %s: the chain settled up to ordinal %d in epoch %d, the store's newest receipt is ordinal %d of epoch %d",
		f.Payer, f.ChainOrdinal, f.ChainEpoch, f.StoreOrdinal, f.StoreEpoch)
}

// StoreMismatchError is ErrStoreMismatch with its findings.
type StoreMismatchError struct {
	Findings []StoreFinding
}

func (e *StoreMismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d warrant(s):", ErrStoreMismatch, len(e.Findings))
	for _, f := range e.Findings {
		b.WriteString("\n  " + f.String())
	}
	b.WriteString("\nthe store lost acknowledged payments, or another provider instance uses this key; nothing is served." +
		" Restore the store if you can; once you have checked, start once with Config.AcceptStoreMismatch set to record these findings (they are not asked again)")
	return b.String()
}

// Unwrap makes errors.Is(err, ErrStoreMismatch) hold.
func (e *StoreMismatchError) Unwrap() error { return ErrStoreMismatch }

// checkStore compares the newest receipt of every warrant in sums with the
// chain's last settled ordinal (getWarrants, contract.MaxWarrantsPerView
// warrants a call, checkReads calls at once). A finding that the store has acknowledged for the
// same chain position is passed; the others fail New with a
// *StoreMismatchError, unless cfg.AcceptStoreMismatch is set: then each is
// acknowledged in the store, and logged. Warrants the store does not hold
// at all are not checked: the chain seam has no bounded way to list a
// provider's warrants.
func (p *Provider) checkStore(ctx context.Context, sums []store.WarrantSummary) error {
	findings, err := p.storeFindings(ctx, sums)
	if err != nil {
		return fmt.Errorf("provider: cross-check the store with the chain: %w", err)
	}
	if len(findings) == 0 {
		return nil
	}
	if !p.cfg.AcceptStoreMismatch {
		return &StoreMismatchError{Findings: findings}
	}
	for _, f := range findings {
		a := store.Acknowledgement{
			Warrant: p.WarrantID(f.Payer), ChainEpoch: f.ChainEpoch, ChainOrdinal: f.ChainOrdinal, AcknowledgedAt: p.cfg.Clock.Now(),
		}
		if err := p.cfg.Store.Acknowledge(ctx, a); err != nil {
			return fmt.Errorf("provider: acknowledge store mismatch: %w", err)
		}
		p.cfg.Log.Warn("store mismatch acknowledged by the operator", "finding", f.String())
	}
	return nil
}

// checkReads is how many getWarrants calls (each of up to
// contract.MaxWarrantsPerView warrants) the start-up cross-check has in
// flight at once: on a node each is a round trip.
const checkReads = 4

// storeFindings compares every warrant of this provider in sums with the
// chain, reading them contract.MaxWarrantsPerView at a time, checkReads
// calls at once, and returns the findings in sums' order.
func (p *Provider) storeFindings(ctx context.Context, sums []store.WarrantSummary) ([]StoreFinding, error) {
	var mine []store.WarrantSummary
	var payers []isc.AgentID
	for _, s := range sums {
		if s.Warrant.Provider != p.self {
			continue
		}
		payer, err := isc.AgentIDFromBytes([]byte(s.Warrant.Payer))
		if err != nil {
			return nil, fmt.Errorf("payer agent ID: %w", err)
		}
		mine, payers = append(mine, s), append(payers, payer)
	}
	infos := make([]chain.WarrantInfo, len(mine))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(checkReads)
	for start := 0; start < len(mine); start += contract.MaxWarrantsPerView {
		end := min(start+contract.MaxWarrantsPerView, len(mine))
		g.Go(func() error {
			ws, err := chain.ReadWarrants(gctx, p.cfg.Chain, p.agent, payers[start:end])
			if err != nil {
				return fmt.Errorf("read warrants: %w", err)
			}
			copy(infos[start:end], ws)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var findings []StoreFinding
	for i, s := range mine {
		f, ok, err := p.judgeStore(ctx, s, payers[i], infos[i])
		if err != nil {
			return nil, err
		}
		if ok {
			findings = append(findings, f)
		}
	}
	return findings, nil
}

// judgeStore reports whether s's warrant, whose chain state is info, is a
// finding: the chain settled an ordinal above the store's newest in the
// same epoch, settled in an epoch the store never saw, or is at an epoch
// below the store's (another chain), and no acknowledgement covers it.
func (p *Provider) judgeStore(ctx context.Context, s store.WarrantSummary, payer isc.AgentID, info chain.WarrantInfo) (StoreFinding, bool, error) {
	newest := s.Newest.Payment
	if !storeBehind(newest.Epoch, newest.Ordinal, info) {
		return StoreFinding{}, false, nil
	}
	ack, ok, err := p.cfg.Store.Acknowledged(ctx, s.Warrant)
	if err != nil {
		return StoreFinding{}, false, err
	}
	if ok && ack.ChainEpoch == info.Epoch && ack.ChainOrdinal >= info.LastOrdinal {
		return StoreFinding{}, false, nil
	}
	return StoreFinding{
		Payer: payer, ChainEpoch: info.Epoch, ChainOrdinal: info.LastOrdinal, StoreEpoch: newest.Epoch, StoreOrdinal: newest.Ordinal,
	}, true, nil
}

// storeBehind reports whether the chain's state of a warrant shows
// settlements that a store whose newest receipt is (epoch, ordinal) has
// not seen, or an epoch the store is already past.
func storeBehind(epoch uint32, ordinal uint64, info chain.WarrantInfo) bool {
	switch {
	case info.Epoch == epoch:
		return info.LastOrdinal > ordinal
	case info.Epoch > epoch:
		return info.LastOrdinal > 0
	default:
		return true
	}
}
