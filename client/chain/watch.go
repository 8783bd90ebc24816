package chain

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/iotaledger/wasp/packages/isc"
)

// Observer is told what a Watcher learns. Its methods are called from the
// watcher's goroutine, one at a time, in chain order; they may read the
// chain (CatchUp does), but should not hold it up for long: blocks arriving
// meanwhile are buffered, up to WatcherConfig.Buffer.
type Observer interface {
	// Changed is called for each change to one of the provider's warrants.
	Changed(ctx context.Context, c Change)
	// CatchUp is called when blocks may have been missed: once the feed's
	// subscription is in place (at start and after every reconnect), after
	// blocks were dropped because the observer was slow, and after a block
	// whose micropay events did not decode. The observer re-reads the
	// warrants it relies on; changes after the call are delivered.
	CatchUp(ctx context.Context)
}

// WatcherConfig configures a Watcher. Feed and Provider are required.
type WatcherConfig struct {
	Feed     Feed
	Provider isc.AgentID // whose warrants are watched
	// Buffer bounds the blocks held between the feed and the observer;
	// beyond it blocks are dropped and the observer catches up. Default 256.
	Buffer int
	// RetryMin and RetryMax bound the wait before resubscribing after the
	// feed broke. Defaults 500 ms, 30 s.
	RetryMin, RetryMax time.Duration
	// Clock drives the retry waits. Default: the wall clock.
	Clock clock.Clock
	// Log receives the watcher's log; default slog.Default().
	Log *slog.Logger
}

// Watcher follows a chain's event feed for the warrants of one provider and
// tells an Observer of every change, catching up after a reconnect or when
// blocks were dropped. While it is not Live (before the first subscription,
// while the feed is down or catching up) the observer must fall back to
// reading the chain itself. Its methods are safe for concurrent use.
type Watcher struct {
	cfg     WatcherConfig
	live    atomic.Bool
	dropped atomic.Bool
	last    atomic.Uint64 // index of the latest block handled, +1; 0 = none
}

// NewWatcher returns a watcher; Run starts it.
func NewWatcher(cfg WatcherConfig) *Watcher {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 256
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 500 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(30*time.Second, cfg.RetryMin)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.New()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Watcher{cfg: cfg}
}

// Live reports whether the feed is subscribed and the observer has caught
// up with it: every change since is being delivered.
func (w *Watcher) Live() bool { return w.live.Load() }

// LastBlock returns the index of the latest block the watcher handled.
func (w *Watcher) LastBlock() (uint32, bool) {
	n := w.last.Load()
	return uint32(n - 1), n != 0
}

// item is what the feed hands the watcher: a block, or the news that a
// subscription is in place.
type item struct {
	block Block
	ready bool
}

// Run follows the feed until ctx ends, resubscribing with backoff when it
// breaks, and returns nil then.
func (w *Watcher) Run(ctx context.Context, obs Observer) error {
	wait := w.cfg.RetryMin
	for ctx.Err() == nil {
		start := w.cfg.Clock.Now()
		err := w.follow(ctx, obs)
		w.live.Store(false)
		if ctx.Err() != nil {
			break
		}
		if w.cfg.Clock.Since(start) > w.cfg.RetryMax {
			wait = w.cfg.RetryMin // it had been up for a while: a fresh failure
		}
		w.cfg.Log.Warn("event feed down; reading the chain until it is back", "err", err, "retry in", wait)
		select {
		case <-ctx.Done():
		case <-w.cfg.Clock.After(wait):
		}
		wait = min(2*wait, w.cfg.RetryMax)
	}
	return nil
}

// follow runs one subscription: the feed delivers into a bounded buffer and
// this goroutine hands the blocks to obs.
func (w *Watcher) follow(ctx context.Context, obs Observer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan item, w.cfg.Buffer)
	offer := func(it item) {
		select {
		case items <- it:
		default:
			w.dropped.Store(true)
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- w.cfg.Feed.Follow(ctx, func() { offer(item{ready: true}) }, func(b Block) { offer(item{block: b}) })
	}()
	subscribed := false
	for {
		select {
		case err := <-done:
			return err
		case it := <-items:
			switch {
			case it.ready:
				subscribed = true
				w.last.Store(0) // blocks are counted afresh from this subscription
				w.catchUp(ctx, obs)
			case subscribed:
				w.handle(ctx, obs, it.block)
			}
		}
		if subscribed && w.dropped.Swap(false) {
			w.cfg.Log.Warn("event feed: blocks dropped while the observer was busy; catching up")
			w.catchUp(ctx, obs)
		}
	}
}

func (w *Watcher) catchUp(ctx context.Context, obs Observer) {
	w.live.Store(false)
	w.dropped.Store(false)
	obs.CatchUp(ctx)
	w.live.Store(true)
}

// handle passes one block's changes to obs; a block that does not follow
// the last one handled, or whose events do not decode, makes it catch up
// instead.
func (w *Watcher) handle(ctx context.Context, obs Observer, b Block) {
	prev, seen := w.LastBlock()
	w.last.Store(uint64(b.Index) + 1)
	if seen && b.Index != prev+1 {
		w.cfg.Log.Warn("event feed: blocks missing; catching up", "after", prev, "got", b.Index)
		w.catchUp(ctx, obs)
		return
	}
	changes, err := ChangesOf(b, w.cfg.Provider)
	if err != nil {
		w.cfg.Log.Warn("event feed: undecodable event; catching up", "err", err)
		w.catchUp(ctx, obs)
		return
	}
	for _, c := range changes {
		obs.Changed(ctx, c)
	}
}
