// Package sim runs scenario-driven simulations of micropay on the embedded
// Solo chain (client/solochain) and its logical clock: many consumers,
// several providers, pieces of service bought every few minutes,
// revocations, provider downtime and cheaters. Every run checks the
// system's invariants to the token and produces a Report.
//
//	sc, err := sim.Load("sim/scenarios/telecom-day.yaml")
//	rep, err := sim.Run(ctx, sc, sim.Options{})
//	rep.WriteText(os.Stdout)     // or json.Marshal(rep)
//
// Run returns an error listing the violations when an invariant fails; the
// report is returned with it.
//
// The report gives the payments attempted, accepted and rejected by
// reason; the outcome of every kind of cheat; the settlements (sent,
// landed, rejected, missed); the gas fees by payer; per provider what was
// settled, its gas fees and, per simulated hour, what it settled and the
// most it had acknowledged but not settled (its exposure); every loss with
// its cause; the invariants' results; and the wall time.
//
// # What runs
//
// The parties are real: each provider is a provider.Provider with an
// in-memory store, its settlement driven by RunOnce on a mock clock; the
// contract is the real micropay contract in the ISC VM. Consumers are
// simulated devices: each signs its payments with payment.Sign and keeps
// its (epoch, ordinal, total) in memory. Each consumer is assigned one
// provider, round robin, and holds one warrant with it.
//
// A simulation-only bank draws the funds from Solo's faucet and gives each
// party its L2 funds; setup requests (funding, opening the warrants with
// the payer's key registered) run 4,000 to a block, each consumer's
// funding and addWarrant in the same block (solochain.Embedded.PostBatch).
// Simulation time 0
// is the next midnight (UTC) of the chain's clock.
//
// # The engine
//
// Time is discrete. The engine advances Solo's logical clock one step at a
// time (a minute by default), which lets the contract's scheduled closes
// that fell due run; sets the providers' mock clock to the chain's time;
// runs the events due by then in order (pieces, revocations, cheats); then
// calls RunOnce on every provider that is up. Everything random comes from
// one math/rand source seeded by the scenario, drawn in a fixed order, and
// parties are iterated by index, so a scenario and seed give the same
// report (wall times aside).
//
// A consumer buying a piece tops up its warrant if its policy says so,
// signs its next payment (payment.Sign's bytes, with curve25519-voi's
// faster signer) and offers it to its provider (provider.Accept).
// A payment the provider refuses (exposure cap, a balance it has not seen
// topped up yet) is re-offered at the next piece; while the provider is
// down the consumer is turned away ("provider_down") without signing. A
// consumer whose warrant can no longer back a piece stops. A consumer that
// revokes stops buying at once.
//
// Providers read the chain through a cache of getWarrantInfo and
// getPublicKey answers that drops a warrant's entry as soon as a block
// carries a micropay event for it (the contract emits one for every state
// change); after every request the engine scans the new blocks. The
// providers therefore see exactly what the chain would answer, without a
// VM call per payment. Options.NoViewCache turns it off.
//
// At the end of the duration every provider comes back up and settles
// everything (SettleNow of all its warrants: settleMany batches); the
// clock then runs on until every revoked
// warrant has been closed by its scheduled close, and the providers settle
// once more, which records the settlements they missed.
//
// # Invariants
//
// Checked after every run, against the chain's final state and the
// contract's events (scanned block by block as the run goes):
//
//  1. Funds conserved. Per consumer: funded = final L2 balance + gas fees
//     paid + still locked in its warrant + paid to its provider + the fees
//     of its scheduled closes (each paid from its revoke deposit, the rest
//     of which comes back to it, docs/protocol.md §4) + deposits still in
//     flight on L1. Per
//     provider: final = funded + settled - gas fees. The bank and the
//     contract's own account balance likewise; the gas fees the parties
//     booked from their receipts equal those in the chain's block
//     receipts; the chain's total L2 base tokens are what they were once
//     the bank was funded, less deposits in flight; and Solo's
//     CheckAccountLedger passes.
//  2. No consumer charged more than it signed: per warrant epoch, what the
//     chain paid the provider is at most the highest total the consumer
//     signed for it; nothing is paid to a provider it has no warrant with.
//  3. Every acknowledged payment settled unless its provider missed the
//     deadline: per warrant epoch, the chain paid exactly the last
//     acknowledged total, or the provider recorded a missed settlement
//     (store.Settlement Failed, Error "missed: ..."). Such a loss is
//     reported with its cause; one that nothing explains (the provider was
//     up from the revocation to the deadline) is a violation.
//  4. Cheaters rejected: every cheating payment is refused with the
//     expected reason and changes neither the provider's store nor the
//     chain; a provider settling someone else's warrant is rejected by the
//     chain and pays nothing but its gas fee.
//  5. The contract is solvent: after the blocks of every request the
//     simulator posts and of every clock step, the contract's L2 account
//     holds at least the sum of all warrant balances (its getTotals view).
//
// # Scenario files
//
// YAML; unknown fields are errors. Durations are Go durations ("90s",
// "1h30m") or whole days ("2d"); amounts are base tokens. Shipped in
// scenarios/ (and built in, see Builtin): small.yaml (tests),
// telecom-day.yaml (1,000 consumers × 24 h × a piece every 5 min = 288,000
// payments), cheaters-and-faults.yaml.
//
//	name:         required; names the run in the report.
//	description:  optional free text, printed in the report.
//	seed:         seeds every random draw and the parties' keys.
//	duration:     simulated time consumers buy pieces for.
//	step:         the engine's clock step (default 1m, at least 1s, below
//	              settlement.margin): events due within a step run at its
//	              end, at the chain's time; providers act once a step.
//	consumers:    how many consumers.
//	providers:    how many providers; consumer i uses provider i mod providers.
//	pieces:
//	  interval:   time between two pieces of one consumer. The first piece
//	              comes at a uniform time in [0, interval).
//	  jitter:     each interval is drawn uniformly in interval ± jitter
//	              (0 ≤ jitter < interval).
//	  price:      base tokens per piece; each payment's total grows by it.
//	warrant:
//	  amount:     locked at the start (≥ the contract's minimum, 1,000,000).
//	  closeTimeout: time from a revocation to its deadline, whole seconds
//	              within the contract's bounds (default 1h).
//	  topUp:      optional. below: top up when the next piece would leave
//	              the warrant backing less than this; amount: what to add
//	              (0 = never top up); max: at most this many top-ups
//	              (default unlimited).
//	settlement:   the providers' policy (provider.Config):
//	  threshold:  settle a warrant once its unsettled amount reaches this
//	              (0: off).
//	  schedule:   settle every warrant on a schedule: a duration ("6h",
//	              provider.Every) or a cron expression ("@daily",
//	              "0 */6 * * *", provider.Cron). Empty: none.
//	  margin:     settlement safety margin (default 10m): revoked warrants
//	              are served only while the deadline is further away.
//	  pollInterval: how often warrants are re-read to spot revocations
//	              (default 5m; must be below margin).
//	  exposureCap: refuse a payment that would leave more than this
//	              unsettled on a warrant, and settle (0: off).
//	  infoMaxAge: how old the provider's warrant state may be when a payment
//	              is checked (default pollInterval).
//	  batch:      warrants per settleMany request (provider.Config.SettleBatch;
//	              default 0: the provider's default), at most 1,000.
//	funding:      optional L2 funds the bank gives each party.
//	  consumer:   default: the warrant, the top-ups the run can need, and
//	              1,000,000 for gas fees and the revoke deposit.
//	  provider:   default 10,000,000 (gas fees).
//	revocations:  optional.
//	  fraction:   share of the consumers (0..1) that revoke, drawn at random.
//	  from, to:   each revokes at a uniform time in [from, to] (default to:
//	              duration), then buys nothing more.
//	downtime:     optional list of windows {provider: index, from, to}:
//	              over [from, to) the provider accepts nothing and settles
//	              nothing. A revoked warrant whose deadline passes in the
//	              window is an explained loss.
//	cheaters:     optional counts of cheating attempts, each by a consumer
//	              (that does not revoke) drawn at random, at a time drawn in
//	              [2·interval, duration − interval]; if that consumer cannot
//	              cheat so that exactly the expected rule applies (nothing
//	              acknowledged yet, provider down, warrant too low), the next
//	              one that can does.
//	  forged:        next ordinal and total with a random signature;
//	                 expected rejection: bad_signature.
//	  replayed:      re-sends the newest acknowledged payment, for another resource;
//	                 expected: ordinal_not_increasing.
//	  crossWarrant:  the next payment signed for the consumer's warrant with
//	                 another provider; expected: bad_signature.
//	  overspending:  a payment for more than the warrant holds (its
//	                 ordinal is then used up); expected: over_balance.
//	  foreignSettle: another provider settles the consumer's newest
//	                 payment; the chain must reject it (needs ≥ 2 providers).
//
// # Cost
//
// The embedded chain makes blocks as a Wasp node does
// (solochain.Options.NoLedgerCheck): without the check of the whole account
// ledger Solo runs after every block by default, whose cost is the L2
// accounts times the block's writes (about 0.4 s of CPU a block with 10,000
// consumers). The run ends with that check once, among the invariants. A
// block still costs the VM's work and a state commit. Payments cost no block: a
// signature and a verification each (about 15 and 41 µs of CPU), which run
// in parallel across consumers (every tally is still booked in event order).
// Settlements, revocations, top-ups and closes cost blocks, so the engine
// makes them few and full: setup runs 4,000 requests to a block; the
// providers' settlement work runs side by side, one goroutine per
// provider, and a block is cut whenever every working provider waits on its
// request (deterministic: the k-th block holds the k-th request of each);
// the providers settle in settleMany batches (settlement.batch), the final
// settlement too; a step's revocations go in one block. Every revocation
// still costs up to three blocks of its own: the revoke, the provider's
// settlement at its next poll and the scheduled close. Options.NoSharedBlocks
// and Options.NoViewCache turn the optimisations off; the report is the
// same (TestRunsAreDeterministic...). docs/performance.md ("Simulation")
// has the wall times: telecom-day.yaml (288,000 payments) and
// telecom-day-10k.yaml (2.88 million payments, make sim-10k).
package sim
