package chain_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

// scriptedFeed is a test double of chain.Feed (the real feeds cannot be
// made to skip or break on cue): each Follow runs the next script.
type scriptedFeed struct {
	mu      sync.Mutex
	scripts []func(ctx context.Context, ready func(), deliver func(chain.Block)) error
	calls   int
}

func (f *scriptedFeed) Follow(ctx context.Context, ready func(), deliver func(chain.Block)) error {
	f.mu.Lock()
	i := f.calls
	f.calls++
	f.mu.Unlock()
	if i >= len(f.scripts) {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.scripts[i](ctx, ready, deliver)
}

// recorder is an Observer that logs what it is told.
type recorder struct {
	log     chan string
	hold    chan struct{} // if set, the first Changed waits for it
	once    sync.Once
	caught  chan struct{} // closed by the first CatchUp
	caughtO sync.Once
}

func newRecorder() *recorder {
	return &recorder{log: make(chan string, 1024), caught: make(chan struct{})}
}

func (r *recorder) Changed(_ context.Context, c chain.Change) {
	if r.hold != nil {
		r.once.Do(func() { <-r.hold })
	}
	r.log <- fmt.Sprintf("change %d", c.Block)
}

func (r *recorder) CatchUp(context.Context) {
	r.log <- "catch up"
	r.caughtO.Do(func() { close(r.caught) })
}

func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.log:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the observer was told nothing within 10 s")
		return ""
	}
}

func addedBlock(index uint32, provider isc.AgentID) chain.Block {
	return chain.Block{Index: index, Events: []*isc.Event{event(contract.TopicWarrantAdded,
		&contract.WarrantAdded{Payer: isc.NewRandomAgentID(), Provider: provider, Epoch: 1, Added: 1, Balance: 1, New: true})}}
}

func startWatcher(t *testing.T, cfg chain.WatcherConfig, obs chain.Observer) *chain.Watcher {
	t.Helper()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	w := chain.NewWatcher(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		require.NoError(t, w.Run(ctx, obs))
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func TestWatcherCatchesUpOnSubscribingAndAfterAGap(t *testing.T) {
	me := isc.NewRandomAgentID()
	sent := make(chan struct{})
	feed := &scriptedFeed{scripts: []func(context.Context, func(), func(chain.Block)) error{
		func(ctx context.Context, ready func(), deliver func(chain.Block)) error {
			deliver(addedBlock(4, me)) // before the subscription: not delivered
			ready()
			for _, i := range []uint32{5, 6, 8, 9} {
				deliver(addedBlock(i, me))
			}
			close(sent)
			<-ctx.Done()
			return ctx.Err()
		},
	}}
	rec := newRecorder()
	w := startWatcher(t, chain.WatcherConfig{Feed: feed, Provider: me}, rec)
	var got []string
	for len(got) < 5 {
		got = append(got, rec.next(t))
	}
	<-sent
	require.Equal(t, []string{"catch up", "change 5", "change 6", "catch up", "change 9"}, got,
		"block 7 is missing: the observer catches up instead of applying block 8 on a state that lacks 7")
	require.True(t, w.Live())
	last, ok := w.LastBlock()
	require.True(t, ok)
	require.Equal(t, uint32(9), last)
}

func TestWatcherDropsAndCatchesUpWhenTheObserverIsSlow(t *testing.T) {
	me := isc.NewRandomAgentID()
	const buffer, blocks = 2, 50
	sent := make(chan struct{})
	rec := newRecorder()
	rec.hold = make(chan struct{})
	feed := &scriptedFeed{scripts: []func(context.Context, func(), func(chain.Block)) error{
		func(ctx context.Context, ready func(), deliver func(chain.Block)) error {
			ready()
			<-rec.caught // blocks made after the first catch-up's read
			for i := uint32(1); i <= blocks; i++ {
				deliver(addedBlock(i, me)) // never blocks, however slow the observer
			}
			close(sent)
			<-ctx.Done()
			return ctx.Err()
		},
	}}
	startWatcher(t, chain.WatcherConfig{Feed: feed, Provider: me, Buffer: buffer}, rec)
	require.Equal(t, "catch up", rec.next(t))
	<-sent // the feed delivered every block while the observer was held in its first change
	close(rec.hold)
	var changes, catchUps int
	for s := rec.next(t); s != "catch up"; s = rec.next(t) {
		changes++
	}
	catchUps++
	for len(rec.log) > 0 {
		if <-rec.log == "catch up" {
			catchUps++
		} else {
			changes++
		}
	}
	require.Equal(t, 1, catchUps, "dropped blocks cost one catch-up")
	require.LessOrEqual(t, changes, 1+buffer, "no more blocks were held than the buffer")
}

func TestWatcherResubscribesAfterTheFeedBreaks(t *testing.T) {
	me := isc.NewRandomAgentID()
	broke := make(chan struct{})
	feed := &scriptedFeed{scripts: []func(context.Context, func(), func(chain.Block)) error{
		func(ctx context.Context, ready func(), deliver func(chain.Block)) error {
			ready()
			<-broke
			return errors.New("connection reset")
		},
		func(ctx context.Context, ready func(), deliver func(chain.Block)) error {
			ready()
			deliver(addedBlock(30, me))
			<-ctx.Done()
			return ctx.Err()
		},
	}}
	clk := clock.NewMock()
	rec := newRecorder()
	w := startWatcher(t, chain.WatcherConfig{Feed: feed, Provider: me, Clock: clk, RetryMin: time.Second}, rec)
	require.Equal(t, "catch up", rec.next(t))
	require.Eventually(t, w.Live, 10*time.Second, time.Millisecond)
	close(broke)
	require.Eventually(t, func() bool { return !w.Live() }, 10*time.Second, time.Millisecond, "not live while the feed is down")
	require.Eventually(t, func() bool {
		clk.Add(time.Second) // the retry wait, on the watcher's clock
		return len(rec.log) > 0
	}, 10*time.Second, time.Millisecond)
	require.Equal(t, "catch up", rec.next(t), "a new subscription catches up first")
	require.Equal(t, "change 30", rec.next(t))
	require.True(t, w.Live())
}

// A block with more of the provider's changes than the watcher may hold is
// dropped, and the watcher catches up at once, before the next block and
// even if none comes.
func TestWatcherDropsABlockWithMoreChangesThanItMayHold(t *testing.T) {
	me := isc.NewRandomAgentID()
	rec := newRecorder()
	feed := &scriptedFeed{scripts: []func(context.Context, func(), func(chain.Block)) error{
		func(ctx context.Context, ready func(), deliver func(chain.Block)) error {
			ready()
			<-rec.caught
			big := chain.Block{Index: 1}
			for i := 0; i < 10; i++ {
				big.Events = append(big.Events, addedBlock(1, me).Events...)
			}
			deliver(big)
			<-ctx.Done()
			return ctx.Err()
		},
	}}
	startWatcher(t, chain.WatcherConfig{Feed: feed, Provider: me, BufferedChanges: 5}, rec)
	require.Equal(t, "catch up", rec.next(t))
	require.Equal(t, "catch up", rec.next(t), "the dropped block is caught up with while the chain is idle")
	require.Empty(t, rec.log, "none of its changes is delivered")
}
