package contract

import (
	"testing"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/util/rwutil"
	"github.com/micropay/micropay/contract/payment"
)

// FuzzDecodeBatch feeds decodeBatch the parameter "m" from outside bytes: a
// length prefix and up to three items. It must either reject with a
// registered error or return at most what the parameters hold, charging one
// burn per payment read, and never allocate from the claimed length.
func FuzzDecodeBatch(f *testing.F) {
	valid := make([]byte, payment.WireSize)
	valid[0] = payment.Version
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x07}, valid, valid, []byte{})
	f.Add([]byte{2}, valid, valid, []byte{})
	f.Add([]byte{3}, valid, []byte{1}, valid)
	f.Add([]byte{0x90, 0x4e}, valid, valid, valid) // 10,000
	f.Fuzz(func(t *testing.T, length, a, b, c []byte) {
		params := dict.Dict{ParamPayments: length}
		for i, item := range [][]byte{a, b, c} {
			if len(item) > 0 {
				params[collections.ArrayElemKey(ParamPayments, uint32(i))] = item
			}
		}
		var burns int
		var got []payment.Payment
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(*isc.VMError); !ok {
						t.Fatalf("rejection is not a registered VM error: %T %v", r, r)
					}
				}
			}()
			got = decodeBatch(params, func() { burns++ })
		}()
		if len(got) > 3 || burns > len(params) {
			t.Fatalf("decoded %d payments with %d burns from %d parameters", len(got), burns, len(params))
		}
		if got != nil && burns != len(got) {
			t.Fatalf("%d payments decoded, %d charged", len(got), burns)
		}
	})
}

// FuzzBatchLength checks the length prefix alone against the rwutil
// encoding it claims to be.
func FuzzBatchLength(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x07})
	f.Add(rwutil.NewBytesWriter().WriteSize32(MaxPaymentsPerRequest).Bytes())
	f.Fuzz(func(t *testing.T, length []byte) {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(*isc.VMError); !ok {
					t.Fatalf("rejection is not a registered VM error: %T %v", r, r)
				}
			}
		}()
		n := batchLength(dict.Dict{ParamPayments: length, "x": nil}, ParamPayments, MaxPaymentsPerRequest)
		if n > 1 {
			t.Fatalf("length %d accepted from parameters that hold at most 1 item", n)
		}
	})
}
