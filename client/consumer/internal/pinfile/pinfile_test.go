package pinfile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const provA = "tgl1qqn885wfcll4d4ayamawzugg0eatjgvhp74xu87n3t89dy6tyew0spgjut7"

func TestRoundTrip(t *testing.T) {
	pins := []Pin{{"https://shop.example:8443", provA, 0}, {"http://127.0.0.1:8402", "0a0b0c0d@" + provA, 700}, {"http://[::1]:80", "-", 18446744073709551615}}
	b, err := Format(pins)
	require.NoError(t, err)
	require.Equal(t, Header+"\nhttp://127.0.0.1:8402 0a0b0c0d@"+provA+" 700\nhttp://[::1]:80 - 18446744073709551615\nhttps://shop.example:8443 "+provA+"\n", string(b),
		"sorted by origin, one line each, the price when there is one")
	got, err := Parse(b)
	require.NoError(t, err)
	require.ElementsMatch(t, pins, got)

	empty, err := Format(nil)
	require.NoError(t, err)
	got, err = Parse(empty)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestParseReadsVersion1(t *testing.T) {
	got, err := Parse([]byte(HeaderV1 + "\nhttp://a " + provA + "\n"))
	require.NoError(t, err)
	require.Equal(t, []Pin{{Origin: "http://a", Provider: provA}}, got, "a v1 line has no price")
	_, err = Parse([]byte(HeaderV1 + "\nhttp://a " + provA + " 700\n"))
	require.ErrorIs(t, err, ErrMalformed, "nor may it have one")
}

func TestParseRefuses(t *testing.T) {
	h := Header + "\n"
	for name, c := range map[string]struct{ file, want string }{
		"empty":               {"", "line 1"},
		"no header":           {"http://a " + provA + "\n", "line 1"},
		"other version":       {strings.Replace(h, "v2", "v3", 1), "line 1"},
		"no final newline":    {h + "http://a " + provA, "line 2 has no newline"},
		"blank line":          {h + "\n", "line 2"},
		"one field":           {h + "http://a\n", `line 2: want "origin provider [price]"`},
		"two spaces":          {h + "http://a  " + provA + "\n", "line 2: provider"},
		"price not a number":  {h + "http://a " + provA + " x\n", `price "x"`},
		"price zero":          {h + "http://a " + provA + " 0\n", `price "0"`},
		"price leading zero":  {h + "http://a " + provA + " 07\n", `price "07"`},
		"price signed":        {h + "http://a " + provA + " +7\n", `price "+7"`},
		"price too large":     {h + "http://a " + provA + " 18446744073709551616\n", "out of range"},
		"price too long":      {h + "http://a " + provA + " 100000000000000000000\n", "at most 20 digits"},
		"four fields":         {h + "http://a " + provA + " 7 8\n", `price "7 8"`},
		"path in origin":      {h + "http://a/x " + provA + "\n", "not allowed in a host"},
		"upper-case origin":   {h + "http://A " + provA + "\n", "not allowed in a host"},
		"other scheme":        {h + "ftp://a " + provA + "\n", "is not http"},
		"no host":             {h + "https:// " + provA + "\n", "is not http"},
		"carriage return":     {h + "http://a " + provA + "\r\n", "not allowed in an agent ID"},
		"duplicate origin":    {h + "http://a " + provA + "\nhttp://a -\n", "line 3: origin http://a pinned twice"},
		"long origin":         {h + "http://" + strings.Repeat("a", MaxOrigin) + " " + provA + "\n", "limit"},
		"long provider":       {h + "http://a " + strings.Repeat("q", MaxProvider+1) + "\n", "want 1 to"},
		"too large":           {h + strings.Repeat("x", MaxSize), "limit"},
		"control in provider": {h + "http://a tgl1\x00\n", "not allowed"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.file))
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestBounds(t *testing.T) {
	var pins []Pin
	for i := 0; i < MaxPins; i++ {
		pins = append(pins, Pin{Origin: fmt.Sprintf("https://%0*d.example:65535", MaxOrigin-len("https://.example:65535"), i), Provider: strings.Repeat("q", MaxProvider), Price: 18446744073709551615})
	}
	b, err := Format(pins)
	require.NoError(t, err)
	require.Len(t, b, MaxSize, "the largest file Format writes is the largest Parse reads")
	got, err := Parse(b)
	require.NoError(t, err)
	require.Len(t, got, MaxPins)

	_, err = Format(append(pins, Pin{Origin: "http://one.more", Provider: provA}))
	require.ErrorContains(t, err, "limit")
	more := append(b, []byte("http://one.more "+provA+"\n")...)
	_, err = Parse(more)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = Format([]Pin{{Origin: "http://a", Provider: provA}, {Origin: "http://a", Provider: provA}})
	require.ErrorContains(t, err, "twice")
	_, err = Format([]Pin{{Origin: "http://a b", Provider: provA}})
	require.Error(t, err)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(Header + "\nhttp://127.0.0.1:8402 " + provA + "\n"))
	f.Add([]byte(Header + "\n"))
	f.Add([]byte(Header + "\nhttp://a " + provA + "\nhttp://a -\n"))
	f.Add([]byte(Header + "\nhttp://a " + provA + " 700\n"))
	f.Add([]byte(HeaderV1 + "\nhttp://a " + provA + "\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pins, err := Parse(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		out, err := Format(pins)
		require.NoError(t, err, "what Parse accepts, Format writes")
		again, err := Parse(out)
		require.NoError(t, err)
		require.ElementsMatch(t, pins, again)
	})
}
