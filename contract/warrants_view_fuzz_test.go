package contract_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/contract"
)

// FuzzDecodeWarrantList: a node's answer to getWarrants is hostile input.
// Whatever the bytes, DecodeWarrantList returns exactly the warrants asked
// for or an error, never panics, and what it accepts encodes back to the
// same bytes (one encoding per list).
func FuzzDecodeWarrantList(f *testing.F) {
	f.Add(contract.EncodeWarrantList(nil), 0)
	f.Add(contract.EncodeWarrantList([]contract.WarrantState{{Epoch: 1}, {Epoch: 3, Exists: true, Balance: 5, LastOrdinal: 2, Paid: 1, CloseTimeout: 60, Deadline: 9}}), 2)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x07}, 1)
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		ws, err := contract.DecodeWarrantList(b, want)
		if err != nil {
			return
		}
		require.Len(t, ws, want)
		require.Equal(t, b, contract.EncodeWarrantList(ws))
	})
}
