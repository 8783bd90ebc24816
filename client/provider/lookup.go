package provider

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/benbjohnson/clock"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
)

// LookupLimits bounds what requests naming payers the provider holds no
// state for can cost it. Zero fields take the defaults given.
type LookupLimits struct {
	// MissTTL is how long a payer without a warrant (or without a
	// registered key) is remembered: within it, requests naming the payer
	// are refused without a chain read. Keep it short: a warrant opened
	// right after a refusal is seen at most MissTTL later. Default 2 s.
	MissTTL time.Duration
	// MissEntries bounds the misses remembered; the least recently used
	// is forgotten first. Default 10,000.
	MissEntries int
	// Rate and Burst limit each client's chain look-ups of payers the
	// provider neither holds state for nor remembers missing: Rate per
	// second, in bursts of up to Burst. Defaults 5/s, 20.
	Rate  rate.Limit
	Burst int
	// Clients bounds the clients whose look-up budget is tracked; the least
	// recently seen is forgotten (and starts afresh with a full burst).
	// Default 10,000.
	Clients int
}

func (l *LookupLimits) defaults() error {
	if l.MissTTL < 0 || l.MissEntries < 0 || l.Rate < 0 || l.Burst < 0 || l.Clients < 0 {
		return fmt.Errorf("provider: lookup limits must not be negative: %+v", *l)
	}
	if l.MissTTL == 0 {
		l.MissTTL = 2 * time.Second
	}
	if l.MissEntries == 0 {
		l.MissEntries = 10_000
	}
	if l.Rate == 0 {
		l.Rate = 5
	}
	if l.Burst == 0 {
		l.Burst = 20
	}
	if l.Clients == 0 {
		l.Clients = 10_000
	}
	return nil
}

// ReasonRateLimited labels payments refused unjudged in the metrics and in
// HTTP answers (429).
const ReasonRateLimited = "rate_limited"

// ErrRateLimited is what a *RateLimitedError matches with errors.Is.
var ErrRateLimited = errors.New("provider: too many look-ups of unknown payers")

// RateLimitedError refuses a payment without judging it: its client has
// used up its budget of chain look-ups for payers the provider does not
// know. Nothing was read or stored; retry after RetryAfter.
type RateLimitedError struct {
	Client     string
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%v: client %s may look up another new payer in %s", ErrRateLimited, e.Client, e.RetryAfter)
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// miss is a remembered refusal of a payer the provider holds no state for.
type miss struct {
	info   chain.WarrantInfo // as read; with no warrant, the next epoch
	reason string            // ReasonNoWarrant or ReasonUnknownPayer
	until  time.Time         // cfg.Clock time it is forgotten
}

// lookups remembers misses and meters chain look-ups per client; its
// caches are safe for concurrent use and bounded in size.
type lookups struct {
	limits  LookupLimits
	clock   clock.Clock
	misses  *lru.Cache[string, miss]
	clients *lru.Cache[string, *rate.Limiter]
	flight  singleflight.Group
	// names maps a payer's agent ID as text to its warrant, so that
	// POST /pay parses each payer once: one entry per warrant, its
	// canonical text only (rememberName).
	names sync.Map
	// news counts what the event feed told (changes, catch-ups): a look-up
	// during which it moved may have read the chain before the news, which
	// then found no state to apply to.
	news atomic.Uint64
}

func newLookups(limits LookupLimits, clk clock.Clock) (*lookups, error) {
	misses, err := lru.New[string, miss](limits.MissEntries)
	if err != nil {
		return nil, fmt.Errorf("provider: miss cache: %w", err)
	}
	clients, err := lru.New[string, *rate.Limiter](limits.Clients)
	if err != nil {
		return nil, fmt.Errorf("provider: client limiters: %w", err)
	}
	return &lookups{limits: limits, clock: clk, misses: misses, clients: clients}, nil
}

// recentMiss returns the remembered miss of payer, if it is still fresh.
func (l *lookups) recentMiss(payer string) (miss, bool) {
	m, ok := l.misses.Get(payer)
	if !ok || !l.clock.Now().Before(m.until) {
		return miss{}, false
	}
	return m, true
}

// forget drops the remembered miss of payer: its warrant may exist now.
func (l *lookups) forget(payer string) { l.misses.Remove(payer) }

func (l *lookups) remember(payer string, m miss) {
	m.until = l.clock.Now().Add(l.limits.MissTTL)
	l.misses.Add(payer, m)
}

// allow takes one look-up from client's budget; "" is not limited.
func (l *lookups) allow(client string) error {
	if client == "" {
		return nil
	}
	lim, ok := l.clients.Get(client)
	if !ok {
		lim = rate.NewLimiter(l.limits.Rate, l.limits.Burst)
		if prev, found, _ := l.clients.PeekOrAdd(client, lim); found {
			lim = prev
		}
	}
	now := l.clock.Now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return &RateLimitedError{Client: client, RetryAfter: d}
	}
	return nil
}

// rejection is the refusal a miss stands for.
func (m miss) rejection(payer isc.AgentID, provider isc.AgentID) *Rejection {
	if m.reason == ReasonUnknownPayer {
		return noKey(payer)
	}
	return noWarrant(payer, provider)
}

func noWarrant(payer, provider isc.AgentID) *Rejection {
	return reject(ReasonNoWarrant, "%s has no warrant for provider %s", payer, provider)
}

func noKey(payer isc.AgentID) *Rejection {
	return reject(ReasonUnknownPayer, "%s has not registered a public key", payer)
}

// cached returns the state the provider holds for payer's warrant, or nil.
func (p *Provider) cached(payer isc.AgentID) *warrant {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.warrants[p.WarrantID(payer)]
}

// lookup returns the provider's state for payer's warrant. A payer it holds
// state for costs nothing; for any other it reads the chain, once for
// concurrent requests, within client's look-up budget (a *RateLimitedError
// when spent; client "" is not limited). State is created only for a
// warrant that exists and whose payer registered a key; any other payer is
// refused with a *Rejection that is remembered for MissTTL, during which
// requests naming it are refused without a chain read.
func (p *Provider) lookup(ctx context.Context, client string, payer isc.AgentID) (*warrant, error) {
	if w := p.cached(payer); w != nil {
		return w, nil
	}
	key := string(payer.Bytes())
	if m, ok := p.lookups.recentMiss(key); ok {
		return nil, m.rejection(payer, p.agent)
	}
	if err := p.lookups.allow(client); err != nil {
		return nil, err
	}
	v, err, _ := p.lookups.flight.Do(key, func() (any, error) { return p.load(ctx, payer) })
	if err != nil {
		return nil, err
	}
	return v.(*warrant), nil
}

// load reads payer's warrant and key from the chain and, when both exist,
// creates the provider's state for the warrant.
func (p *Provider) load(ctx context.Context, payer isc.AgentID) (*warrant, error) {
	key := string(payer.Bytes())
	news := p.lookups.news.Load()
	info, err := p.cfg.Chain.WarrantInfo(ctx, payer, p.agent)
	if err != nil {
		return nil, fmt.Errorf("read warrant of %s: %w", payer, err)
	}
	if !info.Exists {
		m := miss{info: info, reason: ReasonNoWarrant}
		if p.lookups.news.Load() == news { // else the warrant may have opened since the read
			p.lookups.remember(key, m)
		}
		return nil, m.rejection(payer, p.agent)
	}
	pk, err := p.cfg.Chain.PublicKey(ctx, payer)
	if err != nil {
		return nil, fmt.Errorf("read public key of %s: %w", payer, err)
	}
	if pk == nil {
		m := miss{info: info, reason: ReasonUnknownPayer}
		p.lookups.remember(key, m)
		return nil, m.rejection(payer, p.agent)
	}
	read := p.cfg.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.WarrantID(payer)
	if w, ok := p.warrants[id]; ok {
		return w, nil // created meanwhile from another path
	}
	w := &warrant{id: id, payer: payer, info: info, infoRead: read, pubKey: pk}
	if p.lookups.news.Load() != news {
		// An event may have changed the warrant after the read, before it had
		// state here to change: its first use reads it again.
		w.infoRead = time.Time{}
	}
	p.warrants[id] = w
	return w, nil
}

// payerNamed returns the payer whose agent ID reads s and, when the
// provider has accepted a payment of the payer's under that text before,
// its warrant; otherwise it parses s (w nil).
func (p *Provider) payerNamed(s string) (isc.AgentID, *warrant, error) {
	if v, ok := p.lookups.names.Load(s); ok {
		w := v.(*warrant)
		return w.payer, w, nil
	}
	payer, err := isc.AgentIDFromString(s)
	return payer, nil, err
}

// rememberName lets payerNamed find w by s from now on, if s is the
// canonical text of w's payer: only one name per warrant, whatever the
// spellings requests use.
func (p *Provider) rememberName(s string, w *warrant) {
	if w != nil && w.name() == s {
		p.lookups.names.LoadOrStore(s, w)
	}
}

// ClientKey is the look-up budget key of an HTTP client at remoteAddr
// (host:port, as http.Request.RemoteAddr): its IP, or for IPv6 its /64
// network, which one subscriber usually holds whole.
func ClientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		if pfx, err := ip.Prefix(64); err == nil {
			return pfx.String()
		}
	}
	return ip.String()
}

// retryAfterSeconds renders d as a Retry-After value: whole seconds, at
// least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
