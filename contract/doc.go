// Package contract is the micropay native ISC contract: warrants of funds a
// payer locks for one provider, settled by the provider with signed
// off-ledger payments (package payment) and closed by the provider at any
// time or by anyone once a revoked warrant's deadline has passed.
//
// Register Processor with a Solo environment (WithNativeContract) or a Wasp
// node's processor config, then deploy Contract.ProgramHash under the name
// Contract.Name. The files follow wasp's core contracts: interface.go (names
// and parameter keys), impl.go (handlers), impl_views.go, state.go (storage
// layout), events.go and errors.go.
package contract
