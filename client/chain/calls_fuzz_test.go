package chain_test

import (
	"testing"

	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

// FuzzDecodeRevokeDeposit feeds getRevokeDeposit answers a node could
// send: a decoded deposit never needs less than either of its parts.
func FuzzDecodeRevokeDeposit(f *testing.F) {
	f.Add(codec.EncodeUint64(2640), codec.EncodeUint64(2640), codec.EncodeUint64(500))
	f.Add(codec.EncodeUint64(1), codec.EncodeUint64(2640), codec.EncodeUint64(500))
	f.Add([]byte{1, 2}, []byte(nil), []byte{})
	f.Fuzz(func(t *testing.T, need, storage, fee []byte) {
		d, err := chain.DecodeRevokeDeposit(dict.Dict{
			contract.ResultRevokeDeposit:  need,
			contract.ResultStorageDeposit: storage,
			contract.ResultCloseFee:       fee,
		})
		if err != nil {
			return
		}
		if d.Need < d.StorageDeposit || d.Need < d.CloseFee {
			t.Fatalf("decoded %+v", d)
		}
	})
}
