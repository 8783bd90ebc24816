// Command wasp-micropay is a Wasp v1.5.1 node with the micropay native
// contract compiled in, so that a committee can deploy micropay on a real
// chain. It is wasp's own node (components/app) with one change: its
// Processors component registers micropay beside wasp's inccounter.
//
// Run it exactly like `wasp` (same flags and config.json); then deploy with
// wasp-cli: `wasp-cli chain deploy-contract native micropay micropay
// <program hash>`, the hash printed by `wasp-micropay --micropay-hash` or by
// `micropay info`. See docs/operations.md.
package main

import (
	"fmt"
	"os"

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

// Version is the node's version string; set with -ldflags "-X main.Version=...".
var Version = "1.5.1-micropay"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--micropay-hash" {
		fmt.Println(contract.Contract.ProgramHash.String())
		return
	}
	newApp().Run()
}

// newApp is wasp's components/app.App with micropay registered.
func newApp() *app.App {
	return app.New(waspapp.Name, Version,
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
