package consumer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/micropay/micropay/client/consumer/internal/record"
	"github.com/micropay/micropay/contract/payment"
	"github.com/micropay/micropay/internal/durable"
)

// Position is where a payer stands on one warrant: the newest payment it
// signed and what the next one builds on.
type Position struct {
	Epoch uint32
	// Ordinal is the highest ordinal signed in Epoch; the next payment
	// takes Ordinal+1. It never goes down within an epoch.
	Ordinal uint64
	// Total is the cumulative total the next payment adds its amount to:
	// the newest signed total, unless the provider refused that payment
	// (Payer.Refused).
	Total uint64
	// Signed is the highest total signed in Epoch, at or above Total
	// (above it after a refusal). The chain can show no more paid than
	// this unless the payer's state is not the whole story
	// (StateMismatchError).
	Signed uint64
	// Doubt says that the outcome of a payment since the last clean answer
	// is not known: its answer never came, or the provider credited its
	// piece. The provider may hold a credit for it, so the next payment is
	// made through the 402 exchange, which states the credit, not
	// pre-emptively (Transport). A clean answer clears it.
	Doubt bool
}

func (p Position) String() string {
	if p.Signed != p.Total {
		return fmt.Sprintf("epoch %d, ordinal %d, total %d (highest signed %d)", p.Epoch, p.Ordinal, p.Total, p.Signed)
	}
	return fmt.Sprintf("epoch %d, ordinal %d, total %d", p.Epoch, p.Ordinal, p.Total)
}

// StateStore keeps a payer's Position per warrant. Save returns only once
// the position is durable for a durable store. Implementations are safe for
// concurrent use; the Payer is the only writer of its keys, so they need
// not order concurrent saves of one warrant. PebbleState and MemState both
// pass the same conformance suite (state_test.go).
type StateStore interface {
	// Load returns the position saved for w; ok is false when none is.
	Load(ctx context.Context, w payment.Warrant) (p Position, ok bool, err error)
	// Save records p as w's position.
	Save(ctx context.Context, w payment.Warrant, p Position) error
	// Close releases the store; later calls fail with ErrStateClosed.
	Close() error
}

// State store errors, checked with errors.Is.
var (
	// ErrStateClosed: the state store was closed.
	ErrStateClosed = errors.New("consumer: state store closed")
	// ErrStateCorrupt: a stored record cannot be decoded.
	ErrStateCorrupt = errors.New("consumer: state store corrupt")
)

// Key layout of the durable store.
var (
	// keyFormat holds the store's format version, one byte
	// (TestPebbleStateRefusesOtherFormat).
	keyFormat = []byte("f")
)

const (
	// prefixPosition starts a position key:
	// 'p' | chain ID (32) | contract hname (u32 LE) | u8 len + payer | u8 len + provider.
	// The value is a position record (package record). TestStateKeysAreDistinct.
	prefixPosition = 'p'

	formatVersion byte = 1
)

// positionKey returns the store key of w: everything a payment's signature
// is bound to but the epoch, so positions of different chains, contract
// instances, payers or providers never share a key.
func positionKey(w payment.Warrant) []byte {
	k := make([]byte, 0, 1+payment.ChainIDSize+4+2+len(w.Payer)+len(w.Provider))
	k = append(k, prefixPosition)
	k = append(k, w.ChainID[:]...)
	k = binary.LittleEndian.AppendUint32(k, w.Contract)
	k = append(k, byte(len(w.Payer)))
	k = append(k, w.Payer...)
	k = append(k, byte(len(w.Provider)))
	return append(k, w.Provider...)
}

// encodePosition returns the record of p (layout: package record).
func encodePosition(p Position) []byte { return record.Encode(record.Position(p)) }

// decodePosition parses a record written by encodePosition; anything else
// is an error wrapping ErrStateCorrupt.
func decodePosition(b []byte) (Position, error) {
	p, err := record.Decode(b)
	if err != nil {
		return Position{}, fmt.Errorf("%w: %v", ErrStateCorrupt, err)
	}
	return Position(p), nil
}

var (
	_ StateStore = (*PebbleState)(nil)
	_ StateStore = (*MemState)(nil)
)

// PebbleState is the durable StateStore: a Pebble database in one
// directory. Every Save is synced to the write-ahead log before it returns
// (pebble.Sync); concurrent saves share syncs through Pebble's commit
// pipeline. Pebble locks the directory, so only one process holds it.
type PebbleState struct {
	db *pebble.DB

	mu     sync.RWMutex // read-held by every operation, write-held by Close
	closed bool
}

// OpenPayerState opens the payer's durable state in dir, creating it if
// needed.
func OpenPayerState(dir string) (*PebbleState, error) {
	return openPayerState(dir, vfs.Default)
}

// openPayerState opens the state on fs: tests pass a file system that can
// lose what was not synced, as a power loss would.
func openPayerState(dir string, fs vfs.FS) (*PebbleState, error) {
	if err := durable.CreateDir(fs, dir, 0o700); err != nil {
		return nil, fmt.Errorf("consumer: open payer state %s: %w", dir, err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}, FS: fs})
	if err != nil {
		return nil, fmt.Errorf("consumer: open payer state %s: %w", dir, err)
	}
	if err := durable.CheckFormat(db, keyFormat, formatVersion, ErrStateCorrupt); err != nil {
		return nil, errors.Join(fmt.Errorf("consumer: open payer state %s: %w", dir, err), db.Close())
	}
	return &PebbleState{db: db}, nil
}

// Load implements StateStore.
func (s *PebbleState) Load(ctx context.Context, w payment.Warrant) (Position, bool, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Position{}, false, ErrStateClosed
	}
	v, closer, err := s.db.Get(positionKey(w))
	if errors.Is(err, pebble.ErrNotFound) {
		return Position{}, false, nil
	}
	if err != nil {
		return Position{}, false, fmt.Errorf("consumer: load position: %w", err)
	}
	defer closer.Close()
	p, err := decodePosition(v)
	if err != nil {
		return Position{}, false, err
	}
	return p, true, nil
}

// Save implements StateStore: the position is on disk when it returns nil.
func (s *PebbleState) Save(ctx context.Context, w payment.Warrant, p Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrStateClosed
	}
	if err := s.db.Set(positionKey(w), encodePosition(p), pebble.Sync); err != nil {
		return fmt.Errorf("consumer: save position: %w", err)
	}
	return nil
}

// Close waits for operations in flight and closes the database.
func (s *PebbleState) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStateClosed
	}
	s.closed = true
	return s.db.Close()
}

// quietLogger drops Pebble's informational messages (it would write them
// to stderr) and keeps its fatal ones.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Fatalf(format string, args ...any) { pebble.DefaultLogger.Fatalf(format, args...) }

// MemState is an in-memory StateStore for tests and for payers that need
// no durability (a crash loses every position: do not sign real money with
// it).
type MemState struct {
	mu     sync.Mutex
	m      map[string]Position
	closed bool
}

// NewMemState returns an empty in-memory state store.
func NewMemState() *MemState { return &MemState{m: map[string]Position{}} }

// Load implements StateStore.
func (s *MemState) Load(ctx context.Context, w payment.Warrant) (Position, bool, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Position{}, false, ErrStateClosed
	}
	p, ok := s.m[string(positionKey(w))]
	return p, ok, nil
}

// Save implements StateStore.
func (s *MemState) Save(ctx context.Context, w payment.Warrant, p Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStateClosed
	}
	s.m[string(positionKey(w))] = p
	return nil
}

// Close implements StateStore.
func (s *MemState) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStateClosed
	}
	s.closed = true
	return nil
}
