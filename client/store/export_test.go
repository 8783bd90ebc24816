package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

// exportFixture is a store with receipts whose resources need quoting or
// escaping in CSV and JSON, of two warrants appended out of order.
func exportFixture(t *testing.T) (store.Store, []store.Receipt) {
	t.Helper()
	a := store.WarrantID{Payer: "\x01\x00\xaa\xaa", Provider: "\x01\x00\xbb"}
	b := store.WarrantID{Payer: "\x01\x00\xcc", Provider: "\x02"}
	at := time.Date(2025, 6, 30, 23, 59, 59, 120_000_000, time.FixedZone("CEST", 2*3600))
	mk := func(w store.WarrantID, epoch uint32, ordinal, total, price uint64, resource string, at time.Time) store.Receipt {
		r := store.Receipt{Warrant: w, Payment: payment.Payment{Epoch: epoch, Ordinal: ordinal, Total: total}, Price: price, Resource: resource, AcceptedAt: at}
		for i := range r.Payment.Signature {
			r.Payment.Signature[i] = byte(i) ^ byte(ordinal)
		}
		return r
	}
	want := []store.Receipt{
		mk(a, 1, 1, 100, 100, "/api/v1/items?id=1,2", at),
		mk(a, 1, 2, 250, 150, "say \"hi\"\nnew line; <b>&</b> ✓", at.Add(time.Nanosecond)),
		mk(a, 2, 1, 1<<64-1, 1<<64-1, "", at.Add(time.Hour)),
		mk(b, 4_294_967_295, 9, 9, 9, "meter:gpu-seconds", time.Unix(0, 0)),
	}
	s := store.NewMemory()
	t.Cleanup(func() { s.Close() })
	for _, r := range []store.Receipt{want[3], want[0], want[1], want[2]} {
		if err := s.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return s, want
}

// wantFields is r as an export row, computed independently of export.go.
func wantFields(r store.Receipt) []string {
	return []string{
		hex.EncodeToString([]byte(r.Warrant.Payer)),
		hex.EncodeToString([]byte(r.Warrant.Provider)),
		strconv.FormatUint(uint64(r.Payment.Epoch), 10),
		strconv.FormatUint(r.Payment.Ordinal, 10),
		strconv.FormatUint(r.Payment.Total, 10),
		strconv.FormatUint(r.Price, 10),
		r.Resource,
		r.AcceptedAt.UTC().Format("2006-01-02T15:04:05.000000000Z"),
		hex.EncodeToString(r.Payment.Signature[:]),
		"served",
		strconv.FormatUint(r.Price, 10),
	}
}

var header = []string{"payer", "provider", "epoch", "ordinal", "total", "price", "resource", "accepted_at", "signature", "outcome", "sold"}

// exportCSV exports every receipt of s as CSV and parses it back.
func exportCSV(t *testing.T, s store.Store) [][]string {
	t.Helper()
	var buf bytes.Buffer
	if err := store.WriteCSV(context.Background(), s, store.ReceiptFilter{}, &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, buf.String())
	}
	return rows
}

func TestWriteCSV(t *testing.T) {
	s, want := exportFixture(t)
	rows := exportCSV(t, s)
	if len(rows) != 1+len(want) {
		t.Fatalf("%d rows, want a header and %d", len(rows), len(want))
	}
	requireRow(t, "header", rows[0], header)
	for i, r := range want {
		requireRow(t, "row "+strconv.Itoa(i+1), rows[i+1], wantFields(r))
	}
	// accepted_at parses back to the instant, in UTC.
	got, err := time.Parse(time.RFC3339Nano, rows[2][7])
	if err != nil || !got.Equal(want[1].AcceptedAt) || rows[2][7] != "2025-06-30T21:59:59.120000001Z" {
		t.Fatalf("accepted_at %q parses to %v, %v; want %v", rows[2][7], got, err, want[1].AcceptedAt)
	}
}

// TestWriteCSVNeutralisesFormulas: a resource is whatever a consumer asked
// for, so a cell a spreadsheet would run as a formula (starting with =, +,
// -, @, a tab or a carriage return) is written with a leading ' and opens
// as text; JSON Lines keeps the resource as it was.
func TestWriteCSVNeutralisesFormulas(t *testing.T) {
	w := store.WarrantID{Payer: "\x01\x00\xaa", Provider: "\x01\x00\xbb"}
	s := store.NewMemory()
	t.Cleanup(func() { s.Close() })
	resources := map[string]string{
		"=cmd|' /C calc'!A0":             "'=cmd|' /C calc'!A0",
		"+1+1":                           "'+1+1",
		"-2+3":                           "'-2+3",
		"@SUM(A1:A9)":                    "'@SUM(A1:A9)",
		"\t=1":                           "'\t=1",
		"\r=1":                           "'\r=1",
		"/piece/=1":                      "/piece/=1",
		"'quoted":                        "'quoted",
		"=HYPERLINK(\"http://x\",\"y\")": "'=HYPERLINK(\"http://x\",\"y\")",
	}
	var order []string
	ordinal := uint64(0)
	for res := range resources {
		ordinal++
		order = append(order, res)
		r := store.Receipt{Warrant: w, Payment: payment.Payment{Epoch: 1, Ordinal: ordinal, Total: ordinal}, Price: 1, Resource: res}
		if err := s.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	rows := exportCSV(t, s)
	for i, res := range order {
		if got := rows[i+1][6]; got != resources[res] {
			t.Errorf("resource %q exported as %q, want %q", res, got, resources[res])
		}
	}
	var buf bytes.Buffer
	if err := store.WriteJSONL(context.Background(), s, store.ReceiptFilter{}, &buf); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&buf)
	for _, res := range order {
		var row struct{ Resource string }
		if err := dec.Decode(&row); err != nil || row.Resource != res {
			t.Errorf("jsonl resource %q (err %v), want %q unchanged", row.Resource, err, res)
		}
	}
}

func TestWriteJSONL(t *testing.T) {
	s, want := exportFixture(t)
	var buf bytes.Buffer
	if err := store.WriteJSONL(context.Background(), s, store.ReceiptFilter{}, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, line := range lines {
		// Numbers stay numbers, exactly (a uint64 does not fit a float64).
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, line)
		}
		if len(obj) != len(header) {
			t.Fatalf("line %d has %d fields, want %d: %s", i+1, len(obj), len(header), line)
		}
		got := make([]string, len(header))
		for j, name := range header {
			switch v := obj[name].(type) {
			case json.Number:
				if !numberColumn(j) {
					t.Fatalf("line %d: %s is a number, want a string", i+1, name)
				}
				got[j] = v.String()
			case string:
				if numberColumn(j) {
					t.Fatalf("line %d: %s is a string, want a number", i+1, name)
				}
				got[j] = v
			default:
				t.Fatalf("line %d: %s is %T", i+1, name, v)
			}
		}
		requireRow(t, "line "+strconv.Itoa(i+1), got, wantFields(want[i]))
	}
	if strings.Contains(buf.String(), `\u003c`) {
		t.Error("HTML escaping in a JSONL export")
	}
}

func requireRow(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d fields, want %d: %q", what, len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s, %s: got %q, want %q", what, header[i], got[i], want[i])
		}
	}
}

// TestExportFilter: the filter reaches the store; an empty selection is a
// header alone, or nothing.
func TestExportFilter(t *testing.T) {
	s, want := exportFixture(t)
	ctx := context.Background()
	b := want[3].Warrant
	var buf bytes.Buffer
	if err := store.WriteCSV(ctx, s, store.ReceiptFilter{Warrant: &b}, &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("filtered export: %q, %v", rows, err)
	}
	requireRow(t, "filtered row", rows[1], wantFields(want[3]))

	none := store.ReceiptFilter{Since: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	buf.Reset()
	if err := store.WriteCSV(ctx, s, none, &buf); err != nil || buf.String() != strings.Join(header, ",")+"\n" {
		t.Fatalf("empty CSV export: %q, %v", buf.String(), err)
	}
	buf.Reset()
	if err := store.WriteJSONL(ctx, s, none, &buf); err != nil || buf.Len() != 0 {
		t.Fatalf("empty JSONL export: %q, %v", buf.String(), err)
	}
}

// TestExportErrors: a failing writer, a cancelled context and a closed
// store each end the export with their error.
func TestExportErrors(t *testing.T) {
	s, _ := exportFixture(t)
	writeErr := errors.New("disk full")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	closed := store.NewMemory()
	closed.Close()

	for name, export := range map[string]func(context.Context, store.Store, store.ReceiptFilter, io.Writer, ...store.ExportOption) error{
		"csv": store.WriteCSV, "jsonl": store.WriteJSONL,
	} {
		if err := export(context.Background(), s, store.ReceiptFilter{}, failingWriter{writeErr}); !errors.Is(err, writeErr) {
			t.Errorf("%s to a failing writer: got %v, want its error", name, err)
		}
		if err := export(cancelled, s, store.ReceiptFilter{}, io.Discard); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v", name, err)
		}
		if err := export(context.Background(), closed, store.ReceiptFilter{}, io.Discard); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s of a closed store: got %v", name, err)
		}
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestExportAgentFormat(t *testing.T) {
	s := store.NewMemory()
	r := store.Receipt{
		Warrant:    store.WarrantID{Payer: "\x01\x02", Provider: "\x03"},
		Payment:    payment.Payment{Epoch: 1, Ordinal: 1, Total: 5},
		Price:      5,
		AcceptedAt: time.Unix(0, 0),
	}
	if err := s.Append(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	name := func(raw []byte) string { return fmt.Sprintf("agent-%x", raw) }
	if err := store.WriteCSV(context.Background(), s, store.ReceiptFilter{}, &b, store.WithAgentFormat(name)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(b.String(), "\n")[1]; !strings.HasPrefix(got, "agent-0102,agent-03,") {
		t.Fatalf("row %q does not use the agent format", got)
	}
}

// numberColumn reports whether column j of header is a JSON number.
func numberColumn(j int) bool { return (j >= 2 && j <= 5) || header[j] == "sold" }

// TestExportShowsCreditedPieceAsNotSold: a piece paid for and not
// delivered is exported as credited and sold 0; the payment that used the
// credit up is exported with the price it added to the total and the
// piece's full price as sold.
func TestExportShowsCreditedPieceAsNotSold(t *testing.T) {
	ctx := context.Background()
	w := store.WarrantID{Payer: "\x01\xaa", Provider: "\x01\xbb"}
	s := store.NewMemory()
	t.Cleanup(func() { s.Close() })
	failed := store.Receipt{Warrant: w, Payment: payment.Payment{Epoch: 1, Ordinal: 1, Total: 100}, Price: 100, Asked: 100, Outcome: store.Pending, Resource: "/a"}
	if err := s.Append(ctx, failed); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Conclude(ctx, failed.Key(), false); err != nil {
		t.Fatal(err)
	}
	next := store.Receipt{Warrant: w, Payment: payment.Payment{Epoch: 1, Ordinal: 2, Total: 100}, Price: 0, Asked: 100, Resource: "/b"}
	if err := s.Append(ctx, next); err != nil {
		t.Fatal(err)
	}
	rows := exportCSV(t, s)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	col := func(row []string, name string) string { return row[slices.Index(header, name)] }
	if col(rows[1], "outcome") != "credited" || col(rows[1], "sold") != "0" || col(rows[1], "price") != "100" {
		t.Fatalf("credited piece exported as %v", rows[1])
	}
	if col(rows[2], "outcome") != "served" || col(rows[2], "sold") != "100" || col(rows[2], "price") != "0" {
		t.Fatalf("piece paid by the credit exported as %v", rows[2])
	}
}
