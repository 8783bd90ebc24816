package contract_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/micropay/micropay/contract"
)

// revokeDeposit calls getRevokeDeposit and decodes its three results.
func (e *env) revokeDeposit(payer, provider user) (need, storage, fee uint64, err error) {
	ret, err := e.ch.CallView(contract.Contract.Name, contract.ViewGetRevokeDeposit.Name,
		contract.ParamPayer, payer.agent, contract.ParamProvider, provider.agent)
	if err != nil {
		return 0, 0, 0, err
	}
	return codec.MustDecodeUint64(ret[contract.ResultRevokeDeposit]),
		codec.MustDecodeUint64(ret[contract.ResultStorageDeposit]),
		codec.MustDecodeUint64(ret[contract.ResultCloseFee]), nil
}

// TestGetRevokeDepositIsWhatRevokeNeeds checks that the view answers the
// very figures revokeWarrant demands: one token less is refused with those
// figures, the answer itself is accepted.
func TestGetRevokeDepositIsWhatRevokeNeeds(t *testing.T) {
	e, payer, provider := funded(t, 2_000_000)
	need, storage, fee, err := e.revokeDeposit(payer, provider)
	require.NoError(t, err)
	t.Logf("revoke deposit %d (storage deposit %d, fee reserve %d)", need, storage, fee)
	require.Equal(t, max(storage, fee), need)
	require.NotZero(t, storage)

	before := e.snapshot(payer, provider)
	gas, err := e.revoke(payer, provider, need-1)
	rejected(t, e, err, fmt.Sprintf("at least %d base tokens for the scheduled close (storage deposit %d, fee reserve %d), got %d",
		need, storage, fee, need-1), gas, payer, before, payer, provider)

	_, err = e.revoke(payer, provider, need)
	require.NoError(t, err)
	require.True(t, e.info(payer, provider).Revoked)
	e.checkLedgers()
}

// TestGetRevokeDepositRefusesWhatRevokeRefuses checks that the view fails,
// naming the reason, where revokeWarrant would.
func TestGetRevokeDepositRefusesWhatRevokeRefuses(t *testing.T) {
	e, payer, provider := funded(t, 2_000_000)
	stranger := e.newUser()
	_, _, _, err := e.revokeDeposit(stranger, provider)
	require.ErrorContains(t, err, "there is no warrant from")

	need, _, _, err := e.revokeDeposit(payer, provider)
	require.NoError(t, err)
	_, err = e.revoke(payer, provider, need)
	require.NoError(t, err)
	_, _, _, err = e.revokeDeposit(payer, provider)
	require.ErrorContains(t, err, "is revoked (deadline")

	_, err = e.ch.CallView(contract.Contract.Name, contract.ViewGetRevokeDeposit.Name, contract.ParamProvider, provider.agent)
	require.Error(t, err, "no payer")
}
