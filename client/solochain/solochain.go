package solochain

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/iotaledger/hive.go/logger"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/solo"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/internal/durable"
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
	// Snapshot, if set, names a file written by Save: the chain, its L1
	// ledger and its clock are restored from it instead of created anew.
	Snapshot string
	// NoLedgerCheck makes blocks as a Wasp node does, without the check
	// of the whole account ledger Solo runs after every block: a check
	// whose cost is the chain's accounts times the block's writes, so it
	// comes to dominate large chains and blocks (the devnet, telecom-size
	// simulations). The default keeps Solo's check.
	NoLedgerCheck bool
}

// Embedded is a Solo chain in-process with micropay deployed.
type Embedded struct {
	Ctx   *Context
	Solo  *solo.Solo
	Chain *solo.Chain
	// Contract is the micropay contract's own L2 account.
	Contract isc.AgentID

	postMu sync.Mutex // serializes requests so each takes the next nonce
	// vmMu is Solo's lock around a block, set with NoLedgerCheck: blocks
	// are then made by runNodeBlock (block.go).
	vmMu *sync.Mutex
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
		if opts.Snapshot != "" {
			e.restore(opts.Snapshot)
			return
		}
		e.Chain = e.Solo.NewChain()
		if err := e.Chain.DeployContract(nil, contract.Contract.Name, contract.Contract.ProgramHash, opts.InitParams...); err != nil {
			ctx.Fatalf("deploy %s: %v", contract.Contract.Name, err)
		}
	})
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("start embedded chain: %w", err)
	}
	if opts.NoLedgerCheck {
		if e.vmMu, err = soloVMMutex(e.Chain); err != nil {
			ctx.Close()
			return nil, err
		}
	}
	e.Contract = isc.NewContractAgentID(e.Chain.ChainID, contract.Contract.Hname())
	return e, nil
}

// restore loads a snapshot written by Save and puts the time-locked requests
// still waiting on L1 (the contract's scheduled closes) back in the mempool.
func (e *Embedded) restore(path string) {
	snap := e.Solo.LoadSnapshot(path)
	if len(snap.Chains) != 1 {
		e.Ctx.Fatalf("snapshot %s holds %d chains, want 1", path, len(snap.Chains))
	}
	e.Solo.RestoreSnapshot(snap)
	e.Chain = e.Solo.GetChainByName(snap.Chains[0].Name)
	outs, ids := e.Solo.UnspentOutputs(e.Chain.ChainID.AsAddress())
	var reqs []isc.Request
	for _, id := range ids {
		out := outs[id]
		if out.UnlockConditionSet().Timelock() == nil {
			continue // the chain's own outputs; only scheduled requests carry a time lock
		}
		req, err := isc.OnLedgerFromUTXO(out, id)
		if err != nil {
			e.Ctx.Fatalf("snapshot %s: pending request %s: %v", path, id.ToHex(), err)
		}
		reqs = append(reqs, req)
	}
	e.Solo.AddRequestsToMempool(e.Chain, reqs)
}

// Save writes a snapshot of the chain, its L1 ledger and clock to path,
// atomically (a temporary file, synced, renamed over path).
func (e *Embedded) Save(path string) error {
	e.postMu.Lock()
	defer e.postMu.Unlock()
	tmp := path + ".tmp"
	err := Do(func() { e.Solo.SaveSnapshot(e.Solo.TakeSnapshot(), tmp) })
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if err := durable.Sync(tmp); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	return durable.Sync(filepath.Dir(path))
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
