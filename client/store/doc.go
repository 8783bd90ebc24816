// Package store is the provider's durable record of what it accepted and
// what it settled.
//
// It holds, per warrant (payer → provider):
//
//   - every accepted payment as an itemized Receipt (price, resource,
//     acceptance time), in order of acceptance: the billing record, exported
//     with WriteCSV and WriteJSONL;
//   - the newest receipt, which is what a settle request submits (a payment
//     is cumulative, so the newest settles all before it), and a count of
//     receipts;
//   - the latest Settlement: where the settler's request stands, recorded
//     before the request is sent so that a restarted provider can resume;
//   - the warrant's credit: what the provider owes the payer for pieces it
//     was paid for and did not deliver.
//
// # Outcomes and credit
//
// A receipt records whether its piece was delivered (Outcome). A provider
// that serves a piece after storing its payment appends the receipt
// Pending and, once the response is written, concludes it (Conclude):
// Served, or Credited when the piece failed. A credited receipt's Cost
// joins the warrant's credit, durably, in the same synced batch; a later
// payment may fall short of its piece's price by at most the credit, and
// uses that much of it up (Append), so a credit is used once. A pending
// receipt found when the provider starts was cut off mid-request (a crash,
// kill -9): CreditPending credits it. Replay lets the newest receipt's
// piece be served again for a retried request: a credited one takes its
// Cost back out of the credit and is concluded again, so a piece that is
// credited and then delivered on retry is paid once and credited never.
// Settling the newest payment of a warrant whose credit is 0 pays for the
// pieces delivered (and any amount a payer chose to pay above a price).
//
// Two implementations share the Store interface and pass the same
// conformance suite (package storetest): Pebble, durable, on
// github.com/cockroachdb/pebble; and Memory, for tests and for a provider
// that needs no durability.
//
// # Durability
//
// Append and SaveSettlement return only once the write is synced to
// Pebble's write-ahead log (fsync), so a provider acknowledges a payment
// only after it would survive a crash or power loss. Concurrent writes
// share one sync (Pebble's group commit): the cost of a sync is paid once
// per batch of concurrent appends, not once per append. Append checks that
// the payment is newer than the warrant's newest and writes the receipt and
// the warrant's new newest in one batch, so the two never disagree.
//
// # Integrity
//
// Open keeps a sentinel file beside the store's directory naming the
// store's ID, which the database holds too; it refuses (ErrDamaged) a store
// that lost its CURRENT file, its write-ahead log, its identity or its
// directory, rather than open it empty and let the provider accept
// acknowledged payments again. A provider also compares its newest
// receipts with what the chain settled; an Acknowledgement records that
// the operator accepted a disagreement. A receipt's Resource is at most
// MaxResourceLen bytes; WriteCSV writes cells a spreadsheet would run as
// formulas with a leading quote.
//
// # Ownership
//
// Values passed in are copied; values returned (receipts, summaries,
// settlements, including the *Settlement in a WarrantSummary) belong to the
// caller, and the store keeps no reference to them. Times come back in UTC
// without a monotonic clock reading (AcceptedAt is the provider's wall-clock
// time, for billing only; deadlines use chain time).
//
// # Concurrency
//
// Every method of Pebble and Memory is safe for concurrent use. Appends to
// different warrants do not wait on each other; appends to one warrant are
// serialized, and of two racing appends of the same (epoch, ordinal)
// exactly one succeeds. A Receipts walk sees the store as it was when the
// walk started, and fn may call the store (Pebble's Close waits for the
// walk, so fn must not call Close). Every call after Close fails with
// ErrClosed.
//
// Methods check ctx when they start (and a walk on every receipt) and
// return ctx.Err() if it is done; a write that has begun is not abandoned.
package store
