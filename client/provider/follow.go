package provider

import (
	"context"
	"time"

	"github.com/micropay/micropay/client/chain"
)

// follower is the provider as the chain.Watcher's observer: it applies each
// change to the warrant it holds, under the warrant's lock and without I/O
// there, and hands warrants that became due to the settler.
type follower struct{ p *Provider }

var _ chain.Observer = follower{}

// Changed applies one change. A warrant the provider holds no state for is
// of no concern, except that a payer refused for having none may have one
// now: the refusal is forgotten, and the payer's next request reads it.
// A change the event does not fully describe is read from the chain.
func (f follower) Changed(ctx context.Context, c chain.Change) {
	p := f.p
	p.lookups.news.Add(1)
	w := p.cached(c.Payer)
	if w == nil {
		if c.Opened() {
			p.lookups.forget(string(c.Payer.Bytes()))
		}
		return
	}
	w.mu.Lock()
	info, ok := c.Apply(w.info)
	if ok {
		w.info, w.infoRead = info, p.cfg.Clock.Now()
		w.gen++
	}
	w.mu.Unlock()
	if !ok {
		if err := p.reread(ctx, w); err != nil {
			p.cfg.Log.Warn("event feed: read warrant", "payer", w.payer.String(), "topic", c.Topic, "err", err)
			w.forgetInfo()
		}
	}
	if p.eventDue(w) {
		p.settler.trigger(w)
	}
}

// CatchUp re-reads every warrant the provider holds (those that exist or
// have receipts: bounded by the warrants on chain for this provider) and
// forgets every remembered refusal, since warrants may have opened, been
// revoked or settled while blocks were missed. Warrants that became due are
// handed to the settler.
func (f follower) CatchUp(ctx context.Context) {
	p := f.p
	p.lookups.news.Add(1)
	p.lookups.misses.Purge()
	read := p.rereadMany(ctx, p.snapshotWarrants(), func(n int, err error) {
		p.cfg.Log.Warn("event feed: catch up: read warrants", "warrants", n, "err", err)
	})
	for _, w := range read {
		if p.eventDue(w) {
			p.settler.trigger(w)
		}
	}
}

// eventDue reports whether what the chain told about w calls for a
// settlement now: it was revoked with payments pending, or it closed before
// its newest payment was settled (the loss is recorded).
func (p *Provider) eventDue(w *warrant) bool {
	st := w.state()
	return st.closedUnsettled() || (st.pendingOrdinal() && st.info.Revoked())
}

// forgetInfo marks w's chain state as never read: the next payment reads
// it, whatever the feed says.
func (w *warrant) forgetInfo() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.infoRead = time.Time{}
	w.gen++
}
