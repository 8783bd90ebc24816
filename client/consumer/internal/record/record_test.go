package record

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLayout(t *testing.T) {
	b := Encode(0x01020304, 5, 0x0807060504030201)
	require.Equal(t, []byte{
		1,          // version
		4, 3, 2, 1, // epoch
		5, 0, 0, 0, 0, 0, 0, 0, // ordinal
		1, 2, 3, 4, 5, 6, 7, 8, // total
	}, b)
	epoch, ordinal, total, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, []uint64{0x01020304, 5, 0x0807060504030201}, []uint64{uint64(epoch), ordinal, total})
	for _, bad := range [][]byte{nil, b[:20], append(append([]byte(nil), b...), 0), append([]byte{2}, b[1:]...), append([]byte{0}, b[1:]...)} {
		_, _, _, err := Decode(bad)
		require.ErrorIs(t, err, ErrCorrupt, "%x", bad)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(1, 2, 3))
	f.Add(Encode(^uint32(0), ^uint64(0), ^uint64(0)))
	f.Add([]byte{})
	f.Add(append([]byte{2}, Encode(1, 2, 3)[1:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		epoch, ordinal, total, err := Decode(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.Equal(t, b, Encode(epoch, ordinal, total), "a record that decodes re-encodes to the same bytes")
	})
}
