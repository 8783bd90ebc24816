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

// Version is the first byte of a position record.
const Version byte = 1

// Size is the length of a position record:
// version(1) | epoch(u32) | ordinal(u64) | total(u64), little-endian.
const Size = 1 + 4 + 8 + 8

// ErrCorrupt is wrapped by every Decode error.
var ErrCorrupt = errors.New("record: corrupt position")

// Encode returns the record of a position.
func Encode(epoch uint32, ordinal, total uint64) []byte {
	b := make([]byte, 0, Size)
	b = append(b, Version)
	b = binary.LittleEndian.AppendUint32(b, epoch)
	b = binary.LittleEndian.AppendUint64(b, ordinal)
	return binary.LittleEndian.AppendUint64(b, total)
}

// Decode parses a record written by Encode; anything else is an error
// wrapping ErrCorrupt (FuzzDecode).
func Decode(b []byte) (epoch uint32, ordinal, total uint64, err error) {
	if len(b) != Size {
		return 0, 0, 0, fmt.Errorf("%w: %d bytes, want %d", ErrCorrupt, len(b), Size)
	}
	if b[0] != Version {
		return 0, 0, 0, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, b[0], Version)
	}
	return binary.LittleEndian.Uint32(b[1:5]), binary.LittleEndian.Uint64(b[5:13]), binary.LittleEndian.Uint64(b[13:21]), nil
}
