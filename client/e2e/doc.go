// Package e2e holds the end-to-end tests of the clients: a consumer's
// paying http.RoundTripper against a provider's paywall over real HTTP on
// loopback, with the contract running in the embedded Solo chain.
package e2e
