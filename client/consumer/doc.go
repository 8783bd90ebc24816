// Package consumer is the paying side of micropay (DESIGN.md §5): the
// consumer's key, its warrants, a payer that signs payments, and an
// http.RoundTripper that pays 402 answers automatically within caps.
//
// Files, one role each:
//
//   - keyfile.go: the ed25519 key in a file of its own (hex seed, mode
//     0600, never overwritten; LoadKeyFile refuses looser permissions).
//   - consumer.go: Consumer registers the key and adds, tops up, revokes,
//     closes and inspects warrants, over the chain seam (package chain).
//   - payer.go: Payer signs payments. Per provider it keeps a Position
//     (epoch, newest ordinal, total, highest total signed) and saves the
//     new position before it signs, so a crash can never make it sign two
//     different totals under one ordinal. It takes a warrant's epoch from
//     the chain, never from a provider alone, and never signs on a chain
//     figure above what it signed itself (StateMismatchError). It also
//     keeps whether a payment's outcome is in doubt (Position.Doubt), so a
//     later process asks the provider for its credit before paying.
//   - resync.go: Payer.Resync, the confirmed recovery from a state
//     mismatch: it adopts the chain's figures once a person said yes.
//   - state.go: the StateStore the payer keeps positions in: PebbleState,
//     durable (every save synced), and MemState, for tests. Both pass one
//     conformance suite.
//   - transport.go: Transport, the x402 client (package x402): on a 402
//     offering a micropay-warrant payment it checks the origin's pinned
//     provider and price and the spending caps, signs with the Payer,
//     sends the request again with PAYMENT-SIGNATURE and reads
//     PAYMENT-RESPONSE to count what it spent. With the origin's provider
//     and price pinned it pays on the first request (one round trip per
//     piece) and falls back to the 402 exchange when that payment is
//     refused on other terms. Payments to one provider are serialized so
//     they arrive in ordinal order.
//   - send.go: one paid request: the PAYMENT-SIGNATURE, one retry with the
//     identical header after a failure in transit (reported as an Event),
//     and the reading of the provider's verdict.
//   - pins.go: Pins, each origin bound to the provider it is paid for on
//     first use and to the price it was paid, in memory or in a
//     known-providers file (layout and its fuzzed parser:
//     internal/pinfile), like SSH's known_hosts.
//
// A refused payment is rolled back (Payer.Refused): its ordinal stays used,
// but the next payment's total builds on the total before it, so a refusal
// followed by a retry never charges twice.
package consumer
