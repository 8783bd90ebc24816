package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotaledger/wasp/packages/chain"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/state"
	"github.com/iotaledger/wasp/packages/vm"
	"github.com/iotaledger/wasp/packages/vm/core/accounts"
	"github.com/iotaledger/wasp/packages/vm/core/blocklog"
	"github.com/iotaledger/wasp/packages/vm/core/governance"
	"github.com/micropay/micropay/client/solochain"
)

// SnapshotFile is the file in Config.Data that holds the chain.
const SnapshotFile = "chain.json"

// Config configures a devnet.
type Config struct {
	// Data is the directory the chain is kept in across restarts, created
	// if missing; one devnet at a time may use it. Empty: the chain lives in
	// memory only.
	Data string
	// Log receives what the devnet does; nil: nothing is logged.
	Log *slog.Logger
}

// Devnet is a development node. Serve Handler with an http.Server; stop it
// with Shutdown. Its methods are safe for concurrent use.
type Devnet struct {
	log      *slog.Logger
	e        *solochain.Embedded
	id       isc.ChainID
	snapshot string       // "" without Config.Data
	unlock   func() error // releases Config.Data
	handler  http.Handler
	feed     *eventFeed // GET /v1/ws

	// mu is taken for writing to change chain state (and save it), for
	// reading to read it, so an answer never shows an unsaved change.
	mu     sync.RWMutex
	closed bool
	blocks chan struct{} // closed, then replaced, after each block the worker produced
	// poolMu guards pool and is never held while a block runs, so requests
	// are checked and pooled meanwhile, as a node's mempool takes them
	// during consensus; the next block takes them together.
	poolMu   sync.Mutex
	pool     *mempool
	quitting atomic.Bool // set with closed, read without mu

	kick chan struct{} // wakes the worker
	quit chan struct{} // closed by Shutdown
	done chan struct{} // closed when the worker exits
}

// New starts a devnet: it restores the chain from Config.Data if a
// snapshot is there, else creates a chain and deploys micropay on it.
func New(cfg Config) (*Devnet, error) {
	d := &Devnet{
		log:    cfg.Log,
		unlock: func() error { return nil },
		blocks: make(chan struct{}),
		pool:   newMempool(),
		kick:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts := solochain.Options{Name: "devnet", NoLedgerCheck: true}
	if cfg.Data != "" {
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
		unlock, err := lockDir(cfg.Data)
		if err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
		d.unlock = unlock
		d.snapshot = filepath.Join(cfg.Data, SnapshotFile)
		switch _, err := os.Stat(d.snapshot); {
		case err == nil:
			opts.Snapshot = d.snapshot
		case !errors.Is(err, fs.ErrNotExist):
			_ = d.unlock()
			return nil, fmt.Errorf("devnet: %w", err)
		}
	}
	e, err := solochain.New(opts)
	if err != nil {
		_ = d.unlock()
		return nil, fmt.Errorf("devnet: %w", err)
	}
	d.e, d.id = e, e.ID()
	if opts.Snapshot == "" {
		if err := d.initChain(); err != nil {
			e.Close()
			_ = d.unlock()
			return nil, fmt.Errorf("devnet: %w", err)
		}
	}
	d.feed = newEventFeed(e.Solo.Publisher())
	d.handler = d.newHandler()
	d.log.Info("devnet started", "chain", d.id.String(), "restored", opts.Snapshot != "", "data", cfg.Data)
	go d.work()
	return d, nil
}

// initChain readies a new chain. Solo's clock starts in 1970: start the
// chain's at the wall clock, so that its deadlines read as dates; it moves
// only through /devnet/clock/advance from then on. Then save the chain at
// once, so its ID is the same after a restart even if nothing happens
// before it.
func (d *Devnet) initChain() error {
	if err := d.e.AdvanceClock(time.Since(d.e.Solo.GlobalTime()).Truncate(time.Second)); err != nil {
		return err
	}
	if d.snapshot == "" {
		return nil
	}
	return d.e.Save(d.snapshot)
}

// ChainID returns the ID of the devnet's chain.
func (d *Devnet) ChainID() isc.ChainID { return d.id }

// Shutdown stops the devnet: waits on the wait route end with 503, the
// worker stops after its current block, the chain is saved a last time and
// Config.Data released. Requests still in the pool are dropped, as a node
// drops its mempool. Shut the devnet down before (or while) shutting down
// the http.Server serving it, so long waits do not hold the server up. If
// ctx ends before the worker has stopped, Shutdown returns ctx's error
// without saving or closing the chain.
func (d *Devnet) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.quitting.Store(true)
	close(d.quit)
	close(d.blocks)
	d.mu.Unlock()
	d.feed.stop()
	select {
	case <-d.done:
	case <-ctx.Done():
		return fmt.Errorf("devnet: shutdown: %w", ctx.Err())
	}
	var err error
	if d.snapshot != "" {
		err = d.e.Save(d.snapshot)
	}
	d.e.Close()
	err = errors.Join(err, d.unlock())
	if err != nil {
		return fmt.Errorf("devnet: shutdown: %w", err)
	}
	d.log.Info("devnet stopped", "chain", d.id.String())
	return nil
}

// saveLocked saves the chain if the devnet keeps it. Callers hold mu for
// writing. A failed save is logged: the devnet keeps serving, but a restart
// would lose what happened since the last good save.
func (d *Devnet) saveLocked() {
	if d.snapshot == "" {
		return
	}
	if err := d.e.Save(d.snapshot); err != nil {
		d.log.Error("save chain", "err", err)
	}
}

// signalBlockLocked wakes the waiters for receipts. Callers hold mu for
// writing.
func (d *Devnet) signalBlockLocked() {
	close(d.blocks)
	d.blocks = make(chan struct{})
}

// enqueue checks an off-ledger request as a Wasp node's web API and mempool
// do, and pools it. The error texts are those of wasp 1.5.1. It reads the
// latest committed state directly (Solo's views would wait for a block in
// progress), and does not take mu: a request arriving while a block runs is
// pooled at once, for the next block.
func (d *Devnet) enqueue(req isc.OffLedgerRequest) error {
	if d.quitting.Load() {
		return errClosed
	}
	if err := req.VerifySignature(); err != nil {
		return fmt.Errorf("could not verify: %w", err)
	}
	if !req.ChainID().Equals(d.id) {
		return errors.New("request is for a different chain")
	}
	d.poolMu.Lock()
	defer d.poolMu.Unlock()
	id := req.ID()
	if d.pool.has(id) {
		return errors.New("request already processed")
	}
	state, err := d.e.Chain.LatestState(chain.ActiveOrCommittedState)
	if err != nil {
		return fmt.Errorf("tx not added to the mempool: %w", err)
	}
	if done, err := blocklog.IsRequestProcessed(state, id); err != nil {
		return err
	} else if done {
		return errors.New("request already processed")
	}
	if err := d.admissible(state, req); err != nil {
		return err
	}
	if err := d.pool.add(req); err != nil {
		return fmt.Errorf("tx not added to the mempool: %w", err)
	}
	d.log.Debug("request accepted", "request", id.String(), "sender", req.SenderAccount().String(), "nonce", req.Nonce())
	select {
	case d.kick <- struct{}{}:
	default:
	}
	return nil
}

// admissible applies a node's mempool rules to req against state: a nonce
// not below the account's, and an account with funds unless gas is free
// (or it is the chain owner's governance call).
func (d *Devnet) admissible(st state.State, req isc.OffLedgerRequest) error {
	sender := req.SenderAccount()
	if n := accounts.NewStateAccess(st).Nonce(sender, d.id); req.Nonce() < n {
		return fmt.Errorf("tx not added to the mempool: bad nonce, expected: %d", n)
	}
	if !accounts.NewStateAccess(st).AccountExists(sender, d.id) {
		gov := governance.NewStateAccess(st)
		isGov := sender.Equals(gov.ChainOwnerID()) && req.CallTarget().Contract == governance.Contract.Hname()
		if !isGov && gov.DefaultGasPrice().Sign() != 0 {
			return errors.New("tx not added to the mempool: no funds on chain")
		}
	}
	return nil
}

var errClosed = errors.New("devnet: shut down")

// work runs pooled requests until Shutdown.
func (d *Devnet) work() {
	defer close(d.done)
	for {
		select {
		case <-d.quit:
			return
		case <-d.kick:
		}
		for d.runBlock() {
		}
	}
}

// runBlock runs the requests that are ready as one block, saves the chain
// and wakes the waiters. It reports whether it ran any.
func (d *Devnet) runBlock() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	state, err := d.e.Chain.LatestState(chain.ActiveOrCommittedState)
	if err != nil {
		d.log.Error("latest state", "err", err)
		return false
	}
	nonceOf := func(a isc.AgentID) uint64 { return accounts.NewStateAccess(state).Nonce(a, d.id) }
	d.poolMu.Lock()
	batch := d.pool.ready(nonceOf, maxBatch)
	if len(batch) == 0 {
		for id, why := range d.pool.prune(nonceOf) {
			d.log.Info("request dropped", "request", id.String(), "reason", why)
		}
	}
	d.poolMu.Unlock()
	if len(batch) == 0 {
		return false
	}
	var results []*vm.RequestResult
	results, err = d.e.RunBlock(batch)
	d.poolMu.Lock()
	for _, r := range batch {
		d.pool.remove(r.ID())
	}
	d.poolMu.Unlock()
	if err != nil {
		d.log.Error("run requests", "err", err, "requests", len(batch))
		return true
	}
	for _, res := range results {
		ct := res.Request.CallTarget()
		d.log.Info("request processed", "request", res.Request.ID().String(),
			"contract", ct.Contract.String(), "entry", ct.EntryPoint.String(),
			"gasFee", res.Receipt.GasFeeCharged, "error", res.Receipt.Error)
	}
	d.saveLocked()
	d.signalBlockLocked()
	return true
}
