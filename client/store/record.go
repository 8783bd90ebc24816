package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrCorrupt: a stored record or key does not decode. It is not transient:
// retrying reads the same bytes.
var ErrCorrupt = errors.New("store: corrupt record")

// Key prefixes of the Pebble store. Every key starts with one of them; the
// warrant part of a key is
//
//	warrant = u8 len(payer) | payer | u8 len(provider) | provider
//
// so a warrant's keys never share a prefix with another warrant's. Integers
// in keys are big-endian so that byte order is numeric order; integers in
// values are varints (encoding/binary) behind a version byte.
const (
	// prefixAck: "a" | warrant → the warrant's acknowledgement record
	// (appendAckValue). Covered by the storetest suite and
	// FuzzDecodeAcknowledgement.
	prefixAck byte = 'a'

	// prefixMeta: "m" | name → store metadata: keyFormat and keyIdentity.
	// Covered by TestPebbleFormatVersion and TestOpenRefusesDamagedStore.
	prefixMeta byte = 'm'

	// prefixPending: "p" | warrant | epoch u32 BE | ordinal u64 BE → empty:
	// the receipt of that key is Pending. Append of a pending receipt
	// writes it in the receipt's batch, Conclude deletes it in its batch,
	// so CreditPending reads the few pending receipts without a scan of
	// all. Covered by the storetest suite (Outcomes, CreditPending).
	prefixPending byte = 'p'

	// prefixReceipt: "r" | warrant | epoch u32 BE | ordinal u64 BE →
	// receipt record (appendReceiptValue). Iteration order is acceptance
	// order within a warrant, since Append only takes a higher (epoch,
	// ordinal). Covered by the storetest suite and FuzzDecodeReceipt.
	prefixReceipt byte = 'r'

	// prefixSettlement: "s" | warrant → the warrant's latest settlement
	// record (appendSettlementValue). Covered by the storetest suite and
	// FuzzDecodeSettlement.
	prefixSettlement byte = 's'

	// prefixWarrant: "w" | warrant → warrant record: newest (epoch,
	// ordinal) and the receipt count (appendWarrantValue). Append writes it
	// in the same batch as the receipt. Covered by the storetest suite and
	// FuzzDecodeWarrant.
	prefixWarrant byte = 'w'
)

// keyFormat is "m" | "format" → u8 format version of the keys and records
// below. Open writes it into a new store and refuses any other version.
var keyFormat = []byte{prefixMeta, 'f', 'o', 'r', 'm', 'a', 't'}

// Record versions: the first byte of every value.
const (
	formatVersion     byte = 1
	receiptVersion    byte = 2 // 1: without asked and outcome
	warrantVersion    byte = 2 // 1: without credit
	settlementVersion byte = 1
	ackVersion        byte = 1
)

// receiptKeySuffix is epoch u32 BE | ordinal u64 BE.
const receiptKeySuffix = 4 + 8

// appendWarrantKey appends the warrant part of a key. The caller has checked
// the lengths with checkWarrant.
func appendWarrantKey(dst []byte, w WarrantID) []byte {
	dst = append(dst, byte(len(w.Payer)))
	dst = append(dst, w.Payer...)
	dst = append(dst, byte(len(w.Provider)))
	return append(dst, w.Provider...)
}

func warrantKeyWithPrefix(prefix byte, w WarrantID) []byte {
	return appendWarrantKey(append(make([]byte, 0, 3+len(w.Payer)+len(w.Provider)+receiptKeySuffix), prefix), w)
}

func receiptKey(w WarrantID, epoch uint32, ordinal uint64) []byte {
	return keyWithSuffix(prefixReceipt, w, epoch, ordinal)
}

func pendingKey(k ReceiptKey) []byte {
	return keyWithSuffix(prefixPending, k.Warrant, k.Epoch, k.Ordinal)
}

func keyWithSuffix(prefix byte, w WarrantID, epoch uint32, ordinal uint64) []byte {
	return appendKeyWithSuffix(make([]byte, 0, 3+len(w.Payer)+len(w.Provider)+receiptKeySuffix), prefix, w, epoch, ordinal)
}

// appendKeyWithSuffix appends prefix | warrant | epoch u32 BE | ordinal
// u64 BE to dst.
func appendKeyWithSuffix(dst []byte, prefix byte, w WarrantID, epoch uint32, ordinal uint64) []byte {
	dst = appendWarrantKey(append(dst, prefix), w)
	dst = binary.BigEndian.AppendUint32(dst, epoch)
	return binary.BigEndian.AppendUint64(dst, ordinal)
}

// appendPart appends what add appends to buf and returns buf and the part
// added, which stays valid (and unchanged) as buf grows.
func appendPart(buf []byte, add func(dst []byte) []byte) ([]byte, []byte) {
	start := len(buf)
	buf = add(buf)
	return buf, buf[start:len(buf):len(buf)]
}

// parsePendingKey returns the receipt a pending key names.
func parsePendingKey(key []byte) (ReceiptKey, error) {
	w, suffix, err := parseKey(key, prefixPending, receiptKeySuffix)
	if err != nil {
		return ReceiptKey{}, err
	}
	return ReceiptKey{Warrant: w, Epoch: binary.BigEndian.Uint32(suffix), Ordinal: binary.BigEndian.Uint64(suffix[4:])}, nil
}

// prefixEnd returns the smallest key above every key starting with prefix,
// or nil when there is none.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// parseWarrantKey reads the warrant part at the start of b and returns the
// rest.
func parseWarrantKey(b []byte) (WarrantID, []byte, error) {
	var w WarrantID
	for _, part := range []*string{&w.Payer, &w.Provider} {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return WarrantID{}, nil, fmt.Errorf("%w: short warrant key", ErrCorrupt)
		}
		n := int(b[0])
		*part = string(b[1 : 1+n])
		b = b[1+n:]
	}
	return w, b, nil
}

// parseKey checks that key is prefix | warrant | suffix with a suffix of
// suffixLen bytes, and returns the warrant and the suffix.
func parseKey(key []byte, prefix byte, suffixLen int) (WarrantID, []byte, error) {
	if len(key) < 1 || key[0] != prefix {
		return WarrantID{}, nil, fmt.Errorf("%w: key %x lacks prefix %q", ErrCorrupt, key, prefix)
	}
	w, rest, err := parseWarrantKey(key[1:])
	if err != nil {
		return WarrantID{}, nil, fmt.Errorf("key %x: %w", key, err)
	}
	if len(rest) != suffixLen {
		return WarrantID{}, nil, fmt.Errorf("%w: key %x has %d trailing bytes, want %d", ErrCorrupt, key, len(rest), suffixLen)
	}
	return w, rest, nil
}

// appendReceiptValue appends the receipt record of r:
//
//	version u8 | total uvarint | price uvarint | signature [64] |
//	accepted_at unix seconds varint | accepted_at nanoseconds uvarint |
//	len(resource) uvarint | resource | asked uvarint | outcome u8
//
// The warrant, epoch and ordinal are in the key. A version 1 record ends
// after resource: asked 0, outcome Served.
func appendReceiptValue(dst []byte, r Receipt) []byte {
	dst = append(dst, receiptVersion)
	dst = binary.AppendUvarint(dst, r.Payment.Total)
	dst = binary.AppendUvarint(dst, r.Price)
	dst = append(dst, r.Payment.Signature[:]...)
	dst = appendTime(dst, r.AcceptedAt)
	dst = appendString(dst, r.Resource)
	dst = binary.AppendUvarint(dst, r.Asked)
	return append(dst, byte(r.Outcome))
}

// decodeReceipt decodes a receipt from its key and record. It copies what
// it keeps, so key and value may be reused.
func decodeReceipt(key, value []byte) (Receipt, error) {
	w, suffix, err := parseKey(key, prefixReceipt, receiptKeySuffix)
	if err != nil {
		return Receipt{}, err
	}
	r := Receipt{Warrant: w}
	r.Payment.Epoch = binary.BigEndian.Uint32(suffix)
	r.Payment.Ordinal = binary.BigEndian.Uint64(suffix[4:])

	d := decoder{b: value}
	v := d.versions(1, receiptVersion)
	r.Payment.Total = d.uvarint()
	r.Price = d.uvarint()
	copy(r.Payment.Signature[:], d.bytes(len(r.Payment.Signature)))
	r.AcceptedAt = d.time()
	r.Resource = d.string()
	if v >= 2 {
		r.Asked = d.uvarint()
		r.Outcome = d.outcome()
	}
	if err := d.finish(); err != nil {
		return Receipt{}, fmt.Errorf("receipt %x: %w", key, err)
	}
	return r, nil
}

// warrantState is the warrant record: where Append checks "newer than
// newest" and what Warrants counts.
type warrantState struct {
	Epoch    uint32 // newest receipt's epoch
	Ordinal  uint64 // newest receipt's ordinal
	Receipts uint64 // receipts stored, all epochs
	Credit   uint64 // WarrantSummary.Credit
}

// appendWarrantValue appends the warrant record:
//
//	version u8 | newest epoch uvarint | newest ordinal uvarint |
//	receipts uvarint | credit uvarint
//
// A version 1 record ends after receipts: credit 0.
func appendWarrantValue(dst []byte, s warrantState) []byte {
	dst = append(dst, warrantVersion)
	dst = binary.AppendUvarint(dst, uint64(s.Epoch))
	dst = binary.AppendUvarint(dst, s.Ordinal)
	dst = binary.AppendUvarint(dst, s.Receipts)
	return binary.AppendUvarint(dst, s.Credit)
}

func decodeWarrantValue(value []byte) (warrantState, error) {
	d := decoder{b: value}
	v := d.versions(1, warrantVersion)
	var s warrantState
	s.Epoch = d.uint32()
	s.Ordinal = d.uvarint()
	s.Receipts = d.uvarint()
	if v >= 2 {
		s.Credit = d.uvarint()
	}
	if err := d.finish(); err != nil {
		return warrantState{}, fmt.Errorf("warrant record: %w", err)
	}
	return s, nil
}

// appendSettlementValue appends the settlement record of s:
//
//	version u8 | epoch uvarint | ordinal uvarint | total uvarint |
//	state u8 | attempt varint | paid uvarint |
//	updated_at unix seconds varint | updated_at nanoseconds uvarint |
//	len(request ID) uvarint | request ID | len(error) uvarint | error
//
// The warrant is in the key.
func appendSettlementValue(dst []byte, s Settlement) []byte {
	dst = append(dst, settlementVersion)
	dst = binary.AppendUvarint(dst, uint64(s.Epoch))
	dst = binary.AppendUvarint(dst, s.Ordinal)
	dst = binary.AppendUvarint(dst, s.Total)
	dst = append(dst, byte(s.State))
	dst = binary.AppendVarint(dst, int64(s.Attempt))
	dst = binary.AppendUvarint(dst, s.Paid)
	dst = appendTime(dst, s.UpdatedAt)
	dst = appendString(dst, s.RequestID)
	return appendString(dst, s.Error)
}

func decodeSettlement(key, value []byte) (Settlement, error) {
	w, _, err := parseKey(key, prefixSettlement, 0)
	if err != nil {
		return Settlement{}, err
	}
	s := Settlement{Warrant: w}
	d := decoder{b: value}
	d.version(settlementVersion)
	s.Epoch = d.uint32()
	s.Ordinal = d.uvarint()
	s.Total = d.uvarint()
	s.State = SettlementState(d.byte())
	s.Attempt = d.int()
	s.Paid = d.uvarint()
	s.UpdatedAt = d.time()
	s.RequestID = d.string()
	s.Error = d.string()
	if err := d.finish(); err != nil {
		return Settlement{}, fmt.Errorf("settlement %x: %w", key, err)
	}
	return s, nil
}

// appendAckValue appends the acknowledgement record of a:
//
//	version u8 | chain epoch uvarint | chain ordinal uvarint |
//	acknowledged_at unix seconds varint | nanoseconds uvarint
//
// The warrant is in the key.
func appendAckValue(dst []byte, a Acknowledgement) []byte {
	dst = append(dst, ackVersion)
	dst = binary.AppendUvarint(dst, uint64(a.ChainEpoch))
	dst = binary.AppendUvarint(dst, a.ChainOrdinal)
	return appendTime(dst, a.AcknowledgedAt)
}

func decodeAck(key, value []byte) (Acknowledgement, error) {
	w, _, err := parseKey(key, prefixAck, 0)
	if err != nil {
		return Acknowledgement{}, err
	}
	a := Acknowledgement{Warrant: w}
	d := decoder{b: value}
	d.version(ackVersion)
	a.ChainEpoch = d.uint32()
	a.ChainOrdinal = d.uvarint()
	a.AcknowledgedAt = d.time()
	if err := d.finish(); err != nil {
		return Acknowledgement{}, fmt.Errorf("acknowledgement %x: %w", key, err)
	}
	return a, nil
}

// appendTime appends t as unix seconds (varint) and nanoseconds (uvarint):
// every time.Time fits, unlike UnixNano. The location and the monotonic
// reading are dropped; canonicalTime is what comes back.
func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads a record front to back. The first failure sticks: later
// reads return zero values, and finish reports it, so a decode function
// reads every field and checks once. It never panics on short or garbled
// input.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	d.b = nil
}

func (d *decoder) version(want byte) {
	if v := d.byte(); d.err == nil && v != want {
		d.fail("version %d, want %d", v, want)
	}
}

// versions reads a version byte in [lowest, highest] and returns it.
func (d *decoder) versions(lowest, highest byte) byte {
	v := d.byte()
	if d.err == nil && (v < lowest || v > highest) {
		d.fail("version %d, want %d to %d", v, lowest, highest)
	}
	return v
}

// outcome reads an Outcome byte.
func (d *decoder) outcome() Outcome {
	o := Outcome(d.byte())
	if d.err == nil && o > Credited {
		d.fail("outcome %d unknown", o)
	}
	return o
}

func (d *decoder) byte() byte {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// bytes returns the next n bytes, aliasing the input; nil on failure.
func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("want %d bytes, have %d", n, len(d.b))
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint32() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.fail("%d overflows uint32", v)
		return 0
	}
	return uint32(v)
}

func (d *decoder) int() int {
	v := d.varint()
	if int64(int(v)) != v {
		d.fail("%d overflows int", v)
		return 0
	}
	return int(v)
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= uint64(time.Second) {
		d.fail("nanoseconds %d out of range", nsec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("string of %d bytes, have %d", n, len(d.b))
	}
	return string(d.bytes(int(n)))
}

// finish reports the first failure, or trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}
