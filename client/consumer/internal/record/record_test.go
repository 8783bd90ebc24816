package record

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLayout(t *testing.T) {
	p := Position{Epoch: 0x01020304, Ordinal: 5, Total: 0x0807060504030201, Signed: 0x0807060504030209, Doubt: true}
	b := Encode(p)
	require.Equal(t, []byte{
		3,          // version
		4, 3, 2, 1, // epoch
		5, 0, 0, 0, 0, 0, 0, 0, // ordinal
		1, 2, 3, 4, 5, 6, 7, 8, // total
		9, 2, 3, 4, 5, 6, 7, 8, // highest signed total
		1, // flags: in doubt
	}, b)
	got, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, p, got)
	noDoubt := Encode(Position{Epoch: 1})
	require.Zero(t, noDoubt[Size-1])
	below := Encode(Position{Epoch: 1, Ordinal: 1, Total: 5, Signed: 4})
	badFlags := append(append([]byte(nil), b[:Size-1]...), 2)
	for _, bad := range [][]byte{nil, b[:29], append(append([]byte(nil), b...), 0), append([]byte{4}, b[1:]...), append([]byte{0}, b[1:]...), b[:1], below, badFlags} {
		_, err := Decode(bad)
		require.ErrorIs(t, err, ErrCorrupt, "%x", bad)
	}
}

func TestDecodesVersion2(t *testing.T) {
	v2 := Encode(Position{Epoch: 7, Ordinal: 5, Total: 3, Signed: 4, Doubt: true})[:sizeV2]
	v2[0] = 2
	got, err := Decode(v2)
	require.NoError(t, err)
	require.Equal(t, Position{Epoch: 7, Ordinal: 5, Total: 3, Signed: 4}, got, "a version 2 record is not in doubt")
	_, err = Decode(append(v2, 0))
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestDecodesVersion1(t *testing.T) {
	v1 := []byte{
		1,          // version
		4, 3, 2, 1, // epoch
		5, 0, 0, 0, 0, 0, 0, 0, // ordinal
		1, 2, 3, 4, 5, 6, 7, 8, // total
	}
	got, err := Decode(v1)
	require.NoError(t, err)
	require.Equal(t, Position{Epoch: 0x01020304, Ordinal: 5, Total: 0x0807060504030201, Signed: 0x0807060504030201}, got,
		"a version 1 record's total stands for its highest signed total")
	_, err = Decode(append(v1, 0))
	require.ErrorIs(t, err, ErrCorrupt)
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Position{Epoch: 1, Ordinal: 2, Total: 3, Signed: 3}))
	f.Add(Encode(Position{Epoch: ^uint32(0), Ordinal: ^uint64(0), Total: ^uint64(0), Signed: ^uint64(0)}))
	f.Add([]byte{})
	f.Add(append([]byte{1}, Encode(Position{Epoch: 1, Ordinal: 2, Total: 3})[1:21]...))
	f.Add(append([]byte{2}, Encode(Position{Epoch: 1, Ordinal: 2, Total: 3, Signed: 4})[1:29]...))
	f.Add(Encode(Position{Epoch: 1, Ordinal: 2, Total: 3, Signed: 4, Doubt: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.GreaterOrEqual(t, p.Signed, p.Total)
		if b[0] == Version {
			require.Equal(t, b, Encode(p), "a record that decodes re-encodes to the same bytes")
			return
		}
		require.Equal(t, b[1:], Encode(p)[1:len(b)], "an older record is a version 3 one without its last fields")
	})
}
