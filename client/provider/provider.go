package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/store"
)

// Config configures a Provider. Chain, Key and Store are required.
type Config struct {
	Chain chain.Chain
	Key   *cryptolib.KeyPair // the provider's key: its address is the warrants' provider
	Store store.Store

	// Margin is the settlement safety margin: a revoked warrant is served
	// only while chain time + Margin is before its deadline, and the
	// settler aims to settle before deadline - Margin. Default 10 minutes.
	Margin time.Duration
	// Threshold triggers a settlement when a warrant's unsettled amount
	// reaches it; 0 disables threshold settlement.
	Threshold uint64
	// ExposureCap caps a warrant's unsettled amount: a payment that would
	// exceed it is refused (reason "exposure_cap") and a settlement starts.
	// 0 means no cap beyond the warrant's balance.
	ExposureCap uint64
	// Schedule settles every warrant with an unsettled amount at the times
	// it gives (Every, Cron); nil for none.
	Schedule Schedule
	// SettleBatch is how many warrants one settleMany request settles when
	// many are due at once (a schedule, SettleNow of every warrant).
	// Default (0) DefaultSettleBatch; at most contract.MaxSettlementsPerRequest.
	SettleBatch int
	// SettleInFlight is how many of those requests the settler has in
	// flight at once (the chain client gives each the signer's next nonce).
	// Default (0) 1: one after another.
	SettleInFlight int
	// PollInterval is how often warrants with unsettled payments are read
	// from chain to spot revocations. Default 30 s; New refuses one at or
	// above Margin (ErrUnsafeSettings).
	PollInterval time.Duration
	// InfoMaxAge is how old the cached warrant state may be when a payment
	// is checked against it. Default PollInterval; New refuses one at or
	// above Margin.
	InfoMaxAge time.Duration
	// RetryMin and RetryMax bound the settle retry backoff. Defaults 1 s, 1 min.
	RetryMin, RetryMax time.Duration

	// Clock drives timers only (polling, schedule, backoff, cache age);
	// deadlines are judged by chain time. Default: the wall clock.
	Clock clock.Clock
	// Log receives the provider's log; default slog.Default().
	Log *slog.Logger
	// Metrics, if set, is updated as payments and settlements happen.
	Metrics *Metrics
	// AcceptStoreMismatch makes New record, instead of refuse, what its
	// cross-check of the store with the chain finds (ErrStoreMismatch):
	// the operator's acknowledgement, asked once per finding.
	AcceptStoreMismatch bool
	// Lookups bounds the chain reads and memory that requests naming
	// unknown payers can cost.
	Lookups LookupLimits
	// Feed, if set, is the chain's event feed (the embedded chain, or a
	// Wasp node's websocket through waspchain): Run then follows it with a
	// chain.Watcher and learns of revocations, settlements and new warrants
	// as their blocks are made. While the feed is live, cached warrant
	// state does not age (InfoMaxAge) and nothing is polled; warrants are
	// re-read only to catch up (on each subscription, after dropped
	// blocks). While it is down, the provider polls and re-reads as without
	// one. Nil: PollInterval polling only.
	Feed chain.Feed
}

func (c *Config) defaults() error {
	if c.Chain == nil || c.Key == nil || c.Store == nil {
		return errors.New("provider: Config needs Chain, Key and Store")
	}
	if c.Margin == 0 {
		c.Margin = 10 * time.Minute
	}
	if c.PollInterval == 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.InfoMaxAge == 0 {
		c.InfoMaxAge = c.PollInterval
	}
	if c.RetryMin == 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = time.Minute
	}
	if c.Clock == nil {
		c.Clock = clock.New()
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if err := c.validate(); err != nil {
		return err
	}
	return c.Lookups.defaults()
}

// Provider accepts payments and settles them. Its methods are safe for
// concurrent use.
type Provider struct {
	cfg   Config
	agent isc.AgentID
	// self is string(agent.Bytes()), the Provider of its warrants' IDs, and
	// chainName the chain ID as text: made once, not per payment.
	self, chainName string

	mu       sync.Mutex
	warrants map[store.WarrantID]*warrant // only warrants that exist or have receipts

	lookups *lookups
	workers *workers // run a POST /pay batch's payers
	settler *settler
	watch   *chain.Watcher // nil without Config.Feed
}

// warrant is the provider's cached view of one warrant. mu guards every
// field and is never held across chain or store I/O; intakeMu serializes
// the intake of the warrant's payments (check, store, record as newest).
// The settler keeps its own state of the warrant (in a request, retries).
type warrant struct {
	id    store.WarrantID
	payer isc.AgentID

	intakeMu sync.Mutex

	mu       sync.Mutex
	info     chain.WarrantInfo
	infoRead time.Time // cfg.Clock time of the last read; zero = never
	gen      uint64    // counts changes of info: a read started before one is stale
	pubKey   []byte
	sig      *signing // for pubKey, made at the first payment checked (intake.go)
	newest   store.Receipt
	has      bool   // newest is set
	credit   uint64 // the store's credit of the warrant; written under intakeMu and mu
}

// New returns a provider. It loads the warrants it has receipts for from the
// store; Run starts settling them.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	lk, err := newLookups(cfg.Lookups, cfg.Clock)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, agent: chain.AgentOf(cfg.Key), warrants: map[store.WarrantID]*warrant{}, lookups: lk, workers: &workers{clock: cfg.Clock}}
	p.self, p.chainName = string(p.agent.Bytes()), cfg.Chain.ID().String()
	if err := p.creditPending(ctx); err != nil {
		return nil, err
	}
	sums, err := cfg.Store.Warrants(ctx)
	if err != nil {
		return nil, fmt.Errorf("provider: load warrants: %w", err)
	}
	for _, s := range sums {
		if s.Warrant.Provider != p.self {
			continue // another provider identity's receipts in a shared store
		}
		w, err := p.warrantFor(s.Warrant.Payer)
		if err != nil {
			return nil, fmt.Errorf("provider: load warrants: %w", err)
		}
		w.newest, w.has, w.credit = s.Newest, true, s.Credit
	}
	if err := p.checkStore(ctx, sums); err != nil {
		return nil, err
	}
	p.settler = newSettler(settlerConfig{
		chain: cfg.Chain, store: cfg.Store, key: cfg.Key, agent: p.agent, clock: cfg.Clock, log: cfg.Log, metrics: cfg.Metrics,
		policy: settlePolicy{
			margin: cfg.Margin, pollInterval: cfg.PollInterval, retryMin: cfg.RetryMin, retryMax: cfg.RetryMax,
			threshold: cfg.Threshold, exposureCap: cfg.ExposureCap, schedule: cfg.Schedule,
			batch: settleBatchSize(cfg.SettleBatch), inFlight: settleInFlight(cfg.SettleInFlight),
		},
		warrants: p.withReceipts, read: p.reread, following: p.Following,
	})
	if cfg.Feed != nil {
		p.watch = chain.NewWatcher(chain.WatcherConfig{Feed: cfg.Feed, Provider: p.agent, Clock: cfg.Clock, Log: cfg.Log})
	}
	return p, nil
}

// Following reports whether the provider is live on the chain's event feed
// (Config.Feed): every change to its warrants reaches it as its block is
// made, so it neither polls nor re-reads warrant state per payment.
func (p *Provider) Following() bool { return p.watch != nil && p.watch.Live() }

// Agent returns the provider's agent ID: the provider of its warrants.
func (p *Provider) Agent() isc.AgentID { return p.agent }

// ChainID returns the chain the provider settles on.
func (p *Provider) ChainID() isc.ChainID { return p.cfg.Chain.ID() }

// WarrantID returns the store's ID of payer's warrant for this provider.
func (p *Provider) WarrantID(payer isc.AgentID) store.WarrantID {
	return store.WarrantID{Payer: string(payer.Bytes()), Provider: p.self}
}

func (p *Provider) warrantFor(payerBytes string) (*warrant, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := store.WarrantID{Payer: payerBytes, Provider: p.self}
	if w, ok := p.warrants[id]; ok {
		return w, nil
	}
	payer, err := isc.AgentIDFromBytes([]byte(payerBytes))
	if err != nil {
		return nil, fmt.Errorf("payer agent ID: %w", err)
	}
	w := &warrant{id: id, payer: payer}
	p.warrants[id] = w
	return w, nil
}

// withReceipts returns the warrants the provider holds payments for: the
// ones settlements, schedules and metrics are about.
func (p *Provider) withReceipts() []*warrant {
	ws := p.snapshotWarrants()
	out := ws[:0]
	for _, w := range ws {
		w.mu.Lock()
		has := w.has
		w.mu.Unlock()
		if has {
			out = append(out, w)
		}
	}
	return out
}

func (p *Provider) snapshotWarrants() []*warrant {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*warrant, 0, len(p.warrants))
	for _, w := range p.warrants {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id.Payer < out[j].id.Payer })
	return out
}

// reread reads the warrant's on-chain state, without holding w.mu across
// the read, and records it unless w's state changed meanwhile (an event
// applied, another read recorded): that state is at least as new.
func (p *Provider) reread(ctx context.Context, w *warrant) error {
	w.mu.Lock()
	gen := w.gen
	w.mu.Unlock()
	info, err := p.cfg.Chain.WarrantInfo(ctx, w.payer, p.agent)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gen == gen {
		w.info, w.infoRead = info, p.cfg.Clock.Now()
		w.gen++
	}
	return nil
}

// warrantState is a copy of a warrant's state, taken under its lock, that
// decisions are made on outside it.
type warrantState struct {
	info   chain.WarrantInfo
	newest store.Receipt
	has    bool // newest is set
}

// state returns a copy of w's state.
func (w *warrant) state() warrantState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stateLocked()
}

// stateLocked is state for a caller holding w.mu.
func (w *warrant) stateLocked() warrantState {
	return warrantState{info: w.info, newest: w.newest, has: w.has}
}

// unsettled is what the newest accepted payment owes beyond what the chain
// has paid in its epoch.
func (s warrantState) unsettled() uint64 {
	if !s.has || s.newest.Payment.Epoch != s.info.Epoch || s.newest.Payment.Total < s.info.Paid {
		return 0
	}
	return s.newest.Payment.Total - s.info.Paid
}

// pendingOrdinal reports whether the newest accepted payment of the current
// epoch is above what the chain has settled.
func (s warrantState) pendingOrdinal() bool {
	return s.has && s.newest.Payment.Epoch == s.info.Epoch && s.info.Exists && s.newest.Payment.Ordinal > s.info.LastOrdinal
}

// closedUnsettled reports whether the newest payment belongs to an epoch
// that has ended: settling then records the loss.
func (s warrantState) closedUnsettled() bool {
	return s.has && s.newest.Payment.Epoch < s.info.Epoch
}

// unsettled is warrantState.unsettled for a caller holding w.mu.
func (w *warrant) unsettled() uint64 { return w.stateLocked().unsettled() }

// WarrantView is a warrant as the operator API lists it.
type WarrantView struct {
	Payer       string `json:"payer"`
	Epoch       uint32 `json:"epoch"`
	Exists      bool   `json:"exists"`
	Balance     uint64 `json:"balance"`
	Settled     uint64 `json:"settled"`     // paid on chain in this epoch
	LastOrdinal uint64 `json:"lastOrdinal"` // newest accepted
	LastTotal   uint64 `json:"lastTotal"`   // newest accepted cumulative total
	Unsettled   uint64 `json:"unsettled"`   // exposure: accepted but not settled
	Deadline    uint64 `json:"deadline,omitempty"`
}

// Warrants lists the warrants the provider holds payments for, as of its
// last read of each (no chain access).
func (p *Provider) Warrants() []WarrantView {
	ws := p.withReceipts()
	out := make([]WarrantView, 0, len(ws))
	for _, w := range ws {
		w.mu.Lock()
		v := WarrantView{
			Payer: w.payer.String(), Epoch: w.info.Epoch, Exists: w.info.Exists, Balance: w.info.Balance,
			Settled: w.info.Paid, Unsettled: w.unsettled(), Deadline: w.info.Deadline,
		}
		if w.has {
			v.LastOrdinal, v.LastTotal = w.newest.Payment.Ordinal, w.newest.Payment.Total
		}
		w.mu.Unlock()
		out = append(out, v)
	}
	return out
}
