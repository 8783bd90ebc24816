package contract_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/chain"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/kv/subrealm"
	"github.com/iotaledger/wasp/packages/solo"
	"github.com/iotaledger/wasp/packages/testutil/testlogger"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// env is a Solo chain with micropay deployed, and the helpers the tests share.
type env struct {
	t     testing.TB
	solo  *solo.Solo
	ch    *solo.Chain
	agent isc.AgentID // the contract's own L2 account
}

// user is an L1 key with L2 funds on the chain.
type user struct {
	key   *cryptolib.KeyPair
	agent isc.AgentID
}

const userFunds = 100_000_000

func newEnv(t testing.TB, initParams ...interface{}) *env {
	opts := &solo.InitOptions{AutoAdjustStorageDeposit: true}
	if _, bench := t.(*testing.B); bench {
		opts.Log = testlogger.NewSilentLogger(t.Name(), false)
	}
	s := solo.New(t, opts).WithNativeContract(contract.Processor)
	ch := s.NewChain()
	require.NoError(t, ch.DeployContract(nil, contract.Contract.Name, contract.Contract.ProgramHash, initParams...))
	return &env{t: t, solo: s, ch: ch, agent: isc.NewContractAgentID(ch.ChainID, contract.Contract.Hname())}
}

// newUser returns a fresh key whose L2 account holds userFunds.
func (e *env) newUser() user {
	key, addr := e.solo.NewKeyPairWithFunds()
	u := user{key: key, agent: isc.NewAgentID(addr)}
	e.ch.MustDepositBaseTokensToL2(userFunds, key)
	return u
}

func (e *env) l2(a isc.AgentID) uint64 { return e.ch.L2BaseTokens(a) }

// call posts an off-ledger request from u and returns the gas fee it paid.
func (e *env) call(u user, fn string, allowance uint64, params dict.Dict) (fee uint64, err error) {
	req := solo.CallParamsFromDict(contract.Contract.Name, fn, params).WithMaxAffordableGasBudget()
	if allowance > 0 {
		req.AddAllowanceBaseTokens(allowance)
	}
	_, err = e.ch.PostRequestOffLedger(req, u.key)
	return e.ch.LastReceipt().GasFeeCharged, err
}

func (e *env) registerKey(u user) uint64 {
	fee, err := e.call(u, contract.FuncPublicKey.Name, 0, dict.Dict{contract.ParamPublicKey: u.key.GetPublicKey().AsBytes()})
	require.NoError(e.t, err)
	return fee
}

func (e *env) addWarrant(payer, provider user, amount uint64, extra ...dict.Dict) (uint64, error) {
	params := dict.Dict{contract.ParamProvider: codec.EncodeAgentID(provider.agent)}
	for _, d := range extra {
		for k, v := range d {
			params[k] = v
		}
	}
	return e.call(payer, contract.FuncAddWarrant.Name, amount, params)
}

func (e *env) revoke(payer, provider user, deposit uint64) (uint64, error) {
	return e.call(payer, contract.FuncRevokeWarrant.Name, deposit,
		dict.Dict{contract.ParamProvider: codec.EncodeAgentID(provider.agent)})
}

func batchParams(ps []payment.Payment) dict.Dict {
	d := dict.Dict{}
	arr := collections.NewArray(d, contract.ParamPayments)
	for _, p := range ps {
		arr.Push(p.Bytes())
	}
	return d
}

func (e *env) settle(provider, payer user, ps ...payment.Payment) (uint64, error) {
	d := batchParams(ps)
	d[contract.ParamPayer] = codec.EncodeAgentID(payer.agent)
	return e.call(provider, contract.FuncSettle.Name, 0, d)
}

func (e *env) closeBy(caller, payer, provider user, ps ...payment.Payment) (uint64, error) {
	d := batchParams(ps)
	d[contract.ParamPayer] = codec.EncodeAgentID(payer.agent)
	d[contract.ParamProvider] = codec.EncodeAgentID(provider.agent)
	return e.call(caller, contract.FuncCloseWarrant.Name, 0, d)
}

// warrantFor is what payer signs for provider on this chain.
func (e *env) warrantFor(payer, provider user) payment.Warrant {
	return payment.Warrant{
		ChainID:  e.ch.ChainID,
		Contract: uint32(contract.Contract.Hname()),
		Payer:    payer.agent.Bytes(),
		Provider: provider.agent.Bytes(),
	}
}

func (e *env) pay(payer, provider user, epoch uint32, ordinal, total uint64) payment.Payment {
	return payment.Sign(payer.key.GetPrivateKey().AsStdKey(), e.warrantFor(payer, provider), epoch, ordinal, total)
}

// info is getWarrantInfo decoded; Has* say whether optional results were present.
type info struct {
	Balance, Deadline, LastOrdinal, Paid, CloseTimeout uint64
	Epoch                                              uint32
	HasWarrant, Revoked                                bool
}

func (e *env) info(payer, provider user) info {
	ret, err := e.ch.CallView(contract.Contract.Name, contract.ViewGetWarrantInfo.Name,
		contract.ParamPayer, payer.agent, contract.ParamProvider, provider.agent)
	require.NoError(e.t, err)
	var in info
	in.Epoch = codec.MustDecodeUint32(ret[contract.ResultEpoch])
	if b := ret[contract.ResultBalance]; b != nil {
		in.HasWarrant = true
		in.Balance = codec.MustDecodeUint64(b)
		in.LastOrdinal = codec.MustDecodeUint64(ret[contract.ResultLastOrdinal])
		in.Paid = codec.MustDecodeUint64(ret[contract.ResultPaid])
		in.CloseTimeout = codec.MustDecodeUint64(ret[contract.ResultCloseTimeout])
	}
	if b := ret[contract.ResultDeadline]; b != nil {
		in.Revoked = true
		in.Deadline = codec.MustDecodeUint64(b)
	}
	return in
}

// balances snapshots the L2 accounts of the given users and of the contract.
type balances struct {
	users    []uint64
	contract uint64
}

func (e *env) snapshot(us ...user) balances {
	b := balances{contract: e.l2(e.agent)}
	for _, u := range us {
		b.users = append(b.users, e.l2(u.agent))
	}
	return b
}

// events returns the decoded events of the contract emitted by the last block.
func (e *env) lastEvents() []*isc.Event {
	evs, err := e.ch.GetEventsForBlock(e.ch.LatestBlockIndex())
	require.NoError(e.t, err)
	return evs
}

func (e *env) lastEvent(topic string) []byte {
	for _, ev := range e.lastEvents() {
		if ev.Topic == topic {
			return ev.Payload
		}
	}
	e.t.Fatalf("no %s event in the last block", topic)
	return nil
}

// advancePast moves the logical clock past the deadline and waits for the
// scheduled close, if any, to run.
func (e *env) advancePast(deadline uint64) {
	now := uint64(e.solo.GlobalTime().Unix())
	e.ch.WaitForRequestsMark()
	e.solo.AdvanceClockBy(time.Duration(deadline-now+1) * time.Second)
}

// checkLedgers runs Solo's account ledger check and requireSolvent: every
// test that moves funds ends with it.
func (e *env) checkLedgers() {
	e.t.Helper()
	e.ch.CheckAccountLedger()
	e.requireSolvent()
}

// requireSolvent checks the contract's invariant: its L2 account holds at
// least the sum of all warrant balances. The sum is taken twice, from the
// getTotals view and by scanning every warrant record in the contract's
// state, and the two must agree.
func (e *env) requireSolvent() {
	e.t.Helper()
	tb, nw := e.totals()
	st, err := e.ch.LatestState(chain.ActiveOrCommittedState)
	require.NoError(e.t, err)
	var sum, count uint64
	subrealm.NewReadOnly(st, kv.Key(contract.Contract.Hname().Bytes())).IterateSorted("w", func(_ kv.Key, v []byte) bool {
		balance, _, _, err := contract.DecodeLedger(v)
		require.NoError(e.t, err)
		sum += balance
		count++
		return true
	})
	require.Equal(e.t, sum, tb, "getTotals balance vs the warrant records")
	require.Equal(e.t, count, nw, "getTotals warrants vs the warrant records")
	require.GreaterOrEqual(e.t, e.l2(e.agent), tb, "the contract holds less than its warrants")
}

// totals is the getTotals view: sum of warrant balances, open warrants.
func (e *env) totals() (balance, warrants uint64) {
	ret, err := e.ch.CallView(contract.Contract.Name, contract.ViewGetTotals.Name)
	require.NoError(e.t, err)
	return codec.MustDecodeUint64(ret[contract.ResultTotalBalance]), codec.MustDecodeUint64(ret[contract.ResultWarrants])
}
