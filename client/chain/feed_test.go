package chain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

type payloader interface{ Bytes() []byte }

func event(topic string, e payloader) *isc.Event {
	return &isc.Event{ContractID: contract.Contract.Hname(), Topic: topic, Payload: e.Bytes()}
}

func TestChangesOfDeriveWarrantState(t *testing.T) {
	payer, me, other := isc.NewRandomAgentID(), isc.NewRandomAgentID(), isc.NewRandomAgentID()
	b := chain.Block{Index: 9, Events: []*isc.Event{
		event(contract.TopicWarrantAdded, &contract.WarrantAdded{Payer: payer, Provider: me, Epoch: 2, Added: 500, Balance: 500, CloseTimeout: 900, New: true}),
		event(contract.TopicWarrantAdded, &contract.WarrantAdded{Payer: payer, Provider: other, Epoch: 1, Added: 1, Balance: 1, New: true}),
		{ContractID: isc.Hn("accounts"), Topic: "coreaccounts.deposit", Payload: []byte{1}},
		event(contract.TopicWarrantAdded, &contract.WarrantAdded{Payer: payer, Provider: me, Epoch: 2, Added: 100, Balance: 600}),
		event(contract.TopicSettled, &contract.Settled{Payer: payer, Provider: me, Epoch: 2, LastOrdinal: 4, Paid: 40, PaidInEpoch: 40, Balance: 560, Settled: 1}),
		event(contract.TopicWarrantRevoked, &contract.WarrantRevoked{Payer: payer, Provider: me, Epoch: 2, Deadline: 1_800_000_000, Balance: 560}),
	}}
	changes, err := chain.ChangesOf(b, me)
	require.NoError(t, err)
	require.Len(t, changes, 4, "other providers' warrants and other contracts are skipped")
	state := chain.WarrantInfo{Epoch: 2}
	for _, c := range changes {
		require.Equal(t, uint32(9), c.Block)
		require.True(t, c.Payer.Equals(payer))
		var ok bool
		state, ok = c.Apply(state)
		require.True(t, ok, c.Topic)
	}
	require.True(t, changes[0].Opened())
	require.False(t, changes[2].Opened())
	require.Equal(t, chain.WarrantInfo{Exists: true, Epoch: 2, Balance: 560, LastOrdinal: 4, Paid: 40, Deadline: 1_800_000_000, CloseTimeout: 900}, state)

	closed, err := chain.ChangesOf(chain.Block{Events: []*isc.Event{
		event(contract.TopicWarrantClosed, &contract.WarrantClosed{Payer: payer, Provider: me, Epoch: 2, PaidInEpoch: 40, Refund: 520, How: contract.ClosedByScheduler}),
	}}, me)
	require.NoError(t, err)
	state, ok := closed[0].Apply(state)
	require.True(t, ok)
	require.Equal(t, chain.WarrantInfo{Epoch: 3}, state, "a close ends the epoch")
	again, ok := closed[0].Apply(chain.WarrantInfo{Exists: true, Epoch: 3, Balance: 7})
	require.True(t, ok)
	require.Equal(t, chain.WarrantInfo{Exists: true, Epoch: 3, Balance: 7}, again, "a close older than the state read is no news")
}

func TestChangesOfASettleMany(t *testing.T) {
	a, b, me := isc.NewRandomAgentID(), isc.NewRandomAgentID(), isc.NewRandomAgentID()
	changes, err := chain.ChangesOf(chain.Block{Index: 4, Events: []*isc.Event{
		event(contract.TopicSettledMany, &contract.SettledMany{Provider: me, Items: []contract.SettledItem{
			{Payer: a, Epoch: 1, LastOrdinal: 3, Paid: 30, PaidInEpoch: 30, Balance: 70},
			{Payer: b, Epoch: 2, Skipped: true, LastOrdinal: 9, PaidInEpoch: 90, Balance: 10},
		}}),
		event(contract.TopicSettleRefused, &contract.SettleRefused{Payer: a, Provider: me, Item: 3, Reason: "bad signature"}),
		event(contract.TopicSettledMany, &contract.SettledMany{Provider: isc.NewRandomAgentID(), Items: []contract.SettledItem{{Payer: a, Epoch: 1}}}),
	}}, me)
	require.NoError(t, err)
	require.Len(t, changes, 2, "one change per warrant settled; a refusal changes nothing; another provider's batch is skipped")
	got, ok := changes[0].Apply(chain.WarrantInfo{Exists: true, Epoch: 1, Balance: 100, CloseTimeout: 900})
	require.True(t, ok)
	require.True(t, changes[0].Payer.Equals(a))
	require.Equal(t, chain.WarrantInfo{Exists: true, Epoch: 1, Balance: 70, LastOrdinal: 3, Paid: 30, CloseTimeout: 900}, got)
	got, ok = changes[1].Apply(chain.WarrantInfo{Exists: true, Epoch: 2, Balance: 10, LastOrdinal: 9, Paid: 90})
	require.True(t, ok)
	require.Equal(t, chain.WarrantInfo{Exists: true, Epoch: 2, Balance: 10, LastOrdinal: 9, Paid: 90}, got)
}

func TestReceiptPaid(t *testing.T) {
	payer, me := isc.NewRandomAgentID(), isc.NewRandomAgentID()
	r := &chain.Receipt{Events: []*isc.Event{
		event(contract.TopicSettled, &contract.Settled{Payer: payer, Provider: me, Epoch: 1, Paid: 40}),
		event(contract.TopicWarrantClosed, &contract.WarrantClosed{Payer: payer, Provider: me, Epoch: 1, Refund: 999}),
		event(contract.TopicSettledMany, &contract.SettledMany{Provider: me, Items: []contract.SettledItem{{Payer: payer, Epoch: 1, Paid: 2}, {Payer: me, Epoch: 1, Paid: 3}}}),
		{Topic: contract.TopicSettled, Payload: []byte{1}},
	}}
	require.EqualValues(t, 45, r.Paid())
}

func TestChangesOfNeedARead(t *testing.T) {
	payer, me := isc.NewRandomAgentID(), isc.NewRandomAgentID()
	changes, err := chain.ChangesOf(chain.Block{Events: []*isc.Event{
		event(contract.TopicSettled, &contract.Settled{Payer: payer, Provider: me, Epoch: 3, LastOrdinal: 1}),
		event(contract.TopicCloseUnfunded, &contract.CloseUnfunded{Payer: payer, Provider: me, Epoch: 3, Deposit: 1, Needed: 2, FromBalance: 1}),
	}}, me)
	require.NoError(t, err)
	_, ok := changes[0].Apply(chain.WarrantInfo{Exists: true, Epoch: 2})
	require.False(t, ok, "a settlement of another epoch than the one known cannot be carried forward")
	_, ok = changes[1].Apply(chain.WarrantInfo{Exists: true, Epoch: 3})
	require.False(t, ok, "an unfunded close says not what balance is left")
}

func TestChangesOfRefuseWhatTheyCannotRead(t *testing.T) {
	me := isc.NewRandomAgentID()
	bad := &isc.Event{ContractID: contract.Contract.Hname(), Topic: contract.TopicSettled, Payload: []byte{0xff, 1}}
	_, err := chain.ChangesOf(chain.Block{Index: 3, Events: []*isc.Event{bad}}, me)
	require.ErrorContains(t, err, "block 3 event 0")
	unknown := &isc.Event{ContractID: contract.Contract.Hname(), Topic: "micropay.somethingNew", Payload: []byte{}}
	_, err = chain.ChangesOf(chain.Block{Events: []*isc.Event{nil, unknown}}, me)
	require.ErrorIs(t, err, chain.ErrUnknownEvent, "a micropay event this client does not know may change any warrant")
}

// FuzzChangesOf feeds ChangesOf micropay events with any payload, as a
// hostile node may send them: it must not panic, and a change it returns
// is about the provider asked for (or a payer within a batch for it).
func FuzzChangesOf(f *testing.F) {
	me := isc.NewRandomAgentID()
	topics := []string{contract.TopicWarrantAdded, contract.TopicWarrantRevoked, contract.TopicSettled,
		contract.TopicWarrantClosed, contract.TopicCloseUnfunded, contract.TopicSettledMany, contract.TopicSettleRefused}
	f.Add(uint8(0), (&contract.WarrantAdded{Payer: isc.NewRandomAgentID(), Provider: me, Epoch: 1, New: true}).Bytes())
	f.Add(uint8(5), (&contract.SettledMany{Provider: me, Items: []contract.SettledItem{{Payer: isc.NewRandomAgentID(), Epoch: 1}}}).Bytes())
	f.Add(uint8(5), []byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, topic uint8, payload []byte) {
		ev := &isc.Event{ContractID: contract.Contract.Hname(), Topic: topics[int(topic)%len(topics)], Payload: payload}
		changes, err := chain.ChangesOf(chain.Block{Events: []*isc.Event{ev}}, me)
		if err != nil {
			return
		}
		for _, c := range changes {
			if c.Payer == nil {
				t.Fatalf("change without a payer from %x", payload)
			}
			_, _ = c.Apply(chain.WarrantInfo{Exists: true, Epoch: 1})
		}
	})
}
