package solochain

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/solo"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

var _ chain.Chain = (*Embedded)(nil)

// ID returns the chain's ID.
func (e *Embedded) ID() isc.ChainID { return e.Chain.ChainID }

// Post runs req as an off-ledger request signed by signer, synchronously.
// Requests are serialized so that each takes the signer's next nonce.
func (e *Embedded) Post(ctx context.Context, signer *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.postMu.Lock()
	defer e.postMu.Unlock()
	var rec *chain.Receipt
	var vmErr error
	err := Do(func() {
		cp := solo.CallParamsFromDict(contract.Contract.Name, req.Entry, req.Params).WithGasBudget(math.MaxUint64)
		if req.Allowance > 0 {
			cp.AddAllowanceBaseTokens(req.Allowance)
		}
		r := cp.NewRequestOffLedger(e.Chain, signer)
		results := e.runOffLedger([]isc.Request{r})
		if len(results) == 0 {
			e.Ctx.Fatalf("request %s was skipped by the VM", r.ID())
		}
		res := results[0]
		rec = &chain.Receipt{RequestID: r.ID(), GasBurned: res.Receipt.GasBurned, GasFee: res.Receipt.GasFeeCharged}
		events, err := e.Chain.GetEventsForRequest(r.ID())
		if err != nil {
			e.Ctx.Fatalf("events of %s: %v", r.ID(), err)
		}
		rec.Events = events
		vmErr = e.Chain.ResolveVMError(res.Receipt.Error).AsGoError()
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", chain.ErrUnknownOutcome, err)
	}
	if vmErr != nil {
		return rec, &chain.Rejected{Receipt: rec, Message: vmErr.Error()}
	}
	return rec, nil
}

// WarrantInfo calls getWarrantInfo.
func (e *Embedded) WarrantInfo(ctx context.Context, payer, provider isc.AgentID) (chain.WarrantInfo, error) {
	if err := ctx.Err(); err != nil {
		return chain.WarrantInfo{}, err
	}
	var info chain.WarrantInfo
	var viewErr error
	err := Do(func() {
		ret, err := e.Chain.CallView(contract.Contract.Name, contract.ViewGetWarrantInfo.Name, chain.WarrantInfoParams(payer, provider))
		if err != nil {
			viewErr = err
			return
		}
		info, viewErr = chain.DecodeWarrantInfo(ret)
	})
	if err == nil {
		err = viewErr
	}
	if err != nil {
		return chain.WarrantInfo{}, fmt.Errorf("getWarrantInfo: %w", err)
	}
	return info, nil
}

// PublicKey calls getPublicKey.
func (e *Embedded) PublicKey(ctx context.Context, payer isc.AgentID) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pk []byte
	var viewErr error
	err := Do(func() {
		ret, err := e.Chain.CallView(contract.Contract.Name, contract.ViewGetPublicKey.Name, dict.Dict{
			contract.ParamPayer: codec.EncodeAgentID(payer),
		})
		pk, viewErr = ret[contract.ParamPublicKey], err
	})
	if err == nil {
		err = viewErr
	}
	if err != nil {
		return nil, fmt.Errorf("getPublicKey: %w", err)
	}
	return pk, nil
}

// Now returns Solo's logical clock: the time the next request runs at.
func (e *Embedded) Now(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	return e.Solo.GlobalTime(), nil
}

// L2Balance returns the base tokens of an L2 account.
func (e *Embedded) L2Balance(ctx context.Context, agent isc.AgentID) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var bal uint64
	err := Do(func() { bal = e.Chain.L2BaseTokens(agent) })
	return bal, err
}

// Fund credits amount base tokens to an L2 account, as a faucet: a wallet
// key derived from a fixed seed takes amount (and the request's costs) from
// Solo's L1 genesis and deposits it to agent with one on-ledger request.
// Every call costs the same, however many came before (Solo's own
// GetL2FundsFromFaucet probes one more wallet per call).
func (e *Embedded) Fund(ctx context.Context, agent isc.AgentID, amount uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.postMu.Lock()
	defer e.postMu.Unlock()
	return Do(func() {
		seed := cryptolib.SubSeed([]byte("micropay solochain faucet"), 0)
		key, addr := e.Solo.NewKeyPair(&seed)
		if _, err := e.Solo.GetFundsFromFaucet(addr, amount+faucetCosts); err != nil {
			e.Ctx.Fatalf("L1 faucet: %v", err)
		}
		if err := e.Chain.TransferAllowanceTo(isc.NewAssetsBaseTokens(amount), agent, key); err != nil {
			e.Ctx.Fatalf("deposit to %s: %v", agent, err)
		}
	})
}

// faucetCosts is what Fund's wallet takes from L1 on top of the amount: the
// gas budget Solo attaches to the deposit (the unburned rest stays in the
// wallet's L2 account) and the request's storage deposit.
const faucetCosts = solo.TransferAllowanceToGasBudgetBaseTokens + isc.Million

// AdvanceClock moves the logical clock forward by d and waits until the
// requests whose time lock has expired (the contract's scheduled closes) are
// processed by Solo's background loop.
func (e *Embedded) AdvanceClock(d time.Duration) error {
	var err error
	if derr := Do(func() { e.Solo.AdvanceClockBy(d) }); derr != nil {
		return derr
	}
	ok := e.Chain.WaitUntil(func() bool { return e.dueRequests() == 0 }, 30*time.Second)
	if !ok {
		err = fmt.Errorf("solochain: %d time-locked requests still unprocessed after advancing the clock", e.dueRequests())
	}
	return err
}

// dueRequests counts the on-ledger requests to the chain whose time lock has
// expired and that the chain has not consumed yet.
func (e *Embedded) dueRequests() int {
	now := uint32(e.Solo.GlobalTime().Unix())
	outs, _ := e.Solo.UnspentOutputs(e.Chain.ChainID.AsAddress())
	n := 0
	for _, out := range outs {
		if tl := out.UnlockConditionSet().Timelock(); tl != nil && tl.UnixTime <= now {
			n++
		}
	}
	return n
}
