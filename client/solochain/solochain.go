package solochain

import (
	"fmt"
	"sync"

	"github.com/iotaledger/hive.go/logger"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/solo"
	"github.com/micropay/micropay/contract"
)

// Options configure an embedded chain. The zero value is the default.
type Options struct {
	// Name names the chain in logs; default "micropay".
	Name string
	// Log receives Solo's log; default: silent.
	Log *logger.Logger
	// InitParams are the contract's init parameters as key/value pairs
	// (contract.Init* keys); default: the contract's defaults.
	InitParams []any
}

// Embedded is a Solo chain in-process with micropay deployed.
type Embedded struct {
	Ctx   *Context
	Solo  *solo.Solo
	Chain *solo.Chain
	// Contract is the micropay contract's own L2 account.
	Contract isc.AgentID

	postMu sync.Mutex // serializes requests so each takes the next nonce
}

// New starts an embedded chain and deploys micropay on it. Close it when
// done.
func New(opts Options) (*Embedded, error) {
	if opts.Name == "" {
		opts.Name = "micropay"
	}
	if opts.Log == nil {
		opts.Log = logger.NewNopLogger()
	}
	ensureL1Params()
	ctx := NewContext(opts.Name, nil)
	e := &Embedded{Ctx: ctx}
	err := Do(func() {
		e.Solo = solo.New(ctx, &solo.InitOptions{AutoAdjustStorageDeposit: true, Log: opts.Log}).
			WithNativeContract(contract.Processor)
		e.Chain = e.Solo.NewChain()
		if err := e.Chain.DeployContract(nil, contract.Contract.Name, contract.Contract.ProgramHash, opts.InitParams...); err != nil {
			ctx.Fatalf("deploy %s: %v", contract.Contract.Name, err)
		}
	})
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("start embedded chain: %w", err)
	}
	e.Contract = isc.NewContractAgentID(e.Chain.ChainID, contract.Contract.Hname())
	return e, nil
}

// ensureL1Params gives wasp the L1 parameters Solo's in-memory ledger uses
// (parameters.L1ForTesting) unless the process has set its own. Inside
// `go test` wasp does this by itself.
func ensureL1Params() {
	defer func() {
		if recover() != nil {
			parameters.InitL1(parameters.L1ForTesting)
		}
	}()
	parameters.L1()
}

// Close stops the chain's background work.
func (e *Embedded) Close() { e.Ctx.Close() }
