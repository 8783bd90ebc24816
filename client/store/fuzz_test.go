package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/micropay/micropay/contract/payment"
)

// The fuzz targets check each record decoder two ways: on arbitrary bytes
// it fails with ErrCorrupt or returns something that encodes back to a
// record it decodes the same (never a panic); and on a value built from
// the fuzz input, decode(encode(x)) == x.
//
//	go test -run '^$' -fuzz FuzzDecodeReceipt -fuzztime 20s ./client/store/

func FuzzDecodeReceipt(f *testing.F) {
	r := testReceipt(WarrantID{Payer: "payer", Provider: "provider"}, 3, 7)
	key, value := receiptKey(r.Warrant, 3, 7), appendReceiptValue(nil, r)
	f.Add(key, value, "payer", "provider", "/r", uint32(3), uint64(7), uint64(700), uint64(100), int64(1735787045), uint32(6), bytes.Repeat([]byte{1}, 64))
	f.Add(key[:len(key)-1], value[:len(value)-1], "", "", "", uint32(0), uint64(0), uint64(0), uint64(0), int64(-62135596800), uint32(0), []byte(nil))
	v1 := appendReceiptValue(nil, r)
	v1 = append([]byte{1}, v1[1:len(v1)-2]...) // a version 1 record: no asked, no outcome
	f.Add(key, v1, "payer", "provider", "/r", uint32(4), uint64(8), uint64(800), uint64(100), int64(1735787045), uint32(6), bytes.Repeat([]byte{2}, 64))
	f.Add([]byte{prefixReceipt}, []byte{receiptVersion}, "\xff", "\x00", "✓", uint32(1<<32-1), uint64(1<<64-1), uint64(1<<64-1), uint64(1<<64-1), int64(1<<63-1), uint32(999_999_999), []byte{})

	f.Fuzz(func(t *testing.T, key, value []byte, payer, provider, resource string, epoch uint32, ordinal, total, price uint64, sec int64, nsec uint32, sig []byte) {
		if got, err := decodeReceipt(key, value); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
		} else {
			again, err := decodeReceipt(receiptKey(got.Warrant, got.Payment.Epoch, got.Payment.Ordinal), appendReceiptValue(nil, got))
			if err != nil || again != got {
				t.Fatalf("re-encoded receipt decodes to %+v, %v; want %+v", again, err, got)
			}
		}

		x := Receipt{
			Warrant:    WarrantID{Payer: payer, Provider: provider},
			Payment:    payment.Payment{Epoch: epoch, Ordinal: ordinal, Total: total},
			Price:      price,
			Asked:      price ^ total,
			Outcome:    Outcome(epoch % 3),
			Resource:   resource,
			AcceptedAt: fuzzTime(sec, nsec),
		}
		copy(x.Payment.Signature[:], sig)
		if checkWarrant(x.Warrant) != nil {
			return
		}
		got, err := decodeReceipt(receiptKey(x.Warrant, epoch, ordinal), appendReceiptValue(nil, x))
		if err != nil || got != x {
			t.Fatalf("decode(encode(x)):\n got %+v, %v\nwant %+v", got, err, x)
		}
	})
}

func FuzzDecodeWarrant(f *testing.F) {
	f.Add(appendWarrantValue(nil, warrantState{Epoch: 2, Ordinal: 5, Receipts: 9}), uint32(2), uint64(5), uint64(9))
	f.Add([]byte{warrantVersion, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 1}, uint32(1<<32-1), uint64(1<<64-1), uint64(0))
	f.Add([]byte{1, 2, 5, 9}, uint32(2), uint64(5), uint64(9)) // version 1: no credit
	f.Fuzz(func(t *testing.T, value []byte, epoch uint32, ordinal, receipts uint64) {
		if got, err := decodeWarrantValue(value); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
		} else if again, err := decodeWarrantValue(appendWarrantValue(nil, got)); err != nil || again != got {
			t.Fatalf("re-encoded record decodes to %+v, %v; want %+v", again, err, got)
		}

		x := warrantState{Epoch: epoch, Ordinal: ordinal, Receipts: receipts, Credit: receipts ^ ordinal}
		if got, err := decodeWarrantValue(appendWarrantValue(nil, x)); err != nil || got != x {
			t.Fatalf("decode(encode(x)) = %+v, %v; want %+v", got, err, x)
		}
	})
}

func FuzzDecodeSettlement(f *testing.F) {
	s := Settlement{Warrant: WarrantID{Payer: "payer", Provider: "provider"}, Epoch: 1, Ordinal: 2, Total: 3, State: Failed, RequestID: "req", Attempt: 2, Paid: 1, UpdatedAt: time.Unix(5, 6).UTC(), Error: "no"}
	key, value := warrantKeyWithPrefix(prefixSettlement, s.Warrant), appendSettlementValue(nil, s)
	f.Add(key, value, "payer", "provider", uint32(1), uint64(2), uint64(3), uint8(Failed), "req", int64(2), uint64(1), int64(5), uint32(6), "no")
	f.Add(key[:3], value[:len(value)-1], "", "", uint32(0), uint64(0), uint64(0), uint8(0), "", int64(-1<<63), uint64(0), int64(0), uint32(0), "")
	f.Fuzz(func(t *testing.T, key, value []byte, payer, provider string, epoch uint32, ordinal, total uint64, state uint8, requestID string, attempt int64, paid uint64, sec int64, nsec uint32, errText string) {
		if got, err := decodeSettlement(key, value); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
		} else {
			again, err := decodeSettlement(warrantKeyWithPrefix(prefixSettlement, got.Warrant), appendSettlementValue(nil, got))
			if err != nil || again != got {
				t.Fatalf("re-encoded settlement decodes to %+v, %v; want %+v", again, err, got)
			}
		}

		x := Settlement{
			Warrant: WarrantID{Payer: payer, Provider: provider},
			Epoch:   epoch, Ordinal: ordinal, Total: total, State: SettlementState(state),
			RequestID: requestID, Attempt: int(attempt), Paid: paid, UpdatedAt: fuzzTime(sec, nsec), Error: errText,
		}
		if checkWarrant(x.Warrant) != nil {
			return
		}
		got, err := decodeSettlement(warrantKeyWithPrefix(prefixSettlement, x.Warrant), appendSettlementValue(nil, x))
		if err != nil || got != x {
			t.Fatalf("decode(encode(x)):\n got %+v, %v\nwant %+v", got, err, x)
		}
	})
}

func FuzzDecodeAcknowledgement(f *testing.F) {
	a := Acknowledgement{Warrant: WarrantID{Payer: "payer", Provider: "provider"}, ChainEpoch: 2, ChainOrdinal: 9, AcknowledgedAt: time.Unix(5, 6).UTC()}
	key, value := warrantKeyWithPrefix(prefixAck, a.Warrant), appendAckValue(nil, a)
	f.Add(key, value, "payer", "provider", uint32(2), uint64(9), int64(5), uint32(6))
	f.Add(key[:3], value[:len(value)-1], "", "", uint32(0), uint64(0), int64(-1<<63), uint32(0))
	f.Fuzz(func(t *testing.T, key, value []byte, payer, provider string, epoch uint32, ordinal uint64, sec int64, nsec uint32) {
		if got, err := decodeAck(key, value); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
		} else if again, err := decodeAck(warrantKeyWithPrefix(prefixAck, got.Warrant), appendAckValue(nil, got)); err != nil || again != got {
			t.Fatalf("re-encoded acknowledgement decodes to %+v, %v; want %+v", again, err, got)
		}

		x := Acknowledgement{Warrant: WarrantID{Payer: payer, Provider: provider}, ChainEpoch: epoch, ChainOrdinal: ordinal, AcknowledgedAt: fuzzTime(sec, nsec)}
		if checkWarrant(x.Warrant) != nil {
			return
		}
		if got, err := decodeAck(warrantKeyWithPrefix(prefixAck, x.Warrant), appendAckValue(nil, x)); err != nil || got != x {
			t.Fatalf("decode(encode(x)):\n got %+v, %v\nwant %+v", got, err, x)
		}
	})
}

// fuzzTime is a time as the store gives it back, from any seconds and
// nanoseconds.
func fuzzTime(sec int64, nsec uint32) time.Time {
	return canonicalTime(time.Unix(sec, int64(nsec%1e9)))
}

// FuzzParseSentinel: a sentinel file is bytes from disk. parseSentinel
// never panics, accepts only what formatSentinel writes, and a parsed ID
// formats back to the same bytes.
func FuzzParseSentinel(f *testing.F) {
	f.Add(formatSentinel([identityLen]byte{1, 2, 3}))
	f.Add([]byte("micropay store 00\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := parseSentinel(b)
		if err != nil {
			return
		}
		if !bytes.Equal(formatSentinel(id), b) {
			t.Fatalf("parsed %q as %x, which formats as %q", b, id, formatSentinel(id))
		}
	})
}
