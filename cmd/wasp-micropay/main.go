// Command wasp-micropay is a Wasp v1.5.1 node with the micropay native
// contract compiled in, so that a committee can deploy micropay on a real
// chain. It is wasp's own node (components/app) with one change: its
// Processors component registers micropay beside wasp's inccounter.
//
// Build it as wasp builds its node, with RocksDB, wasp's default database
// (`make node` does: go build -tags rocksdb ./cmd/wasp-micropay), and run it
// exactly like `wasp` (same flags and config.json). It reports wasp's
// version (e.g. v1.5.1), which wasp-cli checks against its own; micropay's
// version and the contract's program hash are printed by
// `wasp-micropay --micropay-version`. Deploy with wasp-cli:
// `wasp-cli chain deploy-contract native micropay micropay <program hash>`,
// the hash printed by `wasp-micropay --micropay-hash`. See
// docs/operations.md.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"go.uber.org/dig"

	"github.com/iotaledger/hive.go/app"
	"github.com/iotaledger/hive.go/app/components/profiling"
	"github.com/iotaledger/hive.go/app/components/shutdown"
	waspapp "github.com/iotaledger/wasp/components/app"
	"github.com/iotaledger/wasp/components/cache"
	"github.com/iotaledger/wasp/components/chains"
	"github.com/iotaledger/wasp/components/database"
	"github.com/iotaledger/wasp/components/dkg"
	"github.com/iotaledger/wasp/components/logger"
	"github.com/iotaledger/wasp/components/nodeconn"
	"github.com/iotaledger/wasp/components/peering"
	"github.com/iotaledger/wasp/components/profilingrecorder"
	"github.com/iotaledger/wasp/components/prometheus"
	"github.com/iotaledger/wasp/components/publisher"
	"github.com/iotaledger/wasp/components/registry"
	"github.com/iotaledger/wasp/components/users"
	"github.com/iotaledger/wasp/components/wasmtimevm"
	"github.com/iotaledger/wasp/components/webapi"
	"github.com/iotaledger/wasp/contracts/native/inccounter"
	"github.com/iotaledger/wasp/packages/isc/coreutil"
	"github.com/iotaledger/wasp/packages/vm/core/coreprocessors"
	"github.com/iotaledger/wasp/packages/vm/processors"
	"github.com/micropay/micropay/contract"
)

// Version is the node's version as its web API reports it; empty means
// wasp's version from the build (see waspVersion). Set with -ldflags
// "-X main.Version=..." only to a version wasp-cli accepts.
var Version = ""

// waspModule is the module whose version the node reports.
const waspModule = "github.com/iotaledger/wasp"

func main() {
	if micropayFlag(os.Stdout, os.Args[1:]) {
		return
	}
	newApp().Run()
}

// micropayFlag answers the node's own flags, --micropay-hash and
// --micropay-version, each given alone; it reports whether args was one.
func micropayFlag(w io.Writer, args []string) bool {
	if len(args) != 1 {
		return false
	}
	switch args[0] {
	case "--micropay-hash":
		fmt.Fprintln(w, contract.Contract.ProgramHash.String())
	case "--micropay-version":
		fmt.Fprintln(w, versionLine())
	default:
		return false
	}
	return true
}

// waspVersion is the version the node reports: Version if set, else the
// version of the wasp module it was built with, which is what wasp-cli of
// the same release expects.
func waspVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == waspModule {
				return d.Version
			}
		}
	}
	return ""
}

// versionLine says what the node is: micropay's build, the wasp it embeds
// and the contract's program hash.
func versionLine() string {
	micropay := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		micropay = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				micropay += " " + s.Value
			}
		}
	}
	return fmt.Sprintf("micropay %s, wasp %s, micropay program hash %s", micropay, waspVersion(), contract.Contract.ProgramHash)
}

// newApp is wasp's components/app.App with micropay registered.
func newApp() *app.App {
	return app.New(waspapp.Name, waspVersion(),
		app.WithInitComponent(waspapp.InitComponent),
		app.WithComponents(
			shutdown.Component,
			nodeconn.Component,
			users.Component,
			logger.Component,
			cache.Component,
			database.Component,
			registry.Component,
			peering.Component,
			dkg.Component,
			processorsComponent,
			wasmtimevm.Component,
			chains.Component,
			publisher.Component,
			webapi.Component,
			profiling.Component,
			profilingrecorder.Component,
			prometheus.Component,
		),
	)
}

// nativeContracts are the contracts this node can deploy natively.
var nativeContracts = []*coreutil.ContractProcessor{inccounter.Processor, contract.Processor}

var processorsComponent = &app.Component{Name: "Processors", Provide: provideProcessors}

// provideProcessors replaces wasp's components/processors: the same config,
// with micropay among the native contracts.
func provideProcessors(c *dig.Container) error {
	type result struct {
		dig.Out
		ProcessorsConfig *processors.Config
	}
	return c.Provide(func() result {
		return result{ProcessorsConfig: coreprocessors.NewConfigWithCoreContracts().WithNativeContracts(nativeContracts...)}
	})
}
