package chain_test

import (
	"testing"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

// FuzzItemOutcomes feeds settleMany receipts a node could send, two events
// of any topic and payload, for a request of two items: an answer is either
// an error or one outcome per item, each settled for the item's own payer
// or refused with a reason, never both.
func FuzzItemOutcomes(f *testing.F) {
	a, b := isc.NewAgentID(cryptolib.NewKeyPair().Address()), isc.NewAgentID(cryptolib.NewKeyPair().Address())
	items := []contract.Settlement{{Payer: a}, {Payer: b}}
	prov := isc.NewAgentID(cryptolib.NewKeyPair().Address())
	many := (&contract.SettledMany{Provider: prov, Items: []contract.SettledItem{{Payer: a, Epoch: 1, LastOrdinal: 2, Paid: 5}}}).Bytes()
	refused := (&contract.SettleRefused{Payer: b, Provider: prov, Item: 2, Reason: "bad signature"}).Bytes()
	f.Add(contract.TopicSettledMany, many, contract.TopicSettleRefused, refused)
	f.Add(contract.TopicSettleRefused, refused, contract.TopicSettleRefused, refused)
	f.Add(contract.TopicSettledMany, many, contract.TopicSettledMany, many)
	f.Add(contract.TopicSettledMany, []byte{0xff, 0xff, 0xff, 0xff}, "", []byte(nil))
	f.Fuzz(func(t *testing.T, topic1 string, payload1 []byte, topic2 string, payload2 []byte) {
		rec := &chain.Receipt{Events: []*isc.Event{{Topic: topic1, Payload: payload1}, {Topic: topic2, Payload: payload2}}}
		out, err := chain.ItemOutcomes(rec, items)
		if err != nil {
			return
		}
		if len(out) != len(items) {
			t.Fatalf("%d outcomes for %d items", len(out), len(items))
		}
		for i, o := range out {
			switch {
			case (o.Settled == nil) == (o.Refused == ""):
				t.Fatalf("item %d: %+v is not exactly one of settled and refused", i+1, o)
			case o.Settled != nil && !o.Settled.Payer.Equals(items[i].Payer):
				t.Fatalf("item %d settled for payer %s, sent %s", i+1, o.Settled.Payer, items[i].Payer)
			}
		}
	})
}
