// Package provider is the provider side of micropay: it accepts signed
// payments under the same rules the contract settles by, stores each one
// durably before acknowledging it, and settles warrants on chain before
// their deadline.
//
// A Provider is the core: Accept checks and stores a payment; the settler
// (Run) settles when a warrant's unsettled amount passes the threshold, on a
// schedule, on demand (SettleNow) and at once when a warrant is revoked,
// always before the deadline minus the safety margin, retrying with backoff
// and reconciling unknown outcomes by reading the warrant on chain. It
// judges deadlines by chain time only; its own clock drives only timers.
//
// http.go puts it on HTTP: Paywall (x402 v2 headers) wraps any
// http.Handler, PayHandler takes payments for metered services that are not
// HTTP (from meters holding a token, at the configured price), OperatorAPI
// serves billing systems, and Metrics exports Prometheus metrics. Listen
// serves them within a ServerConfig's timeouts and size and connection
// limits.
//
// A consumer pays only for pieces it received (docs/protocol.md §9). The
// paywall and PayHandler store a payment pending (Payment.Pending) and
// conclude it (Conclude) once the answer is written: served, or credited
// when the handler answers 5xx, a write fails or it panics; a credit is
// recorded durably before the 5xx goes out and lowers the price asked of
// the warrant's next payment, once. New credits every receipt left pending
// by the last stop (a provider killed mid-request) before it serves. The
// warrant's newest payment sent again for the same resource is served
// again without a new charge (Accepted.Replayed); a credited one takes its
// credit back, so a piece cut off and then retried is paid once.
//
// Strangers cost little: the provider holds state only for warrants that
// exist, remembers payers without one for a short while in a bounded cache
// and rate-limits each client's chain look-ups of payers it does not know
// (LookupLimits).
package provider
