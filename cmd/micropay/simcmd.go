package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/micropay/micropay/sim"
)

func (a *app) simCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "sim SCENARIO.yaml",
		Short:       "Run a telecom-style simulation scenario on the embedded chain and check its invariants",
		GroupID:     "local",
		Annotations: embedded,
		Long: `sim runs a scenario file (see sim/scenarios/) on the embedded chain and its
logical clock: consumers buying pieces from providers, revocations, provider
downtime and cheaters. It checks that funds are conserved to the token, that
no consumer is charged more than it signed, and that every acknowledged
payment is settled unless its provider missed the deadline, and prints a
report. It exits 1 when an invariant is violated.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := sim.Load(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			if n := a.v.GetInt("consumers"); n > 0 {
				sc.Consumers = n
			}
			if s := a.v.GetInt64("seed"); s != 0 {
				sc.Seed = s
			}
			var opts sim.Options
			if !a.json {
				opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			rep, runErr := sim.Run(cmd.Context(), sc, opts)
			if rep == nil {
				return runErr
			}
			if a.json {
				a.printJSON(os.Stdout, rep)
			} else if err := rep.WriteText(os.Stdout); err != nil {
				return err
			}
			return runErr
		},
	}
	cmd.Flags().Int("consumers", 0, "override the scenario's number of consumers")
	cmd.Flags().Int64("seed", 0, "override the scenario's seed")
	return cmd
}
