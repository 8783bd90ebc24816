package contract

import (
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/blake2b"

	"github.com/iotaledger/wasp/packages/util/rwutil"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv"
)

// State layout. Every integer is little-endian. A warrant pair is named by
// pairID: the first PairIDSize bytes of blake2b-256(u8 len + payer
// AgentID.Bytes() | provider AgentID.Bytes()), so a settle writes a short
// key (every byte written costs 55 gas).
const (
	// keyConfig holds the init parameters:
	// default ct (u64) | min ct (u64) | max ct (u64) | min new warrant (u64).
	// Covered by TestInitParams.
	keyConfig = "c"
	// prefixPublicKey | payer AgentID.Bytes() -> 32-byte ed25519 public key.
	// Covered by TestPublicKey*.
	prefixPublicKey = "k"
	// prefixWarrant | pairID -> balance | last ordinal | paid in epoch, each a
	// rwutil varint (WriteAmount64): the part of a warrant a settle changes,
	// kept short because a settle writes it. Absent when there is no warrant.
	// Covered by TestLifecycle.
	prefixWarrant = "w"
	// prefixTerms | pairID -> revoke deadline unix s (u64, 0 = not revoked) |
	// close timeout s (u64): written by addWarrant and revokeWarrant only.
	// Present exactly when prefixWarrant is. Covered by TestLifecycle.
	prefixTerms = "d"
	// prefixEpoch | pairID -> epoch (u32) of the pair's current or next
	// warrant; absent means 1. Covered by TestCooperativeCloseNewEpoch.
	prefixEpoch = "e"
	// keyTotals -> sum of all warrant balances (u64) | open warrants (u64).
	// The contract's L2 account holds at least the sum. Covered by
	// requireSolvent in every fund-moving test.
	keyTotals = "t"
)

// PairIDSize is the length of the hash that names a warrant pair in state:
// 160 bits, so that finding a second pair with another's ID (a second
// preimage) is out of reach.
const PairIDSize = 20

const termsRecordSize = 2 * 8

// config is the contract's init configuration.
type config struct {
	DefaultCloseTimeout uint64
	MinCloseTimeout     uint64
	MaxCloseTimeout     uint64
	MinWarrant          uint64
}

// warrant is one payer's funds for one provider, in its current epoch.
type warrant struct {
	id           []byte // pairID
	Epoch        uint32
	Balance      uint64 // wa
	LastOrdinal  uint64 // lo
	Paid         uint64 // st
	Deadline     uint64 // re; 0 when not revoked
	CloseTimeout uint64 // ct
}

func (w *warrant) revoked() bool { return w.Deadline != 0 }

// pastDeadline reports whether the revoke deadline has been reached at now.
func (w *warrant) pastDeadline(now uint64) bool { return w.revoked() && now >= w.Deadline }

var errCorruptState = errors.New("micropay: corrupt state record")

// pairID names the warrant pair (payer, provider) in state.
func pairID(payer, provider isc.AgentID) []byte {
	p, q := payer.Bytes(), provider.Bytes()
	h, _ := blake2b.New256(nil) // no key: never fails
	h.Write([]byte{byte(len(p))})
	h.Write(p)
	h.Write(q)
	return h.Sum(nil)[:PairIDSize]
}

func pairKey(prefix string, id []byte) kv.Key { return kv.Key(prefix + string(id)) }

func getConfig(state kv.KVStoreReader) config {
	b := state.Get(keyConfig)
	if len(b) != 32 {
		return config{DefaultCloseTimeout, MinCloseTimeout, MaxCloseTimeout, MinWarrant}
	}
	return config{
		DefaultCloseTimeout: binary.LittleEndian.Uint64(b[0:]),
		MinCloseTimeout:     binary.LittleEndian.Uint64(b[8:]),
		MaxCloseTimeout:     binary.LittleEndian.Uint64(b[16:]),
		MinWarrant:          binary.LittleEndian.Uint64(b[24:]),
	}
}

func setConfig(state kv.KVStore, c config) {
	b := make([]byte, 0, 32)
	b = binary.LittleEndian.AppendUint64(b, c.DefaultCloseTimeout)
	b = binary.LittleEndian.AppendUint64(b, c.MinCloseTimeout)
	b = binary.LittleEndian.AppendUint64(b, c.MaxCloseTimeout)
	b = binary.LittleEndian.AppendUint64(b, c.MinWarrant)
	state.Set(keyConfig, b)
}

func getPublicKey(state kv.KVStoreReader, payer isc.AgentID) []byte {
	return state.Get(kv.Key(prefixPublicKey + string(payer.Bytes())))
}

func setPublicKey(state kv.KVStore, payer isc.AgentID, pk []byte) {
	state.Set(kv.Key(prefixPublicKey+string(payer.Bytes())), pk)
}

// getEpoch returns the epoch of the pair's current warrant, or of its next
// one when there is none.
func getEpoch(state kv.KVStoreReader, id []byte) uint32 {
	b := state.Get(pairKey(prefixEpoch, id))
	if len(b) != 4 {
		return 1
	}
	return binary.LittleEndian.Uint32(b)
}

// getWarrant returns the pair's warrant, or nil when there is none.
func getWarrant(state kv.KVStoreReader, payer, provider isc.AgentID) (*warrant, error) {
	id := pairID(payer, provider)
	b := state.Get(pairKey(prefixWarrant, id))
	if b == nil {
		return nil, nil
	}
	t := state.Get(pairKey(prefixTerms, id))
	if len(t) != termsRecordSize {
		return nil, errCorruptState
	}
	w := &warrant{
		id:           id,
		Epoch:        getEpoch(state, id),
		Deadline:     binary.LittleEndian.Uint64(t[0:]),
		CloseTimeout: binary.LittleEndian.Uint64(t[8:]),
	}
	var err error
	if w.Balance, w.LastOrdinal, w.Paid, err = DecodeLedger(b); err != nil {
		return nil, errCorruptState
	}
	return w, nil
}

// DecodeLedger decodes a prefixWarrant record: balance, last ordinal, paid.
func DecodeLedger(b []byte) (balance, lastOrdinal, paid uint64, err error) {
	rr := rwutil.NewBytesReader(b)
	balance, lastOrdinal, paid = rr.ReadAmount64(), rr.ReadAmount64(), rr.ReadAmount64()
	rr.Close()
	return balance, lastOrdinal, paid, rr.Err
}

// newWarrant returns the pair's next warrant, not stored yet.
func newWarrant(state kv.KVStoreReader, payer, provider isc.AgentID, balance, closeTimeout uint64) *warrant {
	id := pairID(payer, provider)
	return &warrant{id: id, Epoch: getEpoch(state, id), Balance: balance, CloseTimeout: closeTimeout}
}

// setLedger stores what a settle changes of w: balance, last ordinal, paid.
func setLedger(state kv.KVStore, w *warrant) {
	ww := rwutil.NewBytesWriter().WriteAmount64(w.Balance).WriteAmount64(w.LastOrdinal).WriteAmount64(w.Paid)
	state.Set(pairKey(prefixWarrant, w.id), ww.Bytes())
}

// setTerms stores w's revoke deadline and close timeout.
func setTerms(state kv.KVStore, w *warrant) {
	b := make([]byte, 0, termsRecordSize)
	b = binary.LittleEndian.AppendUint64(b, w.Deadline)
	b = binary.LittleEndian.AppendUint64(b, w.CloseTimeout)
	state.Set(pairKey(prefixTerms, w.id), b)
}

// setWarrant stores all of w; its epoch is stored by clearWarrant, not here.
func setWarrant(state kv.KVStore, w *warrant) {
	setLedger(state, w)
	setTerms(state, w)
}

// clearWarrant deletes w and moves its pair to the next epoch.
func clearWarrant(state kv.KVStore, w *warrant) {
	state.Del(pairKey(prefixWarrant, w.id))
	state.Del(pairKey(prefixTerms, w.id))
	state.Set(pairKey(prefixEpoch, w.id), binary.LittleEndian.AppendUint32(nil, w.Epoch+1))
}

// totals is what keyTotals holds.
type totals struct {
	Balance  uint64 // sum of the balances of all open warrants
	Warrants uint64 // number of open warrants
}

func getTotals(state kv.KVStoreReader) totals {
	b := state.Get(keyTotals)
	if len(b) != 16 {
		return totals{}
	}
	return totals{Balance: binary.LittleEndian.Uint64(b), Warrants: binary.LittleEndian.Uint64(b[8:])}
}

func setTotals(state kv.KVStore, t totals) {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, 16), t.Balance)
	state.Set(keyTotals, binary.LittleEndian.AppendUint64(b, t.Warrants))
}

// addTotals records amount locked in a warrant, opened when isNew.
func addTotals(state kv.KVStore, amount uint64, isNew bool) {
	t := getTotals(state)
	t.Balance += amount
	if isNew {
		t.Warrants++
	}
	setTotals(state, t)
}

// subTotals records amount leaving a warrant, closed when closed.
func subTotals(state kv.KVStore, amount uint64, closed bool) {
	t := getTotals(state)
	t.Balance -= amount
	if closed {
		t.Warrants--
	}
	setTotals(state, t)
}
