// Command micropay is the micropay command line: for now, `micropay
// lifecycle` runs one warrant's whole lifecycle on the embedded Solo chain.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "micropay:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "micropay",
		Short:         "Warrant-backed micropayments on an IOTA Wasp (ISC) chain",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newLifecycleCmd())
	return root
}
