package provider

import "github.com/iotaledger/wasp/packages/isc"

// Triggered reports whether payer's warrant was handed to the settler (a
// revocation's event, a threshold) and is waiting for it.
func Triggered(p *Provider, payer isc.AgentID) bool {
	s := p.settler
	s.mu.Lock()
	defer s.mu.Unlock()
	id := p.WarrantID(payer)
	_, queued := s.queue.queued[id]
	_, aside := s.aside[id]
	return queued || aside
}
