package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/consumer"
)

// errNotConfirmed: warrant resync ran without --yes.
var errNotConfirmed = errors.New("resync not confirmed: nothing adopted")

func (a *app) warrantResyncCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "resync PROVIDER",
		Short: "Adopt the chain's figures for your warrant to PROVIDER after a state mismatch (asks for --yes)",
		Long: `Bring your payer state for the warrant to PROVIDER up to what the chain reports.

micropay never signs a payment on top of a settled amount or ordinal it did not sign itself: when
the chain reports more, get stops with "payer state does not match the chain". That happens when
this home's payer state was lost or restored from an old backup, when the same key also pays from
another machine, or when the node lies (the default --node is plain http). resync reads the
warrant from --node, prints what it would adopt and why, and adopts it only with --yes. After it,
the next payment promises the chain's paid amount plus its price: if the node overstated what was
paid, the provider can claim the difference. Check the figures with ` + "`micropay warrant info`" + `
on a node you trust (--node) first. resync never goes back to an older epoch.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, provider, done, err := a.consumerFor(cmd, args[0])
			if err != nil {
				return err
			}
			defer done()
			plan, err := c.Payer.Resync(cmd.Context(), provider, func(plan consumer.ResyncPlan) error {
				a.emit(viewResync(plan, c.Agent(), provider, yes), plan.String())
				if !yes {
					return errNotConfirmed
				}
				return nil
			})
			if errors.Is(err, errNotConfirmed) {
				return withHint(err, exitUsage, "re-run with --yes to adopt these figures")
			}
			if err != nil {
				return err
			}
			if !plan.Changes() {
				a.emit(viewResync(plan, c.Agent(), provider, false), plan.String())
				return nil
			}
			if !a.json {
				fmt.Printf("adopted: %v\n", plan.Adopt)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "adopt the figures shown (without it resync only shows them)")
	return cmd
}

// positionView is a consumer.Position for output.
type positionView struct {
	Epoch   uint32 `json:"epoch"`
	Ordinal uint64 `json:"ordinal"`
	Total   uint64 `json:"total"`
	Signed  uint64 `json:"highestSigned"`
	Doubt   bool   `json:"inDoubt,omitempty"` // a payment's outcome is not known
}

// resyncView is a consumer.ResyncPlan for output.
type resyncView struct {
	Provider string       `json:"provider"`
	Was      positionView `json:"was"`
	Chain    warrantView  `json:"chain"`
	Adopt    positionView `json:"adopt"`
	Adopted  bool         `json:"adopted"`
}

func viewResync(p consumer.ResyncPlan, payer, provider isc.AgentID, adopted bool) resyncView {
	return resyncView{Provider: p.Provider, Was: positionView(p.Was), Adopt: positionView(p.Adopt), Adopted: adopted,
		Chain: viewWarrant(payer, provider, p.Chain)}
}
