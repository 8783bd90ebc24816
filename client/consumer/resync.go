package consumer

import (
	"context"
	"fmt"

	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/chain"
)

// ResyncPlan is what Payer.Resync adopts for one warrant, and from what.
type ResyncPlan struct {
	Provider string
	Was      Position          // the payer's position before
	Chain    chain.WarrantInfo // the warrant as the chain reports it now
	Adopt    Position          // the position Resync saves
}

// Changes reports whether the plan changes the payer's position.
func (r ResyncPlan) Changes() bool { return r.Adopt != r.Was }

// String says what the plan adopts and what that means.
func (r ResyncPlan) String() string {
	if !r.Changes() {
		return fmt.Sprintf("the payer's position on the warrant to %s (%v) already covers what the chain reports "+
			"(epoch %d, ordinal %d, %d paid): nothing to adopt", r.Provider, r.Was, r.Chain.Epoch, r.Chain.LastOrdinal, r.Chain.Paid)
	}
	return fmt.Sprintf("the chain reports for the warrant to %s: epoch %d, last settled ordinal %d, %d paid in the epoch.\n"+
		"The payer's own position: %v.\n"+
		"Adopting: %v. The next payment takes ordinal %d and promises %d plus its price in all: "+
		"if the chain has really paid less than %d, the provider can claim the difference. "+
		"Adopt only figures you checked on a node you trust (e.g. after restoring this home, or when the key also pays from another machine)",
		r.Provider, r.Chain.Epoch, r.Chain.LastOrdinal, r.Chain.Paid, r.Was, r.Adopt, r.Adopt.Ordinal+1, r.Adopt.Total, r.Adopt.Total)
}

// Resync brings the payer's position on its warrant for provider up to what
// the chain reports, the recovery from a *StateMismatchError. It reads the
// warrant from the chain, computes the plan — in the chain's epoch, the
// higher of each figure: ordinal and the chain's last settled ordinal,
// total and highest signed total and the chain's paid amount — and, if the
// plan changes anything, calls confirm with it and saves it only if
// confirm returns nil (an error from confirm is returned as is and nothing
// changes). confirm runs with the warrant's lock held and must not call
// the Payer.
//
// It refuses, changing nothing, when no warrant exists (ErrNoWarrant) and
// when the chain's epoch is below the payer's (ErrWrongEpoch): going back
// an epoch could sign a second total under an ordinal already used.
func (p *Payer) Resync(ctx context.Context, provider isc.AgentID, confirm func(ResyncPlan) error) (ResyncPlan, error) {
	w := p.warrantFor(provider)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := p.load(ctx, w); err != nil {
		return ResyncPlan{}, fmt.Errorf("resync %s: %w", provider, err)
	}
	if err := p.refresh(ctx, w); err != nil {
		return ResyncPlan{}, fmt.Errorf("resync %s: %w", provider, err)
	}
	plan := ResyncPlan{Provider: provider.String(), Was: w.pos, Chain: w.info}
	if err := w.noWarrant(); err != nil {
		return plan, fmt.Errorf("resync %s: %w", provider, err)
	}
	if w.info.Epoch < w.pos.Epoch {
		return plan, fmt.Errorf("resync %s: %w: the chain's epoch %d is below the payer's %d; "+
			"this node lags or serves another chain, and going back could sign two totals under one ordinal",
			provider, ErrWrongEpoch, w.info.Epoch, w.pos.Epoch)
	}
	base := w.pos
	if w.info.Epoch > base.Epoch {
		base = Position{Epoch: w.info.Epoch}
	}
	plan.Adopt = Position{
		Epoch:   base.Epoch,
		Ordinal: max(base.Ordinal, w.info.LastOrdinal),
		Total:   max(base.Total, w.info.Paid),
		Signed:  max(base.Signed, w.info.Paid),
	}
	if plan.Adopt == base {
		// Nothing above what the payer would sign anyway (a new epoch
		// starts from zero by itself).
		plan.Adopt = w.pos
		return plan, nil
	}
	if err := confirm(plan); err != nil {
		return plan, err
	}
	if err := p.states.Save(ctx, w.warrant, plan.Adopt); err != nil {
		w.loaded = false
		return plan, fmt.Errorf("resync %s: save position: %w", provider, err)
	}
	w.pos = plan.Adopt
	return plan, nil
}
