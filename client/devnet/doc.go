// Package devnet is a long-running local node for development: an HTTP
// server that answers the routes of the Wasp web API that package waspchain
// uses, with wasp's own webapi models on the wire, backed by an embedded
// Solo chain (package solochain) with micropay deployed. A client therefore
// talks to a devnet exactly as to a real Wasp node.
//
// Wasp routes (all under /v1, as on a Wasp node):
//
//	GET  /v1/node/info
//	GET  /v1/chains
//	GET  /v1/chains/{chainID}
//	POST /v1/chains/{chainID}/callview
//	GET  /v1/chains/{chainID}/requests/{requestID}/wait
//	GET  /v1/chains/{chainID}/core/accounts/account/{agentID}/balance
//	GET  /v1/chains/{chainID}/core/accounts/account/{agentID}/nonce
//	GET  /v1/chains/{chainID}/core/blocklog/blocks/latest
//	GET  /v1/chains/{chainID}/core/blocklog/events/request/{requestID}
//	POST /v1/requests/offledger
//	GET  /v1/ws                  the websocket event feed (below)
//
// Devnet routes (no Wasp node has them):
//
//	POST /devnet/faucet          {"agentId": "...", "amount": "1000000"} credits an L2 account
//	POST /devnet/clock/advance   {"seconds": 120} moves chain time, runs what became due
//	GET  /devnet/info            chain ID, contract name and hname, chain time, block index
//
// The two POST routes answer 415 unless the request says Content-Type:
// application/json, so that a web page cannot call them (a browser sends
// that header cross-origin only after a CORS preflight, which the devnet
// never grants).
//
// Off-ledger requests go through the checks of a Wasp node's web API and
// mempool (signature, chain, nonce not below the account's, an account with
// funds) before they are accepted with 202; a worker then runs them in nonce
// order per sender, batched into blocks, and the wait route returns their
// receipts. A request whose nonce is ahead of its account's waits in the
// pool for the gap to fill, as on a node. Blocks are made as a node makes
// them (solochain.Options.NoLedgerCheck): without the check of the whole
// account ledger Solo runs after each block, whose cost is accounts times
// the block's writes.
//
// GET /v1/ws is a Wasp node's websocket event feed, served by wasp's own
// websocket service (packages/webapi/websocket) over Solo's publisher, with
// a node's limits: a client subscribes with {"command":"subscribe","topic":
// "chains/<chainID>"} (or "chains") and one command per message kind
// ("new_block", "receipt", "block_events"), is answered {"event":
// "subscribed","topic":...} for each, and then receives each block's
// messages as ISC events ({"kind","issuer","requestID","chainID",
// "payload"}); messages to a client that does not keep up are dropped, as
// on a node.
//
// With Config.Data set, the chain (with its L1 ledger, clock and pending
// scheduled closes) is saved to Data/chain.json, atomically, after every
// change, before the change is visible through the API; New restores it.
// The pool of requests not yet run is not saved, as a node's mempool is
// not.
//
// Deviations from a Wasp node: the admin routes used here (/v1/chains,
// /v1/node/info) need no authentication; the wait route honours
// timeoutSeconds (at most 60; a Wasp 1.5.1 node ignores it and always waits
// up to 30 s); chain time is logical: a new chain's clock starts at the wall
// clock and then moves only through /devnet/clock/advance, so an idle
// devnet's time stands still where a node's moves on; blocks are produced
// as soon as requests are ready, with no consensus; the faucet is
// devnet-only.
package devnet
