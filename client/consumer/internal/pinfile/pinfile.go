// Package pinfile is the text layout of the consumer's known-providers
// file, which pins each origin (scheme://host[:port]) to the provider its
// payments go to (package consumer's Pins). The file lives in the
// consumer's home and may have been written by anyone, so Parse is strict
// and bounded. It has no dependencies, so its decoder is fuzzed in a small
// test binary (FuzzParse).
//
// Layout: the line Header, then one line per pin, "origin provider\n" or
// "origin provider price\n" (the price the origin was last paid, a decimal
// number of base tokens above zero, no leading zeros), fields separated by
// one space, no origin twice. Format writes the pins sorted by origin.
// Parse also reads a file of the first version (HeaderV1), whose lines have
// no price.
package pinfile

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Header is the first line of a known-providers file Format writes.
const Header = "# micropay known providers v2: origin provider-agent-id [price]"

// HeaderV1 is the first line of a file of the first version, which held no
// prices; Parse still reads it.
const HeaderV1 = "# micropay known providers v1: origin provider-agent-id"

// Bounds on what Parse accepts and Format writes.
const (
	// MaxPins is the most pins a file holds.
	MaxPins = 4096
	// MaxOrigin is the longest origin: a scheme, "://", a DNS name of at
	// most 253 bytes and a port.
	MaxOrigin = 300
	// MaxProvider is the longest provider agent ID string (an EVM agent
	// on a chain is 107 bytes).
	MaxProvider = 160
	// MaxPrice is the longest price: the 20 digits of a uint64.
	MaxPrice = 20
	// MaxSize is the largest file: MaxPins lines of the longest fields.
	MaxSize = len(Header) + 1 + MaxPins*(MaxOrigin+1+MaxProvider+1+MaxPrice+1)
)

// ErrMalformed is wrapped by every Parse error.
var ErrMalformed = errors.New("pinfile: malformed known-providers file")

// Pin binds an origin to a provider and, once it was paid, to its price.
type Pin struct {
	Origin   string
	Provider string
	Price    uint64 // the price last paid; 0: none yet
}

// Parse reads a known-providers file. Anything but the layout above, over
// the bounds, is an error wrapping ErrMalformed that names the line.
// The caller owns the result.
func Parse(b []byte) ([]Pin, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxSize)
	}
	header, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok || (string(header) != Header && string(header) != HeaderV1) {
		return nil, fmt.Errorf("%w: line 1 is not %q", ErrMalformed, Header)
	}
	v1 := string(header) == HeaderV1
	pins := []Pin{}
	seen := map[string]bool{}
	for n := 2; len(rest) > 0; n++ {
		var line []byte
		if line, rest, ok = bytes.Cut(rest, []byte("\n")); !ok {
			return nil, fmt.Errorf("%w: line %d has no newline", ErrMalformed, n)
		}
		if len(pins) == MaxPins {
			return nil, fmt.Errorf("%w: more than %d pins", ErrMalformed, MaxPins)
		}
		pin, err := parseLine(string(line), v1)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, n, err)
		}
		if seen[pin.Origin] {
			return nil, fmt.Errorf("%w: line %d: origin %s pinned twice", ErrMalformed, n, pin.Origin)
		}
		seen[pin.Origin] = true
		pins = append(pins, pin)
	}
	return pins, nil
}

// parseLine parses one pin line; a v1 line has no price.
func parseLine(line string, v1 bool) (Pin, error) {
	origin, rest, ok := strings.Cut(line, " ")
	if !ok {
		return Pin{}, errors.New(`want "origin provider [price]"`)
	}
	provider, price, hasPrice := strings.Cut(rest, " ")
	if hasPrice && v1 {
		provider = rest // a v1 provider field runs to the end of the line
		hasPrice = false
	}
	pin := Pin{Origin: origin, Provider: provider}
	if err := errors.Join(CheckOrigin(origin), CheckProvider(provider)); err != nil {
		return Pin{}, err
	}
	if hasPrice {
		v, err := parsePrice(price)
		if err != nil {
			return Pin{}, err
		}
		pin.Price = v
	}
	return pin, nil
}

// parsePrice reads a price field: 1 to MaxPrice decimal digits, no leading
// zero, above zero, within a uint64.
func parsePrice(s string) (uint64, error) {
	if s == "" || len(s) > MaxPrice || s[0] == '0' {
		return 0, fmt.Errorf("price %q: want a decimal number above zero of at most %d digits, no leading zero", s, MaxPrice)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("price %q: %v", s, err)
	}
	return v, nil
}

// Format returns the file holding pins, sorted by origin. Every pin must
// pass CheckOrigin and CheckProvider, no origin twice and at most MaxPins,
// else it returns an error and nothing.
func Format(pins []Pin) ([]byte, error) {
	if len(pins) > MaxPins {
		return nil, fmt.Errorf("pinfile: %d pins, limit %d", len(pins), MaxPins)
	}
	sorted := append([]Pin(nil), pins...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Origin < sorted[j].Origin })
	var b bytes.Buffer
	b.WriteString(Header + "\n")
	for i, p := range sorted {
		if err := errors.Join(CheckOrigin(p.Origin), CheckProvider(p.Provider)); err != nil {
			return nil, fmt.Errorf("pinfile: %w", err)
		}
		if i > 0 && sorted[i-1].Origin == p.Origin {
			return nil, fmt.Errorf("pinfile: origin %s pinned twice", p.Origin)
		}
		b.WriteString(p.Origin + " " + p.Provider)
		if p.Price != 0 {
			b.WriteString(" " + strconv.FormatUint(p.Price, 10))
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// CheckOrigin accepts an origin as the consumer's Transport writes it:
// "http://" or "https://" and a lower-case host with an optional port
// (letters, digits, ".-_:" and the brackets of an IPv6 literal), at most
// MaxOrigin bytes.
func CheckOrigin(s string) error {
	if len(s) > MaxOrigin {
		return fmt.Errorf("origin of %d bytes, limit %d", len(s), MaxOrigin)
	}
	host, ok := strings.CutPrefix(s, "https://")
	if !ok {
		host, ok = strings.CutPrefix(s, "http://")
	}
	if !ok || host == "" {
		return fmt.Errorf("origin %q is not http:// or https:// and a host", s)
	}
	for _, c := range []byte(host) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(".-_:[]", c) >= 0) {
			return fmt.Errorf("origin %q: byte %q is not allowed in a host", s, c)
		}
	}
	return nil
}

// CheckProvider accepts an agent ID string (letters, digits, '@' and '-'),
// 1 to MaxProvider bytes.
func CheckProvider(s string) error {
	if s == "" || len(s) > MaxProvider {
		return fmt.Errorf("provider of %d bytes, want 1 to %d", len(s), MaxProvider)
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '@' || c == '-') {
			return fmt.Errorf("provider %q: byte %q is not allowed in an agent ID", s, c)
		}
	}
	return nil
}
