// Package record is the byte layout of the payer's persisted position
// (package consumer's PebbleState). It has no dependencies, so its decoder
// is fuzzed in a small test binary: fuzzing inside package consumer, which
// links the whole ISC stack, runs about four times slower.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the first byte of a record Encode writes.
const Version byte = 3

// Size is the length of a version 3 record:
// version(1)=3 | epoch(u32) | ordinal(u64) | total(u64) | signed(u64) |
// flags(u8), little-endian; flags is 0 or flagDoubt.
const Size = 1 + 4 + 8 + 8 + 8 + 1

// sizeV2 is the length of a version 2 record, which Decode still reads:
// a version 3 record without flags (no doubt).
const sizeV2 = 1 + 4 + 8 + 8 + 8

// flagDoubt marks a position whose newest payment's outcome is in doubt.
const flagDoubt byte = 1

// sizeV1 is the length of a version 1 record, which Decode still reads:
// version(1)=1 | epoch(u32) | ordinal(u64) | total(u64). It had no highest
// signed total; Decode takes its total for it.
const sizeV1 = 1 + 4 + 8 + 8

// ErrCorrupt is wrapped by every Decode error.
var ErrCorrupt = errors.New("record: corrupt position")

// Position is the content of a record: the payer's epoch, newest ordinal,
// the total its next payment builds on, the highest total it signed in
// the epoch, and whether the newest payment's outcome is in doubt.
type Position struct {
	Epoch   uint32
	Ordinal uint64
	Total   uint64
	Signed  uint64
	Doubt   bool
}

// Encode returns the version 3 record of p.
func Encode(p Position) []byte {
	b := make([]byte, 0, Size)
	b = append(b, Version)
	b = binary.LittleEndian.AppendUint32(b, p.Epoch)
	b = binary.LittleEndian.AppendUint64(b, p.Ordinal)
	b = binary.LittleEndian.AppendUint64(b, p.Total)
	b = binary.LittleEndian.AppendUint64(b, p.Signed)
	var flags byte
	if p.Doubt {
		flags = flagDoubt
	}
	return append(b, flags)
}

// Decode parses a record written by Encode, a version 2 record (no doubt)
// or a version 1 record (its highest signed total is taken to be its
// total: a lower bound, so a payer may see a state mismatch it can resync,
// never miss one). Anything else is an error wrapping ErrCorrupt
// (FuzzDecode), as is a record whose highest signed total is below its
// total or whose flags are not 0 or 1.
func Decode(b []byte) (Position, error) {
	if len(b) == 0 {
		return Position{}, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	var want int
	switch b[0] {
	case 1:
		want = sizeV1
	case 2:
		want = sizeV2
	case Version:
		want = Size
	default:
		return Position{}, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, b[0], Version)
	}
	if len(b) != want {
		return Position{}, fmt.Errorf("%w: version %d record of %d bytes, want %d", ErrCorrupt, b[0], len(b), want)
	}
	p := Position{
		Epoch:   binary.LittleEndian.Uint32(b[1:5]),
		Ordinal: binary.LittleEndian.Uint64(b[5:13]),
		Total:   binary.LittleEndian.Uint64(b[13:21]),
	}
	p.Signed = p.Total
	if b[0] >= 2 {
		p.Signed = binary.LittleEndian.Uint64(b[21:29])
	}
	if b[0] == Version {
		if b[29] > flagDoubt {
			return Position{}, fmt.Errorf("%w: flags %#x, want 0 or 1", ErrCorrupt, b[29])
		}
		p.Doubt = b[29] == flagDoubt
	}
	if p.Signed < p.Total {
		return Position{}, fmt.Errorf("%w: highest signed total %d is below the total %d", ErrCorrupt, p.Signed, p.Total)
	}
	return p, nil
}
