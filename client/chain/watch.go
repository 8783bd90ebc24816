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
	// Buffer bounds the blocks held between the feed and the observer, and
	// BufferedChanges the changes they carry (a block is reduced to the
	// provider's changes as it arrives, so other contracts' and providers'
	// events are not held); beyond either, blocks are dropped and the
	// observer catches up. Defaults 256 and 4,096.
	Buffer, BufferedChanges int
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
	held    atomic.Int64  // changes in the buffer
	last    atomic.Uint64 // index of the latest block handled, +1; 0 = none
}

// NewWatcher returns a watcher; Run starts it.
func NewWatcher(cfg WatcherConfig) *Watcher {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 256
	}
	if cfg.BufferedChanges <= 0 {
		cfg.BufferedChanges = 4096
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

// item is what the feed hands the watcher: a block reduced to the
// provider's changes (or why it could not be), or the news that a
// subscription is in place.
type item struct {
	index   uint32
	changes []Change
	err     error // the block's events could not be followed
	ready   bool
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
	kick := make(chan struct{}, 1) // wakes the loop after a drop, however idle the chain
	drop := func() {
		w.dropped.Store(true)
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	offer := func(it item) {
		n := int64(len(it.changes))
		if w.held.Add(n) > int64(w.cfg.BufferedChanges) {
			w.held.Add(-n)
			drop()
			return
		}
		select {
		case items <- it:
		default:
			w.held.Add(-n)
			drop()
		}
	}
	deliver := func(b Block) {
		changes, err := ChangesOf(b, w.cfg.Provider)
		offer(item{index: b.Index, changes: changes, err: err})
	}
	done := make(chan error, 1)
	go func() {
		done <- w.cfg.Feed.Follow(ctx, func() { offer(item{ready: true}) }, deliver)
	}()
	subscribed := false
	for {
		select {
		case err := <-done:
			return err
		case <-kick:
		case it := <-items:
			switch {
			case it.ready:
				subscribed = true
				w.last.Store(0) // blocks are counted afresh from this subscription
				w.catchUp(ctx, obs)
			case subscribed:
				w.catchUpIfDropped(ctx, obs) // a dropped block came before this one
				w.handle(ctx, obs, it)
			}
			w.held.Add(-int64(len(it.changes)))
		}
		if subscribed {
			w.catchUpIfDropped(ctx, obs)
		}
	}
}

func (w *Watcher) catchUpIfDropped(ctx context.Context, obs Observer) {
	if w.dropped.Swap(false) {
		w.cfg.Log.Warn("event feed: blocks dropped (the observer was busy, or a block held too many changes); catching up")
		w.catchUp(ctx, obs)
	}
}

func (w *Watcher) catchUp(ctx context.Context, obs Observer) {
	w.live.Store(false)
	w.dropped.Store(false)
	obs.CatchUp(ctx)
	w.live.Store(true)
}

// handle passes one block's changes to obs; a block that does not follow
// the last one handled, or whose events could not be followed, makes it
// catch up instead.
func (w *Watcher) handle(ctx context.Context, obs Observer, it item) {
	prev, seen := w.LastBlock()
	w.last.Store(uint64(it.index) + 1)
	if seen && it.index != prev+1 {
		w.cfg.Log.Warn("event feed: blocks missing; catching up", "after", prev, "got", it.index)
		w.catchUp(ctx, obs)
		return
	}
	if it.err != nil {
		w.cfg.Log.Warn("event feed: an event it cannot follow; catching up", "err", it.err)
		w.catchUp(ctx, obs)
		return
	}
	for _, c := range it.changes {
		obs.Changed(ctx, c)
	}
}
