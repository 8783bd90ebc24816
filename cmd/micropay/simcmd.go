package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"

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
			if path := a.v.GetString("cpuprofile"); path != "" {
				stop, err := startCPUProfile(path)
				if err != nil {
					return err
				}
				defer stop()
			}
			if os.Getenv("GOGC") == "" {
				// The embedded chain keeps every block's state in memory and
				// the garbage collector would mark it over and over: a quarter
				// of a large run's CPU at the default of 100.
				debug.SetGCPercent(simGCPercent)
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
	cmd.Flags().String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	return cmd
}

// simGCPercent is the garbage collector's target for `micropay sim` unless
// GOGC is set.
const simGCPercent = 400

// startCPUProfile profiles the process's CPU into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
