package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Rules both implementations share, so Memory behaves as Pebble does.

// maxAgentIDSize is the longest payer or provider a warrant may name: keys
// hold the length in one byte, as the signed payment bytes do.
const maxAgentIDSize = 255

// checkWarrant rejects a warrant the store cannot key.
func checkWarrant(w WarrantID) error {
	if len(w.Payer) > maxAgentIDSize || len(w.Provider) > maxAgentIDSize {
		return fmt.Errorf("store: warrant %s: agent ID longer than %d bytes", warrantHex(w), maxAgentIDSize)
	}
	return nil
}

// MaxResourceLen is the most bytes a receipt's Resource may hold: enough
// for a URL path and query or a meter ID, small enough that a consumer
// cannot grow the billing record by a megabyte per payment. Append refuses
// a longer one with ErrResourceTooLong.
const MaxResourceLen = 1 << 10

// ErrResourceTooLong: Append of a receipt whose Resource is longer than
// MaxResourceLen (CheckResource). Nothing is stored.
var ErrResourceTooLong = errors.New("store: resource too long")

// CheckResource reports whether resource fits a receipt: an error wrapping
// ErrResourceTooLong, naming the length and the limit, when it is longer
// than MaxResourceLen. A provider calls it before it accepts a payment, so
// that it refuses the request instead of failing to store it.
func CheckResource(resource string) error {
	if len(resource) > MaxResourceLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrResourceTooLong, len(resource), MaxResourceLen)
	}
	return nil
}

// checkReceipt rejects a receipt the store must not keep.
func checkReceipt(r Receipt) error {
	if err := checkWarrant(r.Warrant); err != nil {
		return err
	}
	if err := CheckResource(r.Resource); err != nil {
		return fmt.Errorf("store: receipt %d/%d of warrant %s: %w", r.Payment.Epoch, r.Payment.Ordinal, warrantHex(r.Warrant), err)
	}
	return nil
}

// canonicalTime is t as the store gives it back: in UTC, without a
// monotonic clock reading.
func canonicalTime(t time.Time) time.Time {
	return time.Unix(t.Unix(), int64(t.Nanosecond())).UTC()
}

// compareWarrants orders warrants by Payer, then Provider, as byte strings:
// the order of Warrants and Receipts.
func compareWarrants(a, b WarrantID) int {
	if c := strings.Compare(a.Payer, b.Payer); c != 0 {
		return c
	}
	return strings.Compare(a.Provider, b.Provider)
}

// acceptedIn reports whether a receipt accepted at t passes the time bounds
// of f.
func acceptedIn(f ReceiptFilter, t time.Time) bool {
	if !f.Since.IsZero() && t.Before(f.Since) {
		return false
	}
	return f.Until.IsZero() || t.Before(f.Until)
}

// warrantHex formats w for errors as payer→provider in hex.
func warrantHex(w WarrantID) string {
	return hex.EncodeToString([]byte(w.Payer)) + "→" + hex.EncodeToString([]byte(w.Provider))
}

// newer reports whether r is above the newest (epoch, ordinal) of its
// warrant: a higher epoch, or the same epoch and a higher ordinal.
func newer(r Receipt, epoch uint32, ordinal uint64) bool {
	p := r.Payment
	return p.Epoch > epoch || (p.Epoch == epoch && p.Ordinal > ordinal)
}

func notNewer(r Receipt, epoch uint32, ordinal uint64) error {
	return fmt.Errorf("append warrant %s epoch %d ordinal %d (newest: epoch %d ordinal %d): %w",
		warrantHex(r.Warrant), r.Payment.Epoch, r.Payment.Ordinal, epoch, ordinal, ErrNotNewer)
}

// appendCredit returns the credit of r's warrant once r is appended to a
// warrant holding credit: less what r falls short of its cost by. Paying
// more than the cost adds no credit (a consumer's choice, not the
// provider's debt). It refuses an outcome other than Served or Pending,
// and a receipt short of its cost by more than the credit (ErrUnderpaid).
func appendCredit(r Receipt, credit uint64) (uint64, error) {
	if r.Outcome != Served && r.Outcome != Pending {
		return 0, fmt.Errorf("store: append receipt %d/%d of warrant %s as %s: a receipt is appended served or pending", r.Payment.Epoch, r.Payment.Ordinal, warrantHex(r.Warrant), r.Outcome)
	}
	if r.Price >= r.Cost() {
		return credit, nil
	}
	if short := r.Cost() - r.Price; short > credit {
		return 0, fmt.Errorf("append receipt %d/%d of warrant %s: price %d, credit %d, the piece costs %d: %w",
			r.Payment.Epoch, r.Payment.Ordinal, warrantHex(r.Warrant), r.Price, credit, r.Cost(), ErrUnderpaid)
	}
	return credit - (r.Cost() - r.Price), nil
}

// conclude returns r and its warrant's credit after its piece went as
// served says (Store.Conclude); newest reports whether r is the warrant's
// newest receipt.
func conclude(r Receipt, credit uint64, newest, served bool) (Receipt, uint64, error) {
	switch {
	case r.Outcome == Pending && served:
		r.Outcome = Served
	case r.Outcome == Pending:
		c, err := addCredit(credit, r.Cost())
		if err != nil {
			return r, credit, err
		}
		r.Outcome, credit = Credited, c
	case r.Outcome == Credited && served && newest && credit >= r.Cost():
		r.Outcome, credit = Served, credit-r.Cost()
	}
	return r, credit, nil
}

// replayed returns receipt r and its warrant's credit once its piece is
// being served again (Store.Replay); newest reports whether r is the
// warrant's newest receipt, which only can be replayed.
func replayed(r Receipt, credit uint64, newest bool) (Receipt, uint64, error) {
	if !newest {
		return r, credit, fmt.Errorf("receipt %d/%d of warrant %s: %w", r.Payment.Epoch, r.Payment.Ordinal, warrantHex(r.Warrant), ErrNotNewest)
	}
	if r.Outcome != Credited {
		return r, credit, nil
	}
	if credit < r.Cost() {
		return r, credit, fmt.Errorf("%w: warrant %s holds credit %d, less than its newest credited receipt's cost %d", ErrCorrupt, warrantHex(r.Warrant), credit, r.Cost())
	}
	r.Outcome, credit = Pending, credit-r.Cost()
	return r, credit, nil
}

// addCredit adds amount to credit, refusing an overflow.
func addCredit(credit, amount uint64) (uint64, error) {
	if credit+amount < credit {
		return 0, fmt.Errorf("store: credit %d + %d overflows", credit, amount)
	}
	return credit + amount, nil
}
