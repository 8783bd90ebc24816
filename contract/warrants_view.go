package contract

import (
	"errors"
	"fmt"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/isc/coreutil"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/util/rwutil"
)

// ViewGetWarrants returns the state of many warrants of one provider in one
// call: ParamProvider, and ParamPayers (a collections.Array of
// codec.EncodeAgentID, at most MaxWarrantsPerView) → ResultWarrantList
// (EncodeWarrantList, one WarrantState per payer, in order). A provider
// reading the warrants it holds (at start-up, after its event feed
// reconnects) makes one call per MaxWarrantsPerView of them instead of one
// each.
var ViewGetWarrants = coreutil.ViewFunc("getWarrants")

// Keys of getWarrants.
const (
	ParamPayers       = "pl" // collections.Array of codec.EncodeAgentID
	ResultWarrantList = "wl" // EncodeWarrantList
)

// MaxWarrantsPerView bounds ParamPayers of getWarrants, checked before
// anything is allocated.
const MaxWarrantsPerView = 1_000

// WarrantState is one warrant as getWarrantInfo reports it: Epoch always
// (the next warrant's when there is none), the rest when Exists. Deadline
// is 0 unless the warrant is revoked.
type WarrantState struct {
	Epoch        uint32
	Exists       bool
	Balance      uint64
	LastOrdinal  uint64
	Paid         uint64
	CloseTimeout uint64
	Deadline     uint64
}

// warrantState reads the state of (payer, provider).
func warrantState(ctx isc.SandboxBase, payer, provider isc.AgentID) WarrantState {
	s := WarrantState{Epoch: getEpoch(ctx.StateR(), pairID(payer, provider))}
	if w := mustGetWarrant(ctx, payer, provider); w != nil {
		s.Exists, s.Balance, s.LastOrdinal, s.Paid, s.CloseTimeout = true, w.Balance, w.LastOrdinal, w.Paid, w.CloseTimeout
		if w.revoked() {
			s.Deadline = w.Deadline
		}
	}
	return s
}

// getWarrants handles the view getWarrants(sa, pl).
func getWarrants(ctx isc.SandboxView) dict.Dict {
	provider := requiredAgentID(ctx, ParamProvider)
	params := ctx.Params().Dict
	n := batchLength(params, ParamPayers, MaxWarrantsPerView)
	out := make([]WarrantState, n)
	for i := uint32(0); i < n; i++ {
		payer, err := codec.DecodeAgentID(params.Get(collections.ArrayElemKey(ParamPayers, i)))
		if err != nil {
			panic(ErrMalformedPayer.Create(uint64(i)+1, err.Error()))
		}
		out[i] = warrantState(ctx, payer, provider)
	}
	return dict.Dict{ResultWarrantList: EncodeWarrantList(out)}
}

// EncodeWarrantList encodes getWarrants' result: a count, then per warrant
// its epoch (u32), an existence flag, and if it exists balance, last
// ordinal, paid, close timeout and deadline (u64 each), little-endian as
// rwutil writes them.
func EncodeWarrantList(ws []WarrantState) []byte {
	ww := rwutil.NewBytesWriter()
	ww.WriteSize32(len(ws))
	for _, w := range ws {
		ww.WriteUint32(w.Epoch).WriteBool(w.Exists)
		if w.Exists {
			ww.WriteUint64(w.Balance).WriteUint64(w.LastOrdinal).WriteUint64(w.Paid).WriteUint64(w.CloseTimeout).WriteUint64(w.Deadline)
		}
	}
	return ww.Bytes()
}

// errWarrantList is what a getWarrants result that does not decode matches.
var errWarrantList = errors.New("micropay: malformed warrant list")

// DecodeWarrantList decodes getWarrants' result, which must hold exactly
// want warrants (the payers asked for) and nothing after them.
func DecodeWarrantList(b []byte, want int) ([]WarrantState, error) {
	if want < 0 || want > MaxWarrantsPerView {
		return nil, fmt.Errorf("%w: %d warrants asked for, at most %d", errWarrantList, want, MaxWarrantsPerView)
	}
	rr := rwutil.NewBytesReader(b)
	if n := rr.ReadSize32(); rr.Err == nil && n != want {
		return nil, fmt.Errorf("%w: %d warrants, %d asked for", errWarrantList, n, want)
	}
	out := make([]WarrantState, want)
	for i := range out {
		w := &out[i]
		w.Epoch, w.Exists = rr.ReadUint32(), rr.ReadBool()
		if w.Exists {
			w.Balance, w.LastOrdinal, w.Paid, w.CloseTimeout, w.Deadline = rr.ReadUint64(), rr.ReadUint64(), rr.ReadUint64(), rr.ReadUint64(), rr.ReadUint64()
		}
		if rr.Err != nil {
			break
		}
	}
	rr.Close()
	if rr.Err != nil {
		return nil, fmt.Errorf("%w: %w", errWarrantList, rr.Err)
	}
	return out, nil
}
