// Package waspchain implements chain.Chain for a real Wasp node, through
// wasp's own web API client (clients/apiclient) and chain client
// (clients/chainclient): the code wasp-cli uses to talk to a node.
//
// Routes of the node's web API the package calls:
//
//	GET  /v1/node/info                          L1 parameters, once, if the process has none
//	                                             and no Config.L1URL (admin route on a real node)
//	GET  /v1/chains                              New without a ChainID (admin route on a real node)
//	GET  /v1/chains/{chainID}                    New: the chain exists
//	GET  /v1/chains/{chainID}/core/accounts/account/{agentID}/nonce
//	POST /v1/requests/offledger                  Post
//	GET  /v1/chains/{chainID}/requests/{requestID}/wait
//	GET  /v1/chains/{chainID}/core/blocklog/events/request/{requestID}
//	POST /v1/chains/{chainID}/callview           WarrantInfo, PublicKey (and the
//	                                             accounts nonce view, which chainclient
//	                                             reads for an account's first request)
//	GET  /v1/chains/{chainID}/core/blocklog/blocks/latest                 Now
//	GET  /v1/chains/{chainID}/core/accounts/account/{agentID}/balance     L2Balance
//	GET  /v1/ws (websocket)                      Follow: the event feed (events.go)
//
// With Config.L1URL set, the L1 parameters come from the L1 node's public
// GET /api/core/v2/info instead. Every other route is public on a Wasp node
// with JWT authentication (wasp's default): with a ChainID and an L1URL, no
// token is needed. Config.Token goes to the first node (Config.URL), with
// its admin routes only. A 401 answer matches ErrUnauthorized.
//
// # Several nodes
//
// Config.Nodes are further nodes of the same chain. Calls go to one node
// until it gives no answer (no connection, connection dropped: the HTTP
// exchange failed), then to the next; a node that answers, even with an
// error, keeps the calls. When no node answers, the error wraps
// ErrUnreachable. A submit that got no answer may have landed: the same
// signed request (one ID, one nonce) goes to the next node, and a node
// answering that it already has it (processed or in its mempool) settles
// that it landed; Post then waits for its receipt there. So one Post never
// puts its request on the chain twice under two nonces.
//
// # Outcomes of Post
//
// A request the node refused (its answer was an HTTP error: bad nonce, bad
// signature, no funds) never reached the mempool: Post returns a plain error.
// Once the request may have been sent, a failure (connection dropped, no
// receipt within Config.ReceiptTimeout, ctx cancelled) wraps
// chain.ErrUnknownOutcome. A receipt with an error is a *chain.Rejected.
//
// # Nonces
//
// Each signer's posts hold a mutex while they take a nonce and submit, so
// concurrent posts by one signer take consecutive nonces and reach the node
// in nonce order; waiting for receipts happens outside the mutex. The nonce is
// the larger of the node's (accounts nonce endpoint, which counts processed
// requests only) and one past the last this Chain submitted. After an
// unknown-outcome submit the local count is forgotten and the node's is used
// again: if the lost request did land unprocessed, the next request may take
// the same nonce and one of the two is skipped by the chain (its Post then
// times out with ErrUnknownOutcome); reconcile by reading state.
//
// # Chain time
//
// Now is the time the next block will carry, which deadlines are judged by:
// the later of the latest block's timestamp and the local clock
// (chain.NextBlockTime). The next request runs at the consensus time of the
// next block, close to the wall clock on a real node, while the latest
// block's timestamp stands still on an idle chain: judged by it alone, a
// revoked warrant would look further from its deadline than it is. A
// devnet's clock is logical instead (it moves only when told to): connect
// to a devnet with devnet.Connect, whose Now is the devnet's clock.
package waspchain
