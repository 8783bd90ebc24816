package provider

import (
	"context"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

// rereadMany is reread for many warrants: their on-chain state in one
// getWarrants call per contract.MaxWarrantsPerView of them, without holding
// any warrant's lock across the read, each recorded unless the warrant's
// state changed meanwhile. A call that fails leaves its warrants' state
// marked as never read (the next payment reads it) and is reported through
// failed, with the warrants it covered. It returns the warrants it read.
func (p *Provider) rereadMany(ctx context.Context, ws []*warrant, failed func(n int, err error)) (read []*warrant) {
	read = make([]*warrant, 0, len(ws))
	for len(ws) > 0 {
		n := min(len(ws), contract.MaxWarrantsPerView)
		if err := p.rereadChunk(ctx, ws[:n]); err != nil {
			for _, w := range ws[:n] {
				w.forgetInfo()
			}
			failed(n, err)
		} else {
			read = append(read, ws[:n]...)
		}
		ws = ws[n:]
	}
	return read
}

func (p *Provider) rereadChunk(ctx context.Context, ws []*warrant) error {
	gens, payers := make([]uint64, len(ws)), make([]isc.AgentID, len(ws))
	for i, w := range ws {
		w.mu.Lock()
		gens[i] = w.gen
		w.mu.Unlock()
		payers[i] = w.payer
	}
	infos, err := chain.ReadWarrants(ctx, p.cfg.Chain, p.agent, payers)
	if err != nil {
		return err
	}
	now := p.cfg.Clock.Now()
	for i, w := range ws {
		w.mu.Lock()
		if w.gen == gens[i] {
			w.info, w.infoRead = infos[i], now
			w.gen++
		}
		w.mu.Unlock()
	}
	return nil
}
