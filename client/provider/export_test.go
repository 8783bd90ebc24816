package provider

// WarrantStates returns how many warrants p holds state for: the ones that
// exist on chain or have receipts.
func WarrantStates(p *Provider) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.warrants)
}

// RememberedMisses returns how many payer misses p remembers.
func RememberedMisses(p *Provider) int { return p.lookups.misses.Len() }
