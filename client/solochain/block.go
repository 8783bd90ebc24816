package solochain

import (
	"errors"
	"reflect"
	"sync"
	"unsafe"

	"github.com/iotaledger/wasp/packages/chain"
	"github.com/iotaledger/wasp/packages/hashing"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/solo"
	"github.com/iotaledger/wasp/packages/transaction"
	"github.com/iotaledger/wasp/packages/vm"
	"github.com/iotaledger/wasp/packages/vm/core/migrations/allmigrations"
	"github.com/iotaledger/wasp/packages/vm/vmimpl"
)

// runOffLedger runs reqs as one block. By default that is Solo's
// RunOffLedgerRequests, which checks the whole account ledger after the
// block; with Options.NoLedgerCheck the block is made as a Wasp node makes
// it (runNodeBlock). It runs inside Do.
func (e *Embedded) runOffLedger(reqs []isc.Request) []*vm.RequestResult {
	if e.vmMu == nil {
		return e.Chain.RunOffLedgerRequests(reqs)
	}
	return e.runNodeBlock(reqs)
}

// runNodeBlock runs reqs as one block the way a Wasp node does: the VM over
// the chain's latest state, the anchor transaction signed by the state
// controller and added to the L1 ledger, the block committed and published,
// and any requests the block sent to the chain (the contract's scheduled
// closes) put in Solo's mempool. It is Solo's runRequestsNolock without
// the call to CheckLedger, which sums every account's balance over the
// block's state draft and, because each account's sum iterates all of the
// block's writes, costs accounts × writes a block: on the devnet with
// 20,000 warrants, 60 % of a scheduled settle (docs/performance.md). A
// node never runs it. It holds Solo's own VM lock, so it never overlaps
// the blocks Solo runs by itself (time-locked requests coming due).
func (e *Embedded) runNodeBlock(reqs []isc.Request) []*vm.RequestResult {
	e.vmMu.Lock()
	defer e.vmMu.Unlock()
	ch := e.Chain
	anchor := ch.GetAnchorOutputFromL1()
	res, err := vmimpl.Run(&vm.VMTask{
		Processors:         ch.Processors(),
		AnchorOutput:       anchor.GetAliasOutput(),
		AnchorOutputID:     anchor.OutputID(),
		Requests:           reqs,
		TimeAssumption:     e.Solo.GlobalTime(),
		Store:              ch.Store(),
		Entropy:            hashing.PseudoRandomHash(nil),
		ValidatorFeeTarget: ch.ValidatorFeeTarget,
		Log:                ch.Log(),
		Migrations:         allmigrations.DefaultScheme,
	})
	if err != nil {
		e.Ctx.Fatalf("run block of %d requests: %v", len(reqs), err)
	}
	if res.RotationAddress != nil {
		e.Ctx.Fatalf("run block: the VM asked to rotate the state controller to %s; the embedded chain never rotates", res.RotationAddress)
	}
	essence := res.TransactionEssence
	copy(essence.InputsCommitment[:], res.InputsCommitment)
	sigs, err := essence.Sign(essence.InputsCommitment[:], ch.StateControllerKeyPair.GetPrivateKey().AddressKeys(ch.StateControllerAddress))
	if err != nil {
		e.Ctx.Fatalf("sign block: %v", err)
	}
	tx := transaction.MakeAnchorTransaction(essence, sigs[0])

	block := ch.Store().Commit(res.StateDraft)
	if err := ch.Store().SetLatest(block.TrieRoot()); err != nil {
		e.Ctx.Fatalf("commit block: %v", err)
	}
	latest, err := ch.LatestState(chain.ActiveOrCommittedState)
	if err != nil {
		e.Ctx.Fatalf("latest state: %v", err)
	}
	e.Solo.Publisher().BlockApplied(ch.ChainID, block, latest)
	if err := e.Solo.AddToLedger(tx); err != nil {
		e.Ctx.Fatalf("add block %d's anchor to L1: %v", block.StateIndex(), err)
	}
	if root, l1 := ch.GetRootCommitment(), ch.GetL1Commitment(); !root.Equals(l1.TrieRoot()) {
		e.Ctx.Fatalf("block %d: state root %s, L1 anchor commits to %s", block.StateIndex(), root, l1.TrieRoot())
	}
	e.Solo.EnqueueRequests(tx)
	return res.RequestResults
}

// soloVMMutex returns Solo's lock around running a block on ch
// (solo.Chain.runVMMutex: Solo takes it for every block it runs, its
// background runner of due time-locked requests included), so that a block
// made by runNodeBlock never runs beside one of Solo's. Solo does not
// export it; wasp is pinned at v1.5.1, and a field of another name or type
// is an error here rather than a race later (TestNodeBlocksKeepTheLedger).
func soloVMMutex(ch *solo.Chain) (*sync.Mutex, error) {
	f := reflect.ValueOf(ch).Elem().FieldByName("runVMMutex")
	if !f.IsValid() || f.Type() != reflect.TypeFor[sync.Mutex]() {
		return nil, errors.New("solochain: solo.Chain has no runVMMutex sync.Mutex: this wasp is not v1.5.1; run without NoLedgerCheck")
	}
	return (*sync.Mutex)(unsafe.Pointer(f.UnsafeAddr())), nil
}

// RunBlock runs reqs, signed off-ledger requests, as one block (with Solo's
// ledger check unless Options.NoLedgerCheck) and returns what the VM made
// of each, in its order; a request the VM skipped has no result. It is for
// a caller with a mempool of its own (the devnet); others Post.
func (e *Embedded) RunBlock(reqs []isc.Request) (results []*vm.RequestResult, err error) {
	err = Do(func() { results = e.runOffLedger(reqs) })
	return results, err
}
