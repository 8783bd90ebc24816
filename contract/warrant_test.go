package contract_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/micropay/micropay/contract"
)

func TestInitParams(t *testing.T) {
	e := newEnv(t,
		contract.InitDefaultCloseTimeout, uint64(600),
		contract.InitMinCloseTimeout, uint64(120),
		contract.InitMaxCloseTimeout, uint64(3600),
		contract.InitMinWarrant, uint64(5_000))
	payer, provider := e.newUser(), e.newUser()
	e.registerKey(payer)
	_, err := e.addWarrant(payer, provider, 4_999)
	require.ErrorContains(t, err, "a new warrant needs at least 5000 base tokens, got 4999")
	_, err = e.addWarrant(payer, provider, 5_000)
	require.NoError(t, err)
	require.EqualValues(t, 600, e.info(payer, provider).CloseTimeout)

	p2 := e.newUser()
	e.registerKey(p2)
	_, err = e.addWarrant(p2, provider, 5_000, dict.Dict{contract.ParamCloseTimeout: codec.EncodeUint64(3601)})
	require.ErrorContains(t, err, "close timeout 3601 s is outside the allowed 120..3600 s")
}

func TestInitRejectsBadBounds(t *testing.T) {
	s := newEnv(t).solo
	ch := s.NewChain()
	err := ch.DeployContract(nil, contract.Contract.Name, contract.Contract.ProgramHash,
		contract.InitDefaultCloseTimeout, uint64(10), contract.InitMinCloseTimeout, uint64(60))
	require.ErrorContains(t, err, "close timeout 10 s is outside the allowed 60..")
}

func TestPublicKeyRegistration(t *testing.T) {
	e := newEnv(t)
	payer, other := e.newUser(), e.newUser()
	before := e.snapshot(payer)
	fee, err := e.call(payer, contract.FuncPublicKey.Name, 0, dict.Dict{contract.ParamPublicKey: other.key.GetPublicKey().AsBytes()})
	rejected(t, e, err, "hashes to address", fee, payer, before, payer)

	fee, err = e.call(payer, contract.FuncPublicKey.Name, 0, dict.Dict{contract.ParamPublicKey: []byte{1, 2, 3}})
	require.ErrorContains(t, err, `parameter "pk"`)
	_, err = e.call(payer, contract.FuncPublicKey.Name, 0, nil)
	require.ErrorContains(t, err, `parameter "pk" is required`)
	_ = fee

	ret, err := e.ch.CallView(contract.Contract.Name, contract.ViewGetPublicKey.Name, contract.ParamPayer, payer.agent)
	require.NoError(t, err)
	require.Nil(t, ret[contract.ParamPublicKey], "nothing registered yet")

	// Registering with addWarrant's optional pk works the same way.
	provider := e.newUser()
	_, err = e.addWarrant(payer, provider, 1_000_000, dict.Dict{contract.ParamPublicKey: payer.key.GetPublicKey().AsBytes()})
	require.NoError(t, err)
	_, err = e.settle(provider, payer, e.pay(payer, provider, 1, 1, 5))
	require.NoError(t, err)
	ret, err = e.ch.CallView(contract.Contract.Name, contract.ViewGetPublicKey.Name, contract.ParamPayer, payer.agent)
	require.NoError(t, err)
	require.Equal(t, payer.key.GetPublicKey().AsBytes(), ret[contract.ParamPublicKey])
	e.checkLedgers()
}

func TestAddWarrantRejections(t *testing.T) {
	e, payer, provider := funded(t, 2_000_000)
	fresh, keyless := e.newUser(), e.newUser()
	e.registerKey(fresh)

	cases := []struct {
		name   string
		caller user
		amount uint64
		params dict.Dict
		want   string
	}{
		{"below minimum", fresh, 999_999, nil, "a new warrant needs at least 1000000 base tokens, got 999999"},
		{"no allowance", fresh, 0, nil, "addWarrant needs base tokens in the allowance"},
		{"ct below bounds", fresh, 1_000_000, dict.Dict{contract.ParamCloseTimeout: codec.EncodeUint64(59)}, "close timeout 59 s is outside the allowed 60..2592000 s"},
		{"ct above bounds", fresh, 1_000_000, dict.Dict{contract.ParamCloseTimeout: codec.EncodeUint64(2_592_001)}, "close timeout 2592001 s is outside"},
		{"ct malformed", fresh, 1_000_000, dict.Dict{contract.ParamCloseTimeout: []byte{1}}, `parameter "ct"`},
		{"ct changed on top-up", payer, 1_000, dict.Dict{contract.ParamCloseTimeout: codec.EncodeUint64(120)}, "close timeout is fixed at 3600 s; cannot change it to 120 s"},
		{"self warrant", fresh, 1_000_000, dict.Dict{contract.ParamProvider: codec.EncodeAgentID(fresh.agent)}, "payer and provider are the same agent"},
		{"key of someone else", fresh, 1_000_000, dict.Dict{contract.ParamPublicKey: payer.key.GetPublicKey().AsBytes()}, "hashes to address"},
		{"no key registered or sent", keyless, 1_000_000, nil, `has no registered public key, so no payment could ever be settled from this warrant: send the key with this call (parameter "pk") or register it first with publicKey`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(c.caller, provider)
			fee, err := e.addWarrant(c.caller, provider, c.amount, c.params)
			rejected(t, e, err, c.want, fee, c.caller, before, c.caller, provider)
		})
	}
	t.Run("missing provider", func(t *testing.T) {
		_, err := e.call(fresh, contract.FuncAddWarrant.Name, 1_000_000, nil)
		require.ErrorContains(t, err, `parameter "sa" is required`)
	})
	t.Run("top-up of any size is fine", func(t *testing.T) {
		_, err := e.addWarrant(payer, provider, 1)
		require.NoError(t, err)
		require.EqualValues(t, 2_000_001, e.info(payer, provider).Balance)
	})
	t.Run("top-up while revoked", func(t *testing.T) {
		_, err := e.revoke(payer, provider, 1_000_000)
		require.NoError(t, err)
		before := e.snapshot(payer, provider)
		fee, err := e.addWarrant(payer, provider, 1_000_000)
		rejected(t, e, err, "is revoked (deadline", fee, payer, before, payer, provider)
	})
	e.checkLedgers()
}

func TestRevokeRejections(t *testing.T) {
	e, payer, provider := funded(t, 2_000_000)
	stranger := e.newUser()

	before := e.snapshot(payer, provider, stranger)
	fee, err := e.revoke(stranger, provider, 1_000_000)
	rejected(t, e, err, "there is no warrant from", fee, stranger, before, payer, provider, stranger)
	require.False(t, e.info(payer, provider).Revoked, "revoke by anyone but the payer")

	// the provider cannot revoke the payer's warrant either
	fee, err = e.call(provider, contract.FuncRevokeWarrant.Name, 1_000_000, dict.Dict{contract.ParamProvider: codec.EncodeAgentID(payer.agent)})
	require.ErrorContains(t, err, "there is no warrant from")
	_ = fee
	require.False(t, e.info(payer, provider).Revoked)

	before = e.snapshot(payer, provider)
	fee, err = e.revoke(payer, provider, 100)
	rejected(t, e, err, "revoke needs an allowance of at least", fee, payer, before, payer, provider)
	t.Log(err)
	require.False(t, e.info(payer, provider).Revoked)

	fee, err = e.revoke(payer, provider, 0)
	require.ErrorContains(t, err, "revoke needs an allowance of at least")
	_ = fee

	_, err = e.revoke(payer, provider, 1_000_000)
	require.NoError(t, err)
	before = e.snapshot(payer, provider)
	fee, err = e.revoke(payer, provider, 1_000_000)
	rejected(t, e, err, "is revoked (deadline", fee, payer, before, payer, provider)
	e.checkLedgers()
}

func TestCloseRules(t *testing.T) {
	e, payer, provider := funded(t, 3_000_000)
	stranger := e.newUser()

	for _, who := range []user{stranger, payer} {
		before := e.snapshot(payer, provider, stranger)
		fee, err := e.closeBy(who, payer, provider)
		rejected(t, e, err, "may not close the warrant", fee, who, before, payer, provider, stranger)
	}
	_, err := e.call(provider, contract.FuncCloseWarrant.Name, 0, dict.Dict{
		contract.ParamPayer: codec.EncodeAgentID(payer.agent), contract.ParamProvider: codec.EncodeAgentID(provider.agent),
		contract.ParamEpoch: codec.EncodeUint32(7),
	})
	require.ErrorContains(t, err, "close names epoch 7 but the warrant is at epoch 1")

	_, err = e.settle(provider, payer, e.pay(payer, provider, 1, 1, 1_000_000))
	require.NoError(t, err)
	_, err = e.revoke(payer, provider, 1_000_000)
	require.NoError(t, err)
	deadline := e.info(payer, provider).Deadline

	// Before the deadline, the stranger still may not close.
	_, err = e.closeBy(stranger, payer, provider)
	require.ErrorContains(t, err, "may not close the warrant")

	// Past the deadline, settle is closed; the payer closes by hand (as if the
	// scheduled close were lost) — here the scheduled one runs first, so the
	// payer's close finds nothing.
	e.advancePast(deadline)
	require.True(t, e.ch.WaitForRequestsThrough(1))
	_, err = e.settle(provider, payer, e.pay(payer, provider, 1, 2, 1_500_000))
	require.ErrorContains(t, err, "there is no warrant")
	_, err = e.closeBy(payer, payer, provider)
	require.ErrorContains(t, err, "there is no warrant")
	e.checkLedgers()
}

// TestLostScheduledClose makes the scheduled close fail (the chain's gas
// limit is lowered below what it needs while it runs), so the warrant stays
// revoked past its deadline: settle is refused and anyone may close.
func TestLostScheduledClose(t *testing.T) {
	e, payer, provider := funded(t, 3_000_000)
	stranger := e.newUser()
	_, err := e.settle(provider, payer, e.pay(payer, provider, 1, 1, 1_000_000))
	require.NoError(t, err)
	_, err = e.revoke(payer, provider, 1_000_000)
	require.NoError(t, err)
	deadline := e.info(payer, provider).Deadline

	owner := e.ch.OriginatorPrivateKey
	limits := *e.ch.GetGasLimits()
	tight := limits
	tight.MaxGasPerRequest = tight.MinGasPerRequest + 1_000
	e.ch.SetGasLimits(owner, &tight)
	e.advancePast(deadline)
	require.True(t, e.ch.WaitForRequestsThrough(1))
	rec := e.ch.GetRequestReceiptsForBlock()[0]
	require.NotNil(t, rec.Error, "the scheduled close must fail in this test")
	e.ch.SetGasLimits(owner, &limits)
	in := e.info(payer, provider)
	require.True(t, in.HasWarrant)
	require.True(t, in.Revoked)

	before := e.snapshot(payer, provider)
	fee, err := e.settle(provider, payer, e.pay(payer, provider, 1, 2, 1_500_000))
	rejected(t, e, err, "settlement closed: chain time", fee, provider, before, payer, provider)
	before = e.snapshot(payer, provider)
	fee, err = e.closeBy(provider, payer, provider, e.pay(payer, provider, 1, 2, 1_500_000))
	rejected(t, e, err, "settlement closed: chain time", fee, provider, before, payer, provider)

	pb := e.l2(payer.agent)
	_, err = e.closeBy(stranger, payer, provider)
	require.NoError(t, err, "anyone may close once the deadline has passed")
	require.Equal(t, pb+2_000_000, e.l2(payer.agent))
	closed, err := contract.DecodeWarrantClosed(e.lastEvent(contract.TopicWarrantClosed))
	require.NoError(t, err)
	require.Equal(t, contract.ClosedAtDeadline, closed.How)
	require.Equal(t, info{Epoch: 2}, e.info(payer, provider))
	e.checkLedgers()
}
