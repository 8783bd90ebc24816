package contract_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/util/rwutil"
	"github.com/micropay/micropay/contract"
)

// getWarrants calls the view getWarrants for provider's warrants from payers.
func (e *env) getWarrants(provider user, payers ...isc.AgentID) ([]contract.WarrantState, error) {
	params := dict.Dict{contract.ParamProvider: codec.EncodeAgentID(provider.agent)}
	arr := collections.NewArray(params, contract.ParamPayers)
	for _, p := range payers {
		arr.Push(codec.EncodeAgentID(p))
	}
	ret, err := e.ch.CallView(contract.Contract.Name, contract.ViewGetWarrants.Name, params)
	if err != nil {
		return nil, err
	}
	return contract.DecodeWarrantList(ret[contract.ResultWarrantList], len(payers))
}

// asInfo is what getWarrantInfo reports, in the test's own form.
func asInfo(w contract.WarrantState) info {
	return info{
		Balance: w.Balance, Deadline: w.Deadline, LastOrdinal: w.LastOrdinal, Paid: w.Paid, CloseTimeout: w.CloseTimeout,
		Epoch: w.Epoch, HasWarrant: w.Exists, Revoked: w.Deadline != 0,
	}
}

// TestGetWarrantsIsGetWarrantInfoForMany: one call reports, in the order
// asked, what getWarrantInfo reports for each warrant: an open one, a
// settled and revoked one, a closed one (no warrant, the next epoch), one
// never opened, and the same payer twice.
func TestGetWarrantsIsGetWarrantInfoForMany(t *testing.T) {
	e, open, provider := funded(t, 2_000_000)
	revoked, closed, never := e.newUser(), e.newUser(), e.newUser()
	for _, u := range []user{revoked, closed} {
		e.registerKey(u)
		_, err := e.addWarrant(u, provider, 3_000_000)
		require.NoError(t, err)
	}
	_, err := e.settle(provider, revoked, e.pay(revoked, provider, 1, 4, 1_000_000))
	require.NoError(t, err)
	_, err = e.revoke(revoked, provider, 1_000_000)
	require.NoError(t, err)
	_, err = e.closeBy(provider, closed, provider, e.pay(closed, provider, 1, 1, 500_000))
	require.NoError(t, err)

	asked := []user{open, revoked, closed, never, open}
	payers := make([]isc.AgentID, len(asked))
	for i, u := range asked {
		payers[i] = u.agent
	}
	got, err := e.getWarrants(provider, payers...)
	require.NoError(t, err)
	require.Len(t, got, len(asked))
	for i, u := range asked {
		require.Equal(t, e.info(u, provider), asInfo(got[i]), "warrant %d", i)
	}
	require.True(t, got[1].Deadline != 0 && got[1].Paid == 1_000_000 && got[1].LastOrdinal == 4)
	require.Equal(t, contract.WarrantState{Epoch: 2}, got[2], "closed: the next epoch, no warrant")
	require.Equal(t, contract.WarrantState{Epoch: 1}, got[3])

	none, err := e.getWarrants(provider)
	require.NoError(t, err)
	require.Empty(t, none, "no payers, no warrants")
}

// TestGetWarrantsRefusesWhatItMust: more payers than MaxWarrantsPerView (a
// claimed count, nothing allocated), a count the call cannot hold, a payer
// that does not decode, and no provider are refused with what and why.
func TestGetWarrantsRefusesWhatItMust(t *testing.T) {
	e, payer, provider := funded(t, 2_000_000)
	call := func(params dict.Dict) error {
		_, err := e.ch.CallView(contract.Contract.Name, contract.ViewGetWarrants.Name, params)
		return err
	}
	withCount := func(n uint32) dict.Dict {
		return dict.Dict{
			contract.ParamProvider: codec.EncodeAgentID(provider.agent),
			contract.ParamPayers:   rwutil.NewBytesWriter().WriteSize32(int(n)).Bytes(), // collections.Array's length
		}
	}
	require.ErrorContains(t, call(withCount(contract.MaxWarrantsPerView+1)), `parameter "pl" claims 1001 items; a request carries at most 1000`)
	require.ErrorContains(t, call(withCount(5)), `parameter "pl" claims 5 items but the request carries only 2 parameters`)

	params := dict.Dict{contract.ParamProvider: codec.EncodeAgentID(provider.agent)}
	arr := collections.NewArray(params, contract.ParamPayers)
	arr.Push(codec.EncodeAgentID(payer.agent))
	arr.Push([]byte{0xff, 1, 2})
	require.ErrorContains(t, call(params), `payer 2 of parameter "pl"`)

	delete(params, contract.ParamProvider)
	require.ErrorContains(t, call(params), `parameter "sa" is required`)
}
