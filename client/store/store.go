package store

import (
	"context"
	"errors"
	"time"

	"github.com/micropay/micropay/contract/payment"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotNewer: Append of a payment whose (epoch, ordinal) is not above
	// the warrant's newest stored one.
	ErrNotNewer = errors.New("store: payment is not newer than the stored one")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// WarrantID names a warrant from the provider's side. Payer and Provider
// are ISC AgentID.Bytes() held in strings, so a WarrantID is comparable and
// usable as a map key. Each is at most 255 bytes (the length is one byte in
// the signed payment and in the store's keys). Where the store lists
// warrants, they are ordered by Payer, then Provider, comparing bytes.
type WarrantID struct {
	Payer    string
	Provider string
}

// Receipt is one accepted payment: the itemized billing record and, for the
// newest of a warrant, what the settler settles.
type Receipt struct {
	Warrant WarrantID
	Payment payment.Payment
	// Price is what this payment bought: its total less the previous
	// accepted total of the same epoch.
	Price uint64
	// Resource names what was bought (a URL path, a meter ID).
	Resource string
	// AcceptedAt is the provider's wall-clock time of acceptance, for the
	// billing record only (deadlines use chain time).
	AcceptedAt time.Time
}

// SettlementState is where a settle request stands.
type SettlementState uint8

// Settlement states.
const (
	// Submitted: recorded before the request is sent; its outcome is not
	// known yet (on restart, reconcile it against the chain).
	Submitted SettlementState = iota + 1
	// Landed: the chain settled the payment (or a newer one).
	Landed
	// Failed: the chain rejected the request; Error says why.
	Failed
)

// Settlement is the settler's durable record of one settle request.
type Settlement struct {
	Warrant   WarrantID
	Epoch     uint32
	Ordinal   uint64 // newest payment the request settles
	Total     uint64
	State     SettlementState
	RequestID string // chain request ID once known
	Attempt   int    // 1 for the first try
	Paid      uint64 // base tokens the chain paid (Landed)
	UpdatedAt time.Time
	Error     string
}

// WarrantSummary is a warrant's newest receipt and latest settlement.
type WarrantSummary struct {
	Warrant        WarrantID
	Newest         Receipt
	Receipts       uint64      // number of receipts in all epochs
	LastSettlement *Settlement // nil when none
}

// Acknowledgement records that the operator accepted a disagreement
// between the store and the chain for one warrant: the chain had settled
// ordinals the store has no receipt for (a lost store, or another provider
// instance with the same key). The provider asks once per finding: it
// refuses to start on a finding that is not covered by the warrant's
// acknowledgement.
type Acknowledgement struct {
	Warrant        WarrantID
	ChainEpoch     uint32 // the warrant's epoch on chain when acknowledged
	ChainOrdinal   uint64 // its last settled ordinal on chain then
	AcknowledgedAt time.Time
}

// ReceiptFilter selects receipts. The zero value selects all.
type ReceiptFilter struct {
	Warrant *WarrantID // only this warrant
	Since   time.Time  // AcceptedAt at or after
	Until   time.Time  // AcceptedAt before (zero: no bound)
}

// Store is the provider's durable record. Implementations are safe for
// concurrent use by multiple goroutines.
type Store interface {
	// Append records r as the newest payment of r.Warrant and returns only
	// once it is durable (synced to disk for a durable store). It fails with
	// ErrNotNewer unless (epoch, ordinal) of r is above the newest stored
	// for the warrant. Concurrent appends share syncs (group commit).
	Append(ctx context.Context, r Receipt) error
	// Newest returns the newest receipt of w; ok is false when there is none.
	Newest(ctx context.Context, w WarrantID) (r Receipt, ok bool, err error)
	// Warrants lists every warrant that has a receipt, ordered by WarrantID.
	Warrants(ctx context.Context) ([]WarrantSummary, error)
	// Receipts calls fn for every receipt matching f, per warrant in order
	// of acceptance, warrants ordered by WarrantID. An error from fn stops
	// the walk and is returned as is. The walk sees the store as it was
	// when it started; fn may call the store, but not Close.
	Receipts(ctx context.Context, f ReceiptFilter, fn func(Receipt) error) error
	// SaveSettlement durably records s as the latest settlement of its
	// warrant.
	SaveSettlement(ctx context.Context, s Settlement) error
	// LastSettlement returns the latest settlement of w; ok is false when
	// there is none.
	LastSettlement(ctx context.Context, w WarrantID) (s Settlement, ok bool, err error)
	// Acknowledge durably records a as the acknowledgement of its
	// warrant, replacing any earlier one.
	Acknowledge(ctx context.Context, a Acknowledgement) error
	// Acknowledged returns the acknowledgement of w; ok is false when
	// there is none.
	Acknowledged(ctx context.Context, w WarrantID) (a Acknowledgement, ok bool, err error)
	// Close releases the store; later calls fail with ErrClosed.
	Close() error
}
