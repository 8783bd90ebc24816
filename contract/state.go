package contract

import (
	"encoding/binary"
	"errors"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv"
)

// State layout. Every integer is little-endian. A warrant pair is
// u8 len + payer AgentID.Bytes() | provider AgentID.Bytes().
const (
	// keyConfig holds the init parameters:
	// default ct (u64) | min ct (u64) | max ct (u64) | min new warrant (u64).
	// Covered by TestInitParams.
	keyConfig = "c"
	// prefixPublicKey | payer AgentID.Bytes() -> 32-byte ed25519 public key.
	// Covered by TestPublicKey*.
	prefixPublicKey = "k"
	// prefixWarrant | pair -> balance (u64) | last ordinal (u64) |
	// paid in epoch (u64) | revoke deadline unix s (u64, 0 = not revoked) |
	// close timeout s (u64). Absent when there is no warrant.
	// Covered by TestLifecycle.
	prefixWarrant = "w"
	// prefixEpoch | pair -> epoch (u32) of the pair's current or next
	// warrant; absent means 1. Covered by TestCooperativeCloseNewEpoch.
	prefixEpoch = "e"
	// keyTotals -> sum of all warrant balances (u64) | open warrants (u64).
	// The contract's L2 account holds at least the sum. Covered by
	// requireSolvent in every fund-moving test.
	keyTotals = "t"
)

const warrantRecordSize = 5 * 8

// config is the contract's init configuration.
type config struct {
	DefaultCloseTimeout uint64
	MinCloseTimeout     uint64
	MaxCloseTimeout     uint64
	MinWarrant          uint64
}

// warrant is one payer's funds for one provider, in its current epoch.
type warrant struct {
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

func pairKey(prefix string, payer, provider isc.AgentID) kv.Key {
	p, s := payer.Bytes(), provider.Bytes()
	k := make([]byte, 0, len(prefix)+1+len(p)+len(s))
	k = append(k, prefix...)
	k = append(k, byte(len(p)))
	k = append(k, p...)
	k = append(k, s...)
	return kv.Key(k)
}

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
func getEpoch(state kv.KVStoreReader, payer, provider isc.AgentID) uint32 {
	b := state.Get(pairKey(prefixEpoch, payer, provider))
	if len(b) != 4 {
		return 1
	}
	return binary.LittleEndian.Uint32(b)
}

func setEpoch(state kv.KVStore, payer, provider isc.AgentID, epoch uint32) {
	state.Set(pairKey(prefixEpoch, payer, provider), binary.LittleEndian.AppendUint32(nil, epoch))
}

// getWarrant returns the pair's warrant, or nil when there is none.
func getWarrant(state kv.KVStoreReader, payer, provider isc.AgentID) (*warrant, error) {
	b := state.Get(pairKey(prefixWarrant, payer, provider))
	if b == nil {
		return nil, nil
	}
	if len(b) != warrantRecordSize {
		return nil, errCorruptState
	}
	return &warrant{
		Epoch:        getEpoch(state, payer, provider),
		Balance:      binary.LittleEndian.Uint64(b[0:]),
		LastOrdinal:  binary.LittleEndian.Uint64(b[8:]),
		Paid:         binary.LittleEndian.Uint64(b[16:]),
		Deadline:     binary.LittleEndian.Uint64(b[24:]),
		CloseTimeout: binary.LittleEndian.Uint64(b[32:]),
	}, nil
}

// setWarrant stores w; its epoch is stored by setEpoch, not here.
func setWarrant(state kv.KVStore, payer, provider isc.AgentID, w *warrant) {
	b := make([]byte, 0, warrantRecordSize)
	b = binary.LittleEndian.AppendUint64(b, w.Balance)
	b = binary.LittleEndian.AppendUint64(b, w.LastOrdinal)
	b = binary.LittleEndian.AppendUint64(b, w.Paid)
	b = binary.LittleEndian.AppendUint64(b, w.Deadline)
	b = binary.LittleEndian.AppendUint64(b, w.CloseTimeout)
	state.Set(pairKey(prefixWarrant, payer, provider), b)
}

// clearWarrant deletes the pair's warrant and moves the pair to the next epoch.
func clearWarrant(state kv.KVStore, payer, provider isc.AgentID, epoch uint32) {
	state.Del(pairKey(prefixWarrant, payer, provider))
	setEpoch(state, payer, provider, epoch+1)
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
