package store

import (
	"context"
	"errors"
	"fmt"
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
	// ErrUnderpaid: Append of a receipt whose Price falls short of its
	// piece's price (Asked) by more than the warrant's credit. Nothing is
	// stored.
	ErrUnderpaid = errors.New("store: payment falls short of the price by more than the warrant's credit")
	// ErrNotNewest: Replay of a receipt that is not the warrant's newest.
	ErrNotNewest = errors.New("store: receipt is not the warrant's newest")
	// ErrNoReceipt: Replay or Conclude of a receipt that is not stored.
	ErrNoReceipt = errors.New("store: no such receipt")
)

// Outcome is whether the piece a receipt paid for was delivered.
type Outcome uint8

// Outcomes. The zero value, Served, is what a receipt appended without an
// outcome records (and what receipts written before outcomes existed
// decode as).
const (
	// Served: the piece was delivered.
	Served Outcome = iota
	// Pending: the payment is stored and its piece is being served. A
	// pending receipt found when a provider starts was never finished
	// (the provider died mid-request): CreditPending credits it.
	Pending
	// Credited: the piece was not delivered; its price (Receipt.Cost) is
	// in the warrant's credit, which the next payments use up.
	Credited
)

// String returns the outcome's name as the billing export writes it.
func (o Outcome) String() string {
	switch o {
	case Served:
		return "served"
	case Pending:
		return "pending"
	case Credited:
		return "credited"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// ReceiptKey names one receipt.
type ReceiptKey struct {
	Warrant WarrantID
	Epoch   uint32
	Ordinal uint64
}

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
	// Asked is the price of the piece the payment bought; 0 means Price.
	// Price falls short of it by the warrant's credit the payment used up,
	// or exceeds it by what the payment added to the credit.
	Asked uint64
	// Outcome says whether the piece was delivered.
	Outcome Outcome
	// Resource names what was bought (a URL path, a meter ID).
	Resource string
	// AcceptedAt is the provider's wall-clock time of acceptance, for the
	// billing record only (deadlines use chain time).
	AcceptedAt time.Time
}

// Key returns the key naming r.
func (r Receipt) Key() ReceiptKey {
	return ReceiptKey{Warrant: r.Warrant, Epoch: r.Payment.Epoch, Ordinal: r.Payment.Ordinal}
}

// Cost is the price of the piece r paid for: Asked, or Price when Asked is
// 0. A credited receipt adds Cost to its warrant's credit.
func (r Receipt) Cost() uint64 {
	if r.Asked == 0 {
		return r.Price
	}
	return r.Asked
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
	Warrant  WarrantID
	Newest   Receipt
	Receipts uint64 // number of receipts in all epochs
	// Credit is what the provider owes the payer for pieces paid and not
	// delivered: the sum of the credited receipts' Cost less what later
	// payments used up (see Store.Append). It carries across epochs.
	Credit         uint64
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
	//
	// r.Outcome is Served or Pending. A payment that falls short of its
	// piece's price (r.Price < r.Cost()) uses that much of the warrant's
	// credit up; one short by more than the credit fails with
	// ErrUnderpaid, storing nothing. Paying more adds no credit.
	Append(ctx context.Context, r Receipt) error
	// Conclude records how the piece of the receipt k went and returns
	// the receipt as stored and the warrant's credit. The record is
	// durable once any later synced write of the store has returned; a
	// durable store may return before that (Pebble syncs it in the
	// background), and a crash in between leaves the receipt pending, for
	// CreditPending to credit: the consumer-safe side. A pending
	// receipt becomes Served, or Credited (its Cost joins the credit) when
	// served is false. A credited receipt that is the warrant's newest
	// becomes Served if served is true and the credit still holds its
	// Cost (a request that finished after another one credited the
	// piece); otherwise a concluded receipt stays as it is.
	Conclude(ctx context.Context, k ReceiptKey, served bool) (Receipt, uint64, error)
	// Replay durably records that the piece of the warrant's newest
	// receipt k is being served again: a credited receipt takes its Cost
	// back out of the credit and becomes Pending, to be concluded by the
	// replay; a served or pending one stays as it is. It returns the
	// receipt as stored and the warrant's credit, and fails with
	// ErrNotNewest when k is not the newest.
	Replay(ctx context.Context, k ReceiptKey) (Receipt, uint64, error)
	// CreditPending credits every pending receipt of warrants of provider
	// (Conclude with served false) and returns them: a provider calls it
	// when it starts, before serving, since no request of its own is in
	// flight then.
	CreditPending(ctx context.Context, provider string) ([]Receipt, error)
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
