package store

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// AcceptedAtLayout is the layout of accepted_at in exports: RFC 3339 in
// UTC with nanoseconds, fixed width so that the text sorts as the time
// does.
const AcceptedAtLayout = "2006-01-02T15:04:05.000000000Z07:00"

// exportColumns are the CSV header and the JSON field names, in order.
var exportColumns = []string{
	"payer", "provider", "epoch", "ordinal", "total", "price", "resource", "accepted_at", "signature", "outcome", "sold",
}

// exportRow is one receipt as billing systems read it. The signature is
// lowercase hex without a prefix; agent IDs are too unless an ExportOption
// formats them.
type exportRow struct {
	Payer      string `json:"payer"`
	Provider   string `json:"provider"`
	Epoch      uint32 `json:"epoch"`
	Ordinal    uint64 `json:"ordinal"`
	Total      uint64 `json:"total"`
	Price      uint64 `json:"price"`
	Resource   string `json:"resource"`
	AcceptedAt string `json:"accepted_at"`
	Signature  string `json:"signature"`
	Outcome    string `json:"outcome"`
	Sold       uint64 `json:"sold"`
}

// ExportOption changes how WriteCSV and WriteJSONL render a receipt.
type ExportOption func(*exportConfig)

type exportConfig struct {
	agent func(agentIDBytes []byte) string
}

// WithAgentFormat renders the payer and provider columns with format
// instead of hex (the provider passes one that writes bech32 agent IDs, as
// the chain's tools print them).
func WithAgentFormat(format func(agentIDBytes []byte) string) ExportOption {
	return func(c *exportConfig) { c.agent = format }
}

func exportSettings(opts []ExportOption) exportConfig {
	c := exportConfig{agent: hex.EncodeToString}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func (c exportConfig) row(r Receipt) exportRow {
	return exportRow{
		Payer:      c.agent([]byte(r.Warrant.Payer)),
		Provider:   c.agent([]byte(r.Warrant.Provider)),
		Epoch:      r.Payment.Epoch,
		Ordinal:    r.Payment.Ordinal,
		Total:      r.Payment.Total,
		Price:      r.Price,
		Resource:   r.Resource,
		AcceptedAt: r.AcceptedAt.UTC().Format(AcceptedAtLayout),
		Signature:  hex.EncodeToString(r.Payment.Signature[:]),
		Outcome:    r.Outcome.String(),
		Sold:       sold(r),
	}
}

// sold is what r's piece earned: if it was served, its cost, or the price
// paid when that is more; 0 if it was credited or is still pending.
func sold(r Receipt) uint64 {
	if r.Outcome != Served {
		return 0
	}
	return max(r.Cost(), r.Price)
}

func (row exportRow) record() []string {
	return []string{
		row.Payer,
		row.Provider,
		strconv.FormatUint(uint64(row.Epoch), 10),
		strconv.FormatUint(row.Ordinal, 10),
		strconv.FormatUint(row.Total, 10),
		strconv.FormatUint(row.Price, 10),
		neutralise(row.Resource),
		row.AcceptedAt,
		row.Signature,
		row.Outcome,
		strconv.FormatUint(row.Sold, 10),
	}
}

// neutralise makes a CSV cell open as text in a spreadsheet: a cell that
// starts with =, +, -, @, a tab or a carriage return would run as a formula
// (CSV injection), so it gets a leading single quote, as OWASP advises.
// Only the resource needs it: it is the one column a consumer chooses; the
// others are numbers, hex, bech32 and times.
func neutralise(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// WriteCSV writes the receipts f selects to w as CSV (RFC 4180, via
// encoding/csv), in the order of Store.Receipts: a header row, then one row
// per receipt with the columns payer, provider (hex of the agent ID bytes,
// unless WithAgentFormat says otherwise),
// epoch, ordinal, total, price, resource, accepted_at (AcceptedAtLayout),
// signature (hex), outcome (served, credited or pending: see Outcome) and
// sold. price is what the payment added to the cumulative total, which is
// what the chain pays; sold is what the piece earned: its price (Cost, or
// price when more was paid) when served, 0 when credited or pending, so a
// piece the consumer did not receive is never counted as sold. Summed over
// a warrant, the two differ by the credit the provider holds for the payer
// (WarrantSummary.Credit). A resource that a spreadsheet would take for a
// formula (starting with =, +, -, @, tab or carriage return) is written
// with a leading ' so that it opens as text. On error, w may hold a
// partial export.
func WriteCSV(ctx context.Context, s Store, f ReceiptFilter, w io.Writer, opts ...ExportOption) error {
	c := exportSettings(opts)
	cw := csv.NewWriter(w)
	if err := cw.Write(exportColumns); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	err := s.Receipts(ctx, f, func(r Receipt) error {
		return cw.Write(c.row(r).record())
	})
	if err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	return nil
}

// WriteJSONL writes the receipts f selects to w as JSON Lines, in the order
// of Store.Receipts: one object per line with the fields of WriteCSV's
// columns; epoch, ordinal, total, price and sold are JSON numbers, the
// rest strings. On error, w may hold a partial export.
func WriteJSONL(ctx context.Context, s Store, f ReceiptFilter, w io.Writer, opts ...ExportOption) error {
	c := exportSettings(opts)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw) // Encode ends each value with a newline
	enc.SetEscapeHTML(false)
	err := s.Receipts(ctx, f, func(r Receipt) error {
		return enc.Encode(c.row(r))
	})
	if err != nil {
		return fmt.Errorf("export jsonl: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export jsonl: %w", err)
	}
	return nil
}
