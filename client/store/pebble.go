package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/micropay/micropay/internal/durable"
)

var _ Store = (*Pebble)(nil)

// Pebble is the durable Store, on a Pebble database in one directory (key
// layout: the prefix* constants in record.go). Every write but Conclude's
// is synced to the write-ahead log before it returns; concurrent receipts
// are committed in groups, one batch and one WAL sync each
// (pebble_commit.go), and other concurrent writes share a sync through
// Pebble's commit pipeline. Conclude's write is
// made durable by the next synced write or by a background sync it starts
// (pebble_outcomes.go), whichever comes first.
//
// Appends to one warrant are serialized by a lock of that warrant, held
// from reading the newest receipt to the end of the synced write; appends to
// different warrants never wait on each other.
type Pebble struct {
	db    *pebble.DB
	locks warrantLocks
	bufs  sync.Pool // *[]byte scratch for a write's keys and values

	outcomes outcomeSyncer // Conclude's background syncs
	commits  *committer    // receipts' synced writes, in groups

	mu     sync.Mutex     // guards closed and ops.Add
	closed bool           // set by Close; no operation starts after it
	ops    sync.WaitGroup // operations in flight; Close waits for them
}

// Option configures Open. It edits the pebble.Options that Open passes to
// pebble.Open, after Open's defaults (a quiet logger); an option that makes
// writes unsyncable (DisableWAL) makes every write fail.
type Option func(*pebble.Options)

// WithLogger sends Pebble's log messages to l. By default Open drops
// Pebble's informational messages, which it would otherwise write to
// stderr, and keeps its fatal ones.
func WithLogger(l pebble.Logger) Option {
	return func(o *pebble.Options) { o.Logger = l }
}

// withFS runs the database on fs instead of the operating system's: tests
// use it to count syncs and to simulate power loss.
func withFS(fs vfs.FS) Option {
	return func(o *pebble.Options) { o.FS = fs }
}

// Open opens the store in dir, creating it if needed. Only one process (and
// one Pebble) may hold a directory at a time.
//
// Open keeps a sentinel file beside dir (SentinelPath) naming the store's
// ID, which the database holds too. It refuses, with ErrDamaged and what to
// do, a store that has lost its CURRENT file, its write-ahead log, its
// identity or its whole directory since the sentinel was written, and a
// directory holding another store: opened anyway, such a store would hold
// fewer payments than were acknowledged. It cannot see the loss of some of
// the log's writes; a provider cross-checks its newest receipts against
// the chain for that.
func Open(dir string, opts ...Option) (*Pebble, error) {
	o := &pebble.Options{Logger: quietLogger{}}
	for _, opt := range opts {
		opt(o)
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	sentinel, hasSentinel, err := readSentinel(o.FS, SentinelPath(dir))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	files, err := listDir(o.FS, dir)
	if err == nil {
		err = checkFiles(files, dir, hasSentinel)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	if err := durable.CreateDir(o.FS, dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	db, err := pebble.Open(dir, o)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	if err := durable.CheckFormat(db, keyFormat, formatVersion, ErrCorrupt); err != nil {
		return nil, errors.Join(fmt.Errorf("store: open %s: %w", dir, err), db.Close())
	}
	if err := checkIdentity(o.FS, db, dir, sentinel, hasSentinel); err != nil {
		return nil, errors.Join(fmt.Errorf("store: open %s: %w", dir, err), db.Close())
	}
	return &Pebble{db: db, locks: warrantLocks{m: make(map[WarrantID]*warrantLock)}, commits: newCommitter(db)}, nil
}

// enter starts an operation; it reports false once the store is closed.
// Every enter that returns true is paired with exit.
func (s *Pebble) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.ops.Add(1)
	return true
}

func (s *Pebble) exit() { s.ops.Done() }

// Append implements Store. It reads the warrant's newest (epoch, ordinal)
// and writes the receipt and the new warrant record in one synced batch,
// under the warrant's lock. A cancelled ctx is honoured before the write,
// not during it: once the batch is committed, Append waits for its sync.
func (s *Pebble) Append(ctx context.Context, r Receipt) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkReceipt(r); err != nil {
		return err
	}
	if !s.enter() {
		return ErrClosed
	}
	defer s.exit()

	l := s.locks.lock(r.Warrant)
	defer s.locks.unlock(r.Warrant, l)
	if err := ctx.Err(); err != nil {
		return err // cancelled while waiting for the warrant
	}
	state, ok, err := s.warrantState(s.db, r.Warrant)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if ok && !newer(r, state.Epoch, state.Ordinal) {
		return notNewer(r, state.Epoch, state.Ordinal)
	}
	credit, err := appendCredit(r, state.Credit)
	if err != nil {
		return err
	}
	state = warrantState{Epoch: r.Payment.Epoch, Ordinal: r.Payment.Ordinal, Receipts: state.Receipts + 1, Credit: credit}
	if err := s.writeReceipt(r, state, Served, pebble.Sync); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	return nil
}

// writeReceipt writes r, its warrant's record state and r's pending mark
// (set when r is Pending, deleted when it was Pending before, as was says)
// in one batch, committed with opts. The caller holds the warrant's lock.
func (s *Pebble) writeReceipt(r Receipt, state warrantState, was Outcome, opts *pebble.WriteOptions) error {
	b := s.db.NewBatch()
	defer b.Close()
	scratch := s.scratch()
	defer s.bufs.Put(scratch)
	buf := *scratch
	var key, value, wkey, wvalue, pkey []byte
	buf, key = appendPart(buf, func(dst []byte) []byte {
		return appendKeyWithSuffix(dst, prefixReceipt, r.Warrant, r.Payment.Epoch, r.Payment.Ordinal)
	})
	buf, value = appendPart(buf, func(dst []byte) []byte { return appendReceiptValue(dst, r) })
	buf, wkey = appendPart(buf, func(dst []byte) []byte { return appendWarrantKey(append(dst, prefixWarrant), r.Warrant) })
	buf, wvalue = appendPart(buf, func(dst []byte) []byte { return appendWarrantValue(dst, state) })
	buf, pkey = appendPart(buf, func(dst []byte) []byte {
		return appendKeyWithSuffix(dst, prefixPending, r.Warrant, r.Payment.Epoch, r.Payment.Ordinal)
	})
	*scratch = buf
	err := b.Set(key, value, nil)
	if err == nil {
		err = b.Set(wkey, wvalue, nil)
	}
	if err == nil && r.Outcome == Pending {
		err = b.Set(pkey, nil, nil)
	} else if err == nil && was == Pending {
		err = b.Delete(pkey, nil)
	}
	switch {
	case err != nil:
	case opts.Sync:
		err = s.commits.commit(b)
	default:
		err = b.Commit(opts)
	}
	if err != nil {
		return fmt.Errorf("write receipt %x: %w", key, err)
	}
	return nil
}

// scratch returns an empty buffer for a write's keys and values; put it
// back in s.bufs once the batch is committed (pebble copies what it is
// given).
func (s *Pebble) scratch() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

// Conclude implements Store. It does not wait for a sync: the outcome is
// written to the log at once and made durable by the next synced write or
// by the background sync it asks for, which starts at once. A crash in
// between leaves the receipt pending, and CreditPending credits it at the
// next start: the consumer gets the piece again for free, never pays for
// one it did not get. Waiting for that sync here would hold the request,
// and on a keep-alive connection the meter's next payment, for a second
// fsync after the one that acknowledged the payment.
func (s *Pebble) Conclude(ctx context.Context, k ReceiptKey, served bool) (Receipt, uint64, error) {
	if err := s.outcomeSyncErr(); err != nil {
		return Receipt{}, 0, err
	}
	r, credit, err := s.update(ctx, k, "conclude", pebble.NoSync, func(r Receipt, credit uint64, newest bool) (Receipt, uint64, error) {
		return conclude(r, credit, newest, served)
	})
	if err == nil {
		s.syncOutcomes()
	}
	return r, credit, err
}

// Replay implements Store. It is synced before it returns: the piece is
// served again only once the credit it takes back is durably gone.
func (s *Pebble) Replay(ctx context.Context, k ReceiptKey) (Receipt, uint64, error) {
	return s.update(ctx, k, "replay", pebble.Sync, replayed)
}

// update reads the receipt k and its warrant's credit under the warrant's
// lock, applies change and writes what changed in one batch committed
// with opts.
func (s *Pebble) update(ctx context.Context, k ReceiptKey, what string, opts *pebble.WriteOptions, change func(r Receipt, credit uint64, newest bool) (Receipt, uint64, error)) (Receipt, uint64, error) {
	if err := ctx.Err(); err != nil {
		return Receipt{}, 0, err
	}
	if err := checkWarrant(k.Warrant); err != nil {
		return Receipt{}, 0, err
	}
	if !s.enter() {
		return Receipt{}, 0, ErrClosed
	}
	defer s.exit()
	l := s.locks.lock(k.Warrant)
	defer s.locks.unlock(k.Warrant, l)

	state, ok, err := s.warrantState(s.db, k.Warrant)
	if err != nil {
		return Receipt{}, 0, fmt.Errorf("%s: %w", what, err)
	}
	key := receiptKey(k.Warrant, k.Epoch, k.Ordinal)
	r, found, err := get(s.db, key, func(value []byte) (Receipt, error) { return decodeReceipt(key, value) })
	if err != nil {
		return Receipt{}, 0, fmt.Errorf("%s: %w", what, err)
	}
	if !ok || !found {
		return Receipt{}, 0, fmt.Errorf("%s receipt %d/%d of warrant %s: %w", what, k.Epoch, k.Ordinal, warrantHex(k.Warrant), ErrNoReceipt)
	}
	newest := state.Epoch == k.Epoch && state.Ordinal == k.Ordinal
	after, credit, err := change(r, state.Credit, newest)
	if err != nil {
		return Receipt{}, 0, fmt.Errorf("%s: %w", what, err)
	}
	if after == r && credit == state.Credit {
		return r, credit, nil
	}
	state.Credit = credit
	if err := s.writeReceipt(after, state, r.Outcome, opts); err != nil {
		return Receipt{}, 0, fmt.Errorf("%s: %w", what, err)
	}
	return after, credit, nil
}

// CreditPending implements Store. It reads the pending marks, not the
// receipts: as many as the requests in flight when the provider stopped.
func (s *Pebble) CreditPending(ctx context.Context, provider string) ([]Receipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	keys, err := s.pendingKeys(provider)
	if err != nil {
		return nil, fmt.Errorf("credit pending: %w", err)
	}
	out := make([]Receipt, 0, len(keys))
	for _, k := range keys {
		r, _, err := s.Conclude(ctx, k, false)
		if err != nil {
			return out, fmt.Errorf("credit pending: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// pendingKeys lists the pending receipts of provider's warrants.
func (s *Pebble) pendingKeys(provider string) ([]ReceiptKey, error) {
	if !s.enter() {
		return nil, ErrClosed
	}
	defer s.exit()
	lower := []byte{prefixPending}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	var keys []ReceiptKey
	for ok := iter.First(); ok; ok = iter.Next() {
		k, err := parsePendingKey(iter.Key())
		if err != nil {
			return nil, err
		}
		if k.Warrant.Provider == provider {
			keys = append(keys, k)
		}
	}
	return keys, iter.Error()
}

// Newest implements Store.
func (s *Pebble) Newest(ctx context.Context, w WarrantID) (Receipt, bool, error) {
	if err := ctx.Err(); err != nil {
		return Receipt{}, false, err
	}
	if err := checkWarrant(w); err != nil {
		return Receipt{}, false, err
	}
	if !s.enter() {
		return Receipt{}, false, ErrClosed
	}
	defer s.exit()

	// Receipts are never deleted, so the receipt a warrant record names is
	// there even if an Append lands between the two reads.
	state, ok, err := s.warrantState(s.db, w)
	if err != nil || !ok {
		return Receipt{}, false, err
	}
	r, err := s.receipt(s.db, w, state)
	if err != nil {
		return Receipt{}, false, err
	}
	return r, true, nil
}

// Warrants implements Store. It reads one snapshot of the store.
func (s *Pebble) Warrants(ctx context.Context) ([]WarrantSummary, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.enter() {
		return nil, ErrClosed
	}
	defer s.exit()

	snap := s.db.NewSnapshot()
	defer snap.Close()
	lower := []byte{prefixWarrant}
	iter, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, fmt.Errorf("warrants: %w", err)
	}
	defer iter.Close()
	sr, err := newSummaryReader(snap)
	if err != nil {
		return nil, fmt.Errorf("warrants: %w", err)
	}
	defer sr.close()

	var out []WarrantSummary
	for ok := iter.First(); ok; ok = iter.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		w, _, err := parseKey(iter.Key(), prefixWarrant, 0)
		if err != nil {
			return nil, fmt.Errorf("warrants: %w", err)
		}
		state, err := decodeWarrantValue(iter.Value())
		if err != nil {
			return nil, fmt.Errorf("warrants: %s: %w", warrantHex(w), err)
		}
		ws, err := sr.summary(w, state)
		if err != nil {
			return nil, fmt.Errorf("warrants: %w", err)
		}
		out = append(out, ws)
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("warrants: %w", err)
	}
	// Keys order warrants by the lengths of their agent IDs first.
	slices.SortFunc(out, func(a, b WarrantSummary) int { return compareWarrants(a.Warrant, b.Warrant) })
	return out, nil
}

// summaryReader reads warrants' newest receipts and latest settlements
// from one snapshot for Warrants, in the order of the warrant records'
// keys: two iterators moving forward (the receipt and settlement keys of
// warrants sort as their warrant records' keys do), not a look-up each.
type summaryReader struct {
	receipts, settlements *pebble.Iterator
	settlementsOK         bool   // settlements is at a key
	key                   []byte // scratch
}

func newSummaryReader(snap *pebble.Snapshot) (*summaryReader, error) {
	iterOf := func(prefix byte) (*pebble.Iterator, error) {
		lower := []byte{prefix}
		return snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	}
	receipts, err := iterOf(prefixReceipt)
	if err != nil {
		return nil, err
	}
	settlements, err := iterOf(prefixSettlement)
	if err != nil {
		return nil, errors.Join(err, receipts.Close())
	}
	return &summaryReader{receipts: receipts, settlements: settlements, settlementsOK: settlements.First()}, nil
}

func (r *summaryReader) close() { _ = errors.Join(r.receipts.Close(), r.settlements.Close()) }

// summary returns the summary of w, whose warrant record is state. Calls
// must come in the order of the warrant records' keys.
func (r *summaryReader) summary(w WarrantID, state warrantState) (WarrantSummary, error) {
	r.key = appendKeyWithSuffix(r.key[:0], prefixReceipt, w, state.Epoch, state.Ordinal)
	if !r.receipts.SeekGE(r.key) || !bytes.Equal(r.receipts.Key(), r.key) {
		if err := r.receipts.Error(); err != nil {
			return WarrantSummary{}, err
		}
		return WarrantSummary{}, fmt.Errorf("%w: warrant %s names missing receipt %x", ErrCorrupt, warrantHex(w), r.key)
	}
	newest, err := decodeReceipt(r.receipts.Key(), r.receipts.Value())
	if err != nil {
		return WarrantSummary{}, err
	}
	ws := WarrantSummary{Warrant: w, Newest: newest, Receipts: state.Receipts, Credit: state.Credit}
	r.key = appendWarrantKey(append(r.key[:0], prefixSettlement), w)
	for r.settlementsOK && bytes.Compare(r.settlements.Key(), r.key) < 0 {
		r.settlementsOK = r.settlements.Next()
	}
	if err := r.settlements.Error(); err != nil {
		return WarrantSummary{}, err
	}
	if r.settlementsOK && bytes.Equal(r.settlements.Key(), r.key) {
		st, err := decodeSettlement(r.settlements.Key(), r.settlements.Value())
		if err != nil {
			return WarrantSummary{}, err
		}
		ws.LastSettlement = &st
	}
	return ws, nil
}

// Receipts implements Store. It walks one consistent view of the store,
// taken when it starts; fn may call the store, including Append. The time
// bounds of f are checked on every receipt of the selected warrants (there
// is no index by time).
func (s *Pebble) Receipts(ctx context.Context, f ReceiptFilter, fn func(Receipt) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.Warrant != nil {
		if err := checkWarrant(*f.Warrant); err != nil {
			return err
		}
	}
	if !s.enter() {
		return ErrClosed
	}
	defer s.exit()

	// One iterator is one point-in-time view; SetBounds moves it between
	// prefixes without changing the view.
	iter, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("receipts: %w", err)
	}
	defer iter.Close()

	var warrants []WarrantID
	if f.Warrant != nil {
		warrants = []WarrantID{*f.Warrant}
	} else if warrants, err = listWarrants(iter); err != nil {
		return fmt.Errorf("receipts: %w", err)
	}
	for _, w := range warrants {
		lower := warrantKeyWithPrefix(prefixReceipt, w)
		iter.SetBounds(lower, prefixEnd(lower))
		for ok := iter.First(); ok; ok = iter.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := decodeReceipt(iter.Key(), iter.Value())
			if err != nil {
				return fmt.Errorf("receipts: %w", err)
			}
			if !acceptedIn(f, r.AcceptedAt) {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if err := iter.Error(); err != nil {
			return fmt.Errorf("receipts: %w", err)
		}
	}
	return nil
}

// listWarrants returns the warrants that have a warrant record, ordered by
// compareWarrants.
func listWarrants(iter *pebble.Iterator) ([]WarrantID, error) {
	lower := []byte{prefixWarrant}
	iter.SetBounds(lower, prefixEnd(lower))
	var out []WarrantID
	for ok := iter.First(); ok; ok = iter.Next() {
		w, _, err := parseKey(iter.Key(), prefixWarrant, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	if err := iter.Error(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, compareWarrants)
	return out, nil
}

// SaveSettlement implements Store.
func (s *Pebble) SaveSettlement(ctx context.Context, st Settlement) error {
	return s.setWarrantRecord(ctx, st.Warrant, prefixSettlement, appendSettlementValue(nil, st), "save settlement")
}

// LastSettlement implements Store.
func (s *Pebble) LastSettlement(ctx context.Context, w WarrantID) (Settlement, bool, error) {
	return getWarrantRecord(ctx, s, w, prefixSettlement, decodeSettlement)
}

// Acknowledge implements Store.
func (s *Pebble) Acknowledge(ctx context.Context, a Acknowledgement) error {
	return s.setWarrantRecord(ctx, a.Warrant, prefixAck, appendAckValue(nil, a), "acknowledge")
}

// Acknowledged implements Store.
func (s *Pebble) Acknowledged(ctx context.Context, w WarrantID) (Acknowledgement, bool, error) {
	return getWarrantRecord(ctx, s, w, prefixAck, decodeAck)
}

// setWarrantRecord writes value under prefix | w, synced: the one-record
// writes (settlement, acknowledgement).
func (s *Pebble) setWarrantRecord(ctx context.Context, w WarrantID, prefix byte, value []byte, what string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkWarrant(w); err != nil {
		return err
	}
	if !s.enter() {
		return ErrClosed
	}
	defer s.exit()
	if err := s.db.Set(warrantKeyWithPrefix(prefix, w), value, pebble.Sync); err != nil {
		return fmt.Errorf("%s %s: %w", what, warrantHex(w), err)
	}
	return nil
}

// getWarrantRecord reads and decodes the record under prefix | w; ok is
// false when there is none.
func getWarrantRecord[T any](ctx context.Context, s *Pebble, w WarrantID, prefix byte, decode func(key, value []byte) (T, error)) (v T, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return v, false, err
	}
	if err := checkWarrant(w); err != nil {
		return v, false, err
	}
	if !s.enter() {
		return v, false, ErrClosed
	}
	defer s.exit()
	key := warrantKeyWithPrefix(prefix, w)
	return get(s.db, key, func(value []byte) (T, error) { return decode(key, value) })
}

// Close implements Store. It waits for the operations in flight (a
// Receipts walk until fn returns), then closes the database.
func (s *Pebble) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()

	s.ops.Wait()
	s.commits.stop()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// reader is what the lookups below need: the DB or a snapshot of it.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

// get calls decode on the value of key; ok is false when there is none.
func get[T any](r reader, key []byte, decode func(value []byte) (T, error)) (v T, ok bool, err error) {
	value, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("get %x: %w", key, err)
	}
	defer closer.Close()
	v, err = decode(value)
	return v, err == nil, err
}

func (s *Pebble) warrantState(r reader, w WarrantID) (warrantState, bool, error) {
	state, ok, err := get(r, warrantKeyWithPrefix(prefixWarrant, w), decodeWarrantValue)
	if err != nil {
		return warrantState{}, false, fmt.Errorf("warrant %s: %w", warrantHex(w), err)
	}
	return state, ok, nil
}

// receipt reads the newest receipt that state names.
func (s *Pebble) receipt(r reader, w WarrantID, state warrantState) (Receipt, error) {
	key := receiptKey(w, state.Epoch, state.Ordinal)
	rec, ok, err := get(r, key, func(value []byte) (Receipt, error) { return decodeReceipt(key, value) })
	if err != nil {
		return Receipt{}, err
	}
	if !ok {
		return Receipt{}, fmt.Errorf("%w: warrant %s names missing receipt %x", ErrCorrupt, warrantHex(w), key)
	}
	return rec, nil
}

// warrantLocks hands out one mutex per warrant that has an Append in
// flight, so the check "newer than newest" and the write are atomic per
// warrant while appends to other warrants proceed (and share WAL syncs).
// An entry is dropped when its last holder unlocks, so the map is as large
// as the appends in flight. mu is held only to find or drop an entry, never
// across I/O.
type warrantLocks struct {
	mu sync.Mutex
	m  map[WarrantID]*warrantLock
}

type warrantLock struct {
	sync.Mutex
	refs int // holders and waiters; guarded by warrantLocks.mu
}

func (l *warrantLocks) lock(w WarrantID) *warrantLock {
	l.mu.Lock()
	wl := l.m[w]
	if wl == nil {
		wl = &warrantLock{}
		l.m[w] = wl
	}
	wl.refs++
	l.mu.Unlock()

	wl.Lock()
	return wl
}

func (l *warrantLocks) unlock(w WarrantID, wl *warrantLock) {
	wl.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if wl.refs--; wl.refs == 0 {
		delete(l.m, w)
	}
}

// quietLogger drops Pebble's informational messages and keeps its fatal
// ones, which must not return.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
