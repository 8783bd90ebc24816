package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract"
)

// pairKey names a warrant (payer, provider) by AgentID.Bytes().
type pairKey struct{ payer, provider string }

// viewCache is the chain seam every party of the simulation talks to. It
// answers getWarrantInfo and getPublicKey from a cache, so that the
// provider's reads per payment and per poll cost no VM call: an entry is
// dropped as soon as a block carries a micropay event for its warrant (the
// contract emits one for every state change, docs/protocol.md §5), and
// after every Post the engine scans the new blocks. The answers are thus
// exactly what the chain would answer. Public keys are cached once seen;
// a payer's key hashes to its address and cannot change.
type viewCache struct {
	*solochain.Embedded
	afterPost func() error // scans the blocks a request produced
	disabled  bool         // pass every read through (equivalence tests)

	mu     sync.Mutex
	infos  map[pairKey]chain.WarrantInfo
	keys   map[string][]byte
	hits   uint64
	misses uint64
}

var _ chain.Chain = (*viewCache)(nil)

func newViewCache(e *solochain.Embedded, afterPost func() error, disabled bool) *viewCache {
	return &viewCache{
		Embedded: e, afterPost: afterPost, disabled: disabled,
		infos: map[pairKey]chain.WarrantInfo{}, keys: map[string][]byte{},
	}
}

// WarrantInfo implements chain.Chain.
func (v *viewCache) WarrantInfo(ctx context.Context, payer, provider isc.AgentID) (chain.WarrantInfo, error) {
	if v.disabled {
		return v.Embedded.WarrantInfo(ctx, payer, provider)
	}
	k := pairKey{string(payer.Bytes()), string(provider.Bytes())}
	v.mu.Lock()
	info, ok := v.infos[k]
	if ok {
		v.hits++
	}
	v.mu.Unlock()
	if ok {
		return info, ctx.Err()
	}
	info, err := v.Embedded.WarrantInfo(ctx, payer, provider)
	if err != nil {
		return info, err
	}
	v.mu.Lock()
	v.misses++
	v.infos[k] = info
	v.mu.Unlock()
	return info, nil
}

// PublicKey implements chain.Chain.
func (v *viewCache) PublicKey(ctx context.Context, payer isc.AgentID) ([]byte, error) {
	if v.disabled {
		return v.Embedded.PublicKey(ctx, payer)
	}
	k := string(payer.Bytes())
	v.mu.Lock()
	pk, ok := v.keys[k]
	v.mu.Unlock()
	if ok {
		return pk, ctx.Err()
	}
	pk, err := v.Embedded.PublicKey(ctx, payer)
	if err == nil && pk != nil {
		v.mu.Lock()
		v.keys[k] = pk
		v.mu.Unlock()
	}
	return pk, err
}

// Post implements chain.Chain: it posts, then lets the engine scan the
// blocks the request produced before anyone reads again.
func (v *viewCache) Post(ctx context.Context, signer *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	rec, err := v.Embedded.Post(ctx, signer, req)
	if serr := v.afterPost(); serr != nil {
		return rec, errors.Join(err, serr)
	}
	return rec, err
}

// invalidate drops the cached state of a warrant.
func (v *viewCache) invalidate(k pairKey) {
	v.mu.Lock()
	delete(v.infos, k)
	v.mu.Unlock()
}

// providerSeam is the chain seam one provider gets: it counts the gas fees
// of the provider's requests, and in tests it can plant a broken provider
// that drops its settle requests while reporting success.
type providerSeam struct {
	chain.Chain
	pr    *prov
	group *blockGroup // while it runs, requests go into its shared blocks
	mu    sync.Mutex  // guards pr.fees: several workers may settle for one provider

	dropSettles bool // fault: settle requests vanish, Post reports success
}

// Post implements chain.Chain.
func (s *providerSeam) Post(ctx context.Context, signer *cryptolib.KeyPair, req chain.Request) (*chain.Receipt, error) {
	if s.dropSettles && (req.Entry == contract.FuncSettle.Name || req.Entry == contract.FuncSettleMany.Name) {
		return &chain.Receipt{}, nil
	}
	rec, err, grouped := s.group.post(ctx, s.pr.idx, signer, req)
	if !grouped {
		rec, err = s.Chain.Post(ctx, signer, req)
	}
	if rec != nil {
		s.mu.Lock()
		s.pr.fees += rec.GasFee
		s.mu.Unlock()
	}
	return rec, err
}

// recordingStore is the provider's in-memory store, keeping besides the
// latest settlement of each warrant (all that store.Store keeps) every
// settlement record ever saved, and counting them by outcome.
type recordingStore struct {
	store.Store

	mu      sync.Mutex
	history map[store.WarrantID][]store.Settlement
	stats   SettlementStats
}

func newRecordingStore() *recordingStore {
	return &recordingStore{Store: store.NewMemory(), history: map[store.WarrantID][]store.Settlement{}}
}

// SaveSettlement implements store.Store.
func (r *recordingStore) SaveSettlement(ctx context.Context, s store.Settlement) error {
	if err := r.Store.SaveSettlement(ctx, s); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.history[s.Warrant] = append(r.history[s.Warrant], s)
	switch {
	case s.State == store.Submitted && s.Error == "":
		r.stats.Attempts++
	case s.State == store.Submitted:
		r.stats.Unknown++
	case s.State == store.Landed:
		r.stats.Landed++
	case s.State == store.Failed && isMissed(s):
		r.stats.Missed++
	case s.State == store.Failed:
		r.stats.Rejected++
	}
	return nil
}

// isMissed reports whether s is the provider's record of a settlement it
// missed (provider.OutcomeMissed).
func isMissed(s store.Settlement) bool {
	return s.State == store.Failed && strings.HasPrefix(s.Error, "missed")
}

// missed returns the provider's missed-settlement record for epoch of w.
func (r *recordingStore) missed(w store.WarrantID, epoch uint32) (store.Settlement, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.history[w] {
		if s.Epoch == epoch && isMissed(s) {
			return s, true
		}
	}
	return store.Settlement{}, false
}

func (r *recordingStore) settlementStats() SettlementStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// runBatch runs items in one block (solochain.Embedded.PostBatch) and
// returns the gas fee each paid; an item the chain rejected or left
// unknown is an error.
func runBatch(ctx context.Context, e *solochain.Embedded, items []solochain.BatchRequest) ([]uint64, error) {
	fees := make([]uint64, len(items))
	var errs []error
	for i, o := range e.PostBatch(ctx, items) {
		if o.Receipt != nil {
			fees[i] = o.Receipt.GasFee
		}
		if o.Err != nil {
			contractName := items[i].Contract
			if contractName == "" {
				contractName = contract.Contract.Name
			}
			errs = append(errs, fmt.Errorf("%s.%s: %w", contractName, items[i].Request.Entry, o.Err))
		}
	}
	return fees, errors.Join(errs...)
}
