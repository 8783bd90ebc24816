// Package facilitator serves x402 v2's facilitator API for the
// micropay-warrant scheme (docs/x402-scheme.md), so that a stock x402
// resource server (@x402/express with HTTPFacilitatorClient, or any
// other) sells through micropay warrants:
//
//   - GET /supported: the scheme, the network iota-isc:<chainID>, the
//     provider it settles for, and the payment-identifier extension;
//   - POST /verify: the provider's acceptance rules, storing nothing
//     (provider.Provider.Verify);
//   - POST /settle: the payment stored durably by the provider
//     (provider.Provider.Accept); the answer carries the commitment
//     identifier and the amount charged. On-chain settlement stays
//     batched, done by the provider's settler.
//
// A Facilitator is one provider's: it judges, stores and settles with that
// provider's rules, store and key, the same code path as the provider's
// own paywall. Every request must carry the bearer token the SDK's
// FacilitatorConfig.createAuthHeaders sends.
package facilitator
