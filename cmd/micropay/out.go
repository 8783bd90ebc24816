package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// printJSON writes v as indented JSON.
func (a *app) printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// emit prints v as JSON with --json, else the human text.
func (a *app) emit(v any, human string) {
	if a.json {
		a.printJSON(os.Stdout, v)
		return
	}
	fmt.Fprintln(os.Stdout, human)
}

// tokens formats a base-token amount with thousands separators and unit.
func tokens(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String() + " base tokens"
}

// parseAmount parses an amount of base tokens; underscores and commas are
// allowed as separators (1_000_000, 1,000,000).
func parseAmount(what, s string) (uint64, error) {
	clean := strings.NewReplacer("_", "", ",", "").Replace(s)
	v, err := strconv.ParseUint(clean, 10, 64)
	if err != nil {
		return 0, usageErrorf("%s %q is not a whole number of base tokens", what, s)
	}
	return v, nil
}

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}
