package contract_test

import (
	"bytes"
	"testing"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/contract"
)

// FuzzDecodeEvents feeds every event decoder outside bytes (an indexer reads
// them from a node it may not trust): no decoder may panic, and what one
// accepts must survive an encode/decode round trip unchanged. (The bytes
// themselves need not come back: wasp's AgentID decoding accepts more than
// one encoding of some agent IDs.)
func FuzzDecodeEvents(f *testing.F) {
	a, b := isc.NewEthereumAddressAgentID(isc.ChainID{}, [20]byte{1}), isc.NewEthereumAddressAgentID(isc.ChainID{}, [20]byte{2})
	f.Add((&contract.WarrantAdded{Payer: a, Provider: b, Epoch: 1, Added: 5, Balance: 5, CloseTimeout: 60, New: true}).Bytes())
	f.Add((&contract.Settled{Payer: a, Provider: b, Epoch: 1, Paid: 3}).Bytes())
	f.Add((&contract.CloseUnfunded{Payer: a, Provider: b, Deposit: 1, Needed: 2}).Bytes())
	f.Add((&contract.SettledMany{Provider: b, Items: []contract.SettledItem{{Payer: a, Epoch: 1, Paid: 7}, {Payer: a, Skipped: true}}}).Bytes())
	f.Add((&contract.SettleRefused{Payer: a, Provider: b, Item: 2, Reason: "no"}).Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x07})
	type event interface{ Bytes() []byte }
	decoders := []func([]byte) (event, error){
		func(p []byte) (event, error) { return contract.DecodeWarrantAdded(p) },
		func(p []byte) (event, error) { return contract.DecodeWarrantRevoked(p) },
		func(p []byte) (event, error) { return contract.DecodeSettled(p) },
		func(p []byte) (event, error) { return contract.DecodeWarrantClosed(p) },
		func(p []byte) (event, error) { return contract.DecodeCloseUnfunded(p) },
		func(p []byte) (event, error) { return contract.DecodeSettleRefused(p) },
		func(p []byte) (event, error) { return contract.DecodeSettledMany(p) },
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for i, decode := range decoders {
			ev, err := decode(payload)
			if err != nil {
				continue
			}
			canonical := ev.Bytes()
			again, err := decode(canonical)
			if err != nil {
				t.Fatalf("decoder %d: accepted %x but not its own encoding %x: %v", i, payload, canonical, err)
			}
			if got := again.Bytes(); !bytes.Equal(got, canonical) {
				t.Fatalf("decoder %d: %x encodes as %x after a round trip", i, canonical, got)
			}
		}
	})
}
