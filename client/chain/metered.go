package chain

import (
	"context"
	"sync"

	"github.com/iotaledger/wasp/packages/cryptolib"
)

// Metered wraps a Chain and counts what the requests sent through it cost:
// the gas fees paid and the requests that succeeded, per entry point. A
// party's balance can then be accounted for to the token. It is safe for
// concurrent use.
type Metered struct {
	Chain

	mu     sync.Mutex
	fees   uint64
	landed map[string]int
}

// Post forwards to the wrapped chain and records the receipt's gas fee.
func (m *Metered) Post(ctx context.Context, key *cryptolib.KeyPair, req Request) (*Receipt, error) {
	rec, err := m.Chain.Post(ctx, key, req)
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec != nil {
		m.fees += rec.GasFee
	}
	if err == nil {
		if m.landed == nil {
			m.landed = map[string]int{}
		}
		m.landed[req.Entry]++
	}
	return rec, err
}

// Fees returns the gas fees paid so far, in base tokens.
func (m *Metered) Fees() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fees
}

// Landed returns how many requests to entry succeeded.
func (m *Metered) Landed(entry string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.landed[entry]
}
