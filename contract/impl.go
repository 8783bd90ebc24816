package contract

import (
	"math"
	"time"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/util/rwutil"
	"github.com/iotaledger/wasp/packages/vm/core/accounts"
	"github.com/iotaledger/wasp/packages/vm/gas"
	"github.com/micropay/micropay/contract/payment"
)

// Processor is the contract's VM processor: register it with
// solo.WithNativeContract or a node's processor config.
var Processor = Contract.Processor(initialize,
	FuncPublicKey.WithHandler(registerPublicKey),
	FuncAddWarrant.WithHandler(addWarrant),
	FuncRevokeWarrant.WithHandler(revokeWarrant),
	FuncSettle.WithHandler(settle),
	FuncSettleMany.WithHandler(settleMany),
	FuncCloseWarrant.WithHandler(closeWarrant),
	ViewGetWarrantInfo.WithHandler(getWarrantInfo),
	ViewGetPublicKey.WithHandler(getPublicKeyView),
	ViewGetTotals.WithHandler(getTotalsView),
	ViewGetRevokeDeposit.WithHandler(getRevokeDepositView),
	ViewGetWarrants.WithHandler(getWarrants),
)

func initialize(ctx isc.Sandbox) dict.Dict {
	c := config{
		DefaultCloseTimeout: optUint64(ctx, InitDefaultCloseTimeout, DefaultCloseTimeout),
		MinCloseTimeout:     optUint64(ctx, InitMinCloseTimeout, MinCloseTimeout),
		MaxCloseTimeout:     optUint64(ctx, InitMaxCloseTimeout, MaxCloseTimeout),
		MinWarrant:          optUint64(ctx, InitMinWarrant, MinWarrant),
	}
	if c.MinCloseTimeout == 0 || c.MinCloseTimeout > c.MaxCloseTimeout {
		panic(ErrBadParam.Create(InitMinCloseTimeout, "must be at least 1 and at most the maximum close timeout"))
	}
	if c.DefaultCloseTimeout < c.MinCloseTimeout || c.DefaultCloseTimeout > c.MaxCloseTimeout {
		panic(ErrCloseTimeout.Create(c.DefaultCloseTimeout, c.MinCloseTimeout, c.MaxCloseTimeout))
	}
	setConfig(ctx.State(), c)
	return nil
}

// registerPublicKey handles publicKey(pk).
func registerPublicKey(ctx isc.Sandbox) dict.Dict {
	payer := ctx.Caller()
	registerKey(ctx, payer, ed25519Caller(ctx), requiredBytes(ctx, ParamPublicKey))
	return nil
}

// addWarrant handles addWarrant(sa, pk?, ct?).
func addWarrant(ctx isc.Sandbox) dict.Dict {
	payer := ctx.Caller()
	addr := ed25519Caller(ctx)
	provider := requiredAgentID(ctx, ParamProvider)
	if payer.Equals(provider) {
		panic(ErrSelfWarrant.Create(payer.String()))
	}
	if pk := ctx.Params().Dict.Get(ParamPublicKey); pk != nil {
		registerKey(ctx, payer, addr, pk)
	} else if getPublicKey(ctx.StateR(), payer) == nil {
		panic(ErrNoKeyForWarrant.Create(payer.String()))
	}
	amount := baseTokenAllowance(ctx, FuncAddWarrant.Name)
	cfg := getConfig(ctx.State())
	ct, ctGiven := optionalUint64(ctx, ParamCloseTimeout)

	w := mustGetWarrant(ctx, payer, provider)
	isNew := w == nil
	switch {
	case isNew:
		if amount < cfg.MinWarrant {
			panic(ErrBelowMinWarrant.Create(cfg.MinWarrant, amount))
		}
		if !ctGiven {
			ct = cfg.DefaultCloseTimeout
		}
		if ct < cfg.MinCloseTimeout || ct > cfg.MaxCloseTimeout {
			panic(ErrCloseTimeout.Create(ct, cfg.MinCloseTimeout, cfg.MaxCloseTimeout))
		}
		w = newWarrant(ctx.StateR(), payer, provider, amount, ct)
	case w.revoked():
		panic(ErrRevoked.Create(payer.String(), provider.String(), w.Deadline))
	case ctGiven && ct != w.CloseTimeout:
		panic(ErrCloseTimeoutFixed.Create(w.CloseTimeout, ct))
	case w.Balance+amount < w.Balance:
		panic(ErrBalanceOverflow.Create(amount, w.Balance))
	default:
		w.Balance += amount
	}
	ctx.TransferAllowedFunds(ctx.AccountID(), isc.NewAssetsBaseTokens(amount))
	if isNew {
		setWarrant(ctx.State(), w)
	} else {
		setLedger(ctx.State(), w)
	}
	addTotals(ctx.State(), amount, isNew)
	emit(ctx, TopicWarrantAdded, &WarrantAdded{
		Payer: payer, Provider: provider, Epoch: w.Epoch,
		Added: amount, Balance: w.Balance, CloseTimeout: w.CloseTimeout, New: isNew,
	})
	return nil
}

// revokeWarrant handles revokeWarrant(sa). The allowance pays the storage
// deposit of the scheduled close and returns to the payer when it runs.
func revokeWarrant(ctx isc.Sandbox) dict.Dict {
	payer := ctx.Caller()
	provider := requiredAgentID(ctx, ParamProvider)
	w := revocable(ctx, payer, provider)

	var deposit uint64
	if a := ctx.AllowanceAvailable(); a != nil {
		deposit = a.BaseTokens
	}
	scheduled := scheduledCloseRequest(ctx, payer, provider, w, deposit)
	storageDeposit := ctx.EstimateRequiredStorageDeposit(scheduled)
	reserve := scheduledCloseFee(ctx)
	if need := max(storageDeposit, reserve); deposit < need {
		panic(ErrRevokeDeposit.Create(need, storageDeposit, reserve, deposit))
	}
	baseTokenAllowance(ctx, FuncRevokeWarrant.Name) // only base tokens
	ctx.TransferAllowedFunds(ctx.AccountID(), isc.NewAssetsBaseTokens(deposit))
	ctx.Send(scheduled)

	setTerms(ctx.State(), w)
	emit(ctx, TopicWarrantRevoked, &WarrantRevoked{
		Payer: payer, Provider: provider, Epoch: w.Epoch, Deadline: w.Deadline, Balance: w.Balance,
	})
	return nil
}

// settle handles settle(pa, m), called by the provider.
func settle(ctx isc.Sandbox) dict.Dict {
	provider := ctx.Caller()
	payer := requiredAgentID(ctx, ParamPayer)
	w := mustGetWarrant(ctx, payer, provider)
	if w == nil {
		panic(ErrNoWarrant.Create(payer.String(), provider.String()))
	}
	if now := chainTime(ctx); w.pastDeadline(now) {
		panic(ErrPastDeadline.Create(now, w.Deadline))
	}
	batch := payments(ctx)
	if len(batch) == 0 {
		panic(ErrEmptyBatch.Create())
	}
	applySettlement(ctx, payer, provider, w, batch)
	setLedger(ctx.State(), w)
	return nil
}

// closeWarrant handles closeWarrant(pa, sa, m?, ep?): by the provider at any
// time, by anyone once the deadline has passed, and by the contract's own
// time-locked request.
func closeWarrant(ctx isc.Sandbox) dict.Dict {
	payer := requiredAgentID(ctx, ParamPayer)
	provider := requiredAgentID(ctx, ParamProvider)
	caller := ctx.Caller()
	if caller.Equals(ctx.AccountID()) {
		scheduledClose(ctx, payer, provider)
		return nil
	}
	w := mustGetWarrant(ctx, payer, provider)
	if w == nil {
		panic(ErrNoWarrant.Create(payer.String(), provider.String()))
	}
	if ep, given := optionalUint32(ctx, ParamEpoch); given && ep != w.Epoch {
		panic(ErrCloseWrongEpoch.Create(ep, w.Epoch))
	}
	now := chainTime(ctx)
	batch := payments(ctx)
	var how uint8
	switch {
	case caller.Equals(provider):
		how = ClosedByProvider
		if len(batch) > 0 {
			if w.pastDeadline(now) {
				panic(ErrPastDeadline.Create(now, w.Deadline))
			}
			applySettlement(ctx, payer, provider, w, batch)
		}
	case w.pastDeadline(now):
		how = ClosedAtDeadline
		if len(batch) > 0 {
			panic(ErrBadParam.Create(ParamPayments, "only the provider may settle payments"))
		}
	default:
		panic(ErrCloseNotAllowed.Create(caller.String(), payer.String(), provider.String()))
	}
	finishWarrant(ctx, payer, provider, w, how)
	return nil
}

// scheduledClose runs the time-locked request revokeWarrant sent. Its tokens
// (the revoke deposit) are credited to this contract on arrival, and the VM
// charges this request's gas fee to this contract's account, which holds
// every warrant: so the close must never cost more than its own deposit.
// It closes the warrant only if it is still the epoch that was revoked; a
// stale one only returns the deposit.
func scheduledClose(ctx isc.Sandbox, payer, provider isc.AgentID) {
	epoch := requiredUint32(ctx, ParamEpoch)
	var deposit uint64
	if a := ctx.Request().Assets(); a != nil {
		deposit = a.BaseTokens
	}
	w := mustGetWarrant(ctx, payer, provider)
	due := w != nil && w.Epoch == epoch && w.pastDeadline(chainTime(ctx))
	fee := scheduledCloseFee(ctx)
	if deposit < fee {
		unfundedClose(ctx, payer, provider, w, due, deposit, fee)
		return
	}
	if due {
		finishWarrant(ctx, payer, provider, w, ClosedByScheduler)
	} else {
		ctx.Log().Infof("micropay: scheduled close of epoch %d for %s -> %s is stale", epoch, payer, provider)
	}
	pay(ctx, payer, deposit-fee)
	burnUpTo(ctx, ScheduledCloseGas)
}

// unfundedClose handles a scheduled close whose deposit no longer covers the
// fee of ScheduledCloseGas under the chain's current fee policy. It closes
// nothing: the warrant stays revoked past its deadline, and anyone may close
// it with closeWarrant, paying their own gas. This request still costs the
// fee of ScheduledCloseUnfundedGas; what the deposit does not cover of it is
// taken from the warrant being closed (its payer's funds, which no provider
// can claim after the deadline), never from another warrant. An error would
// roll that back and leave the fee to the pool, so the outcome is an event.
func unfundedClose(ctx isc.Sandbox, payer, provider isc.AgentID, w *warrant, due bool, deposit, needed uint64) {
	cost := feeFromGas(ctx, ScheduledCloseUnfundedGas)
	ev := &CloseUnfunded{Payer: payer, Provider: provider, Deposit: deposit, Needed: needed}
	switch {
	case deposit >= cost:
		pay(ctx, payer, deposit-cost)
	case due:
		ev.Epoch = w.Epoch
		ev.FromBalance = min(cost-deposit, w.Balance)
		w.Balance -= ev.FromBalance
		setLedger(ctx.State(), w)
		subTotals(ctx.State(), ev.FromBalance, false)
	}
	ctx.Log().Infof("micropay: scheduled close for %s -> %s: deposit %d does not cover the fee %d under the current fee policy; close it with closeWarrant",
		payer, provider, deposit, needed)
	emit(ctx, TopicCloseUnfunded, ev)
	burnUpTo(ctx, ScheduledCloseUnfundedGas)
}

// burnUpTo pads the gas this request has burned to exactly total, so that
// the fee the VM charges after the handler returns is feeFromGas(total).
func burnUpTo(ctx isc.Sandbox, total uint64) {
	if burned := ctx.Gas().Burned(); burned < total {
		ctx.Gas().Burn(gas.BurnCodeWasm1P, total-burned)
	}
}

// applySettlement settles batch on w (updated in place, not stored), emits
// its settled event and pays the provider; a broken payment rejects the
// request.
func applySettlement(ctx isc.Sandbox, payer, provider isc.AgentID, w *warrant, batch []payment.Payment) {
	out, err := settleWarrant(ctx, payer, provider, w, batch)
	if err != nil {
		panic(err)
	}
	var settled, skipped uint32
	for i := range out.Items {
		if out.Items[i].Skipped {
			skipped++
		} else {
			settled++
		}
	}
	emit(ctx, TopicSettled, &Settled{
		Payer: payer, Provider: provider, Epoch: w.Epoch, LastOrdinal: w.LastOrdinal,
		Paid: out.Paid, Shortfall: out.Shortfall, PaidInEpoch: w.Paid, Balance: w.Balance,
		Settled: settled, Skipped: skipped,
	})
	pay(ctx, provider, out.Paid)
	subTotals(ctx.State(), out.Paid, false)
}

// settleWarrant settles batch on w (updated in place, not stored); it emits
// nothing, moves no tokens and changes no totals. It returns the outcome, or
// the registered error of the first payment that breaks a rule (w is then
// unchanged).
func settleWarrant(ctx isc.Sandbox, payer, provider isc.AgentID, w *warrant, batch []payment.Payment) (payment.Settlement, *isc.VMError) {
	pk := getPublicKey(ctx.StateR(), payer)
	if pk == nil {
		return payment.Settlement{}, ErrNoPublicKey.Create(payer.String())
	}
	sig := payment.Signed{
		Warrant: payment.Warrant{
			ChainID:  ctx.ChainID(),
			Contract: uint32(ctx.Contract()),
			Payer:    payer.Bytes(),
			Provider: provider.Bytes(),
		},
		PublicKey: pk,
		Verify:    ctx.Utils().ED25519().ValidSignature,
	}
	ledger := payment.Ledger{Epoch: w.Epoch, LastOrdinal: w.LastOrdinal, Paid: w.Paid, Balance: w.Balance}
	out, err := payment.Settle(ledger, batch, sig)
	if err != nil {
		re := err.(*payment.RuleError) // Settle returns no other error
		return payment.Settlement{}, ruleErrors[re.Reason].Create(re.BatchArgs()...)
	}
	w.LastOrdinal, w.Paid, w.Balance = out.After.LastOrdinal, out.After.Paid, out.After.Balance
	return out, nil
}

// finishWarrant refunds the balance to the payer and ends the epoch.
func finishWarrant(ctx isc.Sandbox, payer, provider isc.AgentID, w *warrant, how uint8) {
	pay(ctx, payer, w.Balance)
	clearWarrant(ctx.State(), w)
	subTotals(ctx.State(), w.Balance, true)
	emit(ctx, TopicWarrantClosed, &WarrantClosed{
		Payer: payer, Provider: provider, Epoch: w.Epoch, PaidInEpoch: w.Paid, Refund: w.Balance, How: how,
	})
}

// pay moves amount base tokens from the contract's account to an L2 account.
func pay(ctx isc.Sandbox, to isc.AgentID, amount uint64) {
	if amount == 0 {
		return
	}
	ctx.Call(accounts.Contract.Hname(), accounts.FuncTransferAllowanceTo.Hname(),
		dict.Dict{accounts.ParamAgentID: codec.EncodeAgentID(to)},
		isc.NewAssetsBaseTokens(amount))
}

// scheduledCloseFee is what the scheduled close costs under the chain's
// current fee policy: the fee of ScheduledCloseGas.
func scheduledCloseFee(ctx isc.SandboxBase) uint64 {
	return feeFromGas(ctx, ScheduledCloseGas)
}

// revocable returns the warrant (payer, provider) with the deadline a revoke
// now would set; it panics with the reason when there is no warrant to
// revoke.
func revocable(ctx isc.SandboxBase, payer, provider isc.AgentID) *warrant {
	w := mustGetWarrant(ctx, payer, provider)
	if w == nil {
		panic(ErrNoWarrant.Create(payer.String(), provider.String()))
	}
	if w.revoked() {
		panic(ErrRevoked.Create(payer.String(), provider.String(), w.Deadline))
	}
	w.Deadline = chainTime(ctx) + w.CloseTimeout
	return w
}

// scheduledCloseRequest is the time-locked request revokeWarrant sends to close w
// at its deadline, carrying deposit base tokens.
func scheduledCloseRequest(ctx isc.SandboxBase, payer, provider isc.AgentID, w *warrant, deposit uint64) isc.RequestParameters {
	return isc.RequestParameters{
		TargetAddress: ctx.ChainID().AsAddress(),
		Assets:        isc.NewAssetsBaseTokens(deposit),
		Metadata: &isc.SendMetadata{
			TargetContract: ctx.Contract(),
			EntryPoint:     FuncCloseWarrant.Hname(),
			Params: dict.Dict{
				ParamPayer:    codec.EncodeAgentID(payer),
				ParamProvider: codec.EncodeAgentID(provider),
				ParamEpoch:    codec.EncodeUint32(w.Epoch),
			},
			GasBudget: ScheduledCloseGas,
		},
		Options: isc.SendOptions{Timelock: time.Unix(int64(w.Deadline), 0)},
	}
}

func feeFromGas(ctx isc.SandboxBase, g uint64) uint64 {
	return ctx.ChainInfo().GasFeePolicy.FeeFromGas(g, nil, parameters.L1().BaseToken.Decimals)
}

func chainTime(ctx isc.SandboxBase) uint64 {
	return uint64(ctx.Timestamp().Unix())
}

func emit(ctx isc.Sandbox, topic string, ev interface{ Bytes() []byte }) {
	ctx.Event(topic, ev.Bytes())
}

// registerKey stores pk as payer's key after checking that it hashes to the
// payer's address. Registering the same key again changes nothing.
func registerKey(ctx isc.Sandbox, payer isc.AgentID, addr *iotago.Ed25519Address, pk []byte) {
	derived, err := ctx.Utils().ED25519().AddressFromPublicKey(pk)
	if err != nil {
		panic(ErrBadParam.Create(ParamPublicKey, err.Error()))
	}
	if !derived.Equal(addr) {
		panic(ErrKeyMismatch.Create(iotago.EncodeHex(pk), derived.String(), addr.String()))
	}
	setPublicKey(ctx.State(), payer, pk)
}

// ed25519Caller returns the caller's Ed25519 address or rejects the call.
func ed25519Caller(ctx isc.Sandbox) *iotago.Ed25519Address {
	if a, ok := ctx.Caller().(*isc.AddressAgentID); ok {
		if addr, ok := a.Address().(*iotago.Ed25519Address); ok {
			return addr
		}
	}
	panic(ErrNotEd25519Caller.Create(ctx.Caller().String()))
}

// baseTokenAllowance returns the base tokens of the allowance, rejecting an
// empty one and one that carries anything else.
func baseTokenAllowance(ctx isc.Sandbox, entryPoint string) uint64 {
	a := ctx.AllowanceAvailable()
	if a == nil || a.BaseTokens == 0 {
		panic(ErrNoAllowance.Create(entryPoint))
	}
	if len(a.NativeTokens) > 0 || len(a.NFTs) > 0 {
		panic(ErrNotBaseTokens.Create(entryPoint))
	}
	return a.BaseTokens
}

func mustGetWarrant(ctx isc.SandboxBase, payer, provider isc.AgentID) *warrant {
	w, err := getWarrant(ctx.StateR(), payer, provider)
	if err != nil {
		panic(ErrCorruptState.Create(payer.String(), provider.String()))
	}
	return w
}

// payments decodes the batch in ParamPayments, charging PaymentDecodeGas
// for each payment it reads.
func payments(ctx isc.Sandbox) []payment.Payment {
	return decodeBatch(ctx.Params().Dict, func() { ctx.Gas().Burn(gas.BurnCodeReadFromState1P, PaymentDecodeGas) })
}

// decodeBatch decodes the batch in params[ParamPayments]; absent means
// empty. The claimed length sizes nothing: it is bounded by
// MaxPaymentsPerRequest and by the number of parameters the request carries,
// and each payment is charged (burn), read and decoded one at a time. It
// panics with a registered error on the first thing wrong.
func decodeBatch(params dict.Dict, burn func()) []payment.Payment {
	n := batchLength(params, ParamPayments, MaxPaymentsPerRequest)
	out := make([]payment.Payment, 0, min(n, 64))
	for i := uint32(0); i < n; i++ {
		burn()
		b := params.Get(collections.ArrayElemKey(ParamPayments, i))
		if b == nil {
			panic(ErrMissingPayment.Create(uint64(i)+1, n))
		}
		p, err := payment.Decode(b)
		if err != nil {
			panic(ErrMalformedPayment.Create(uint64(i)+1, err.Error()))
		}
		out = append(out, p)
	}
	return out
}

// batchLength reads the length of the array key and rejects one above
// limit or one the request cannot hold.
func batchLength(params dict.Dict, key string, limit int) uint32 {
	b := params.Get(kv.Key(key))
	if b == nil {
		return 0
	}
	rr := rwutil.NewBytesReader(b)
	n := rr.ReadSizeWithLimit(math.MaxUint32 >> 1)
	rr.Close()
	if rr.Err != nil {
		panic(ErrBadParam.Create(key, "length: "+rr.Err.Error()))
	}
	if n > limit {
		panic(ErrTooManyItems.Create(key, n, limit))
	}
	if n >= len(params) { // the length entry itself is one of the parameters
		panic(ErrBatchLength.Create(key, n, len(params)))
	}
	return uint32(n)
}

func requiredBytes(ctx isc.SandboxBase, key kv.Key) []byte {
	b := ctx.Params().Dict.Get(key)
	if b == nil {
		panic(ErrMissingParam.Create(string(key)))
	}
	return b
}

func requiredAgentID(ctx isc.SandboxBase, key kv.Key) isc.AgentID {
	a, err := codec.DecodeAgentID(requiredBytes(ctx, key))
	if err != nil {
		panic(ErrBadParam.Create(string(key), err.Error()))
	}
	return a
}

func requiredUint32(ctx isc.SandboxBase, key kv.Key) uint32 {
	v, err := codec.DecodeUint32(requiredBytes(ctx, key))
	if err != nil {
		panic(ErrBadParam.Create(string(key), err.Error()))
	}
	return v
}

func optionalUint32(ctx isc.SandboxBase, key kv.Key) (uint32, bool) {
	if ctx.Params().Dict.Get(key) == nil {
		return 0, false
	}
	return requiredUint32(ctx, key), true
}

func optionalUint64(ctx isc.SandboxBase, key kv.Key) (uint64, bool) {
	b := ctx.Params().Dict.Get(key)
	if b == nil {
		return 0, false
	}
	v, err := codec.DecodeUint64(b)
	if err != nil {
		panic(ErrBadParam.Create(string(key), err.Error()))
	}
	return v, true
}

func optUint64(ctx isc.SandboxBase, key kv.Key, def uint64) uint64 {
	if v, ok := optionalUint64(ctx, key); ok {
		return v
	}
	return def
}
