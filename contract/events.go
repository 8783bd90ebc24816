package contract

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/util/rwutil"
)

// Event topics. Every state change emits exactly one of them.
const (
	TopicWarrantAdded   = "micropay.warrantAdded"
	TopicWarrantRevoked = "micropay.warrantRevoked"
	TopicSettled        = "micropay.settled"
	TopicWarrantClosed  = "micropay.warrantClosed"
	TopicCloseUnfunded  = "micropay.closeUnfunded"
	TopicSettleRefused  = "micropay.settleRefused"
	TopicSettledMany    = "micropay.settledMany"
)

// MaxSettledItems bounds the items a SettledMany payload may claim when it is
// decoded: what one settleMany request can settle.
const MaxSettledItems = MaxSettlementsPerRequest

// WarrantAdded is emitted by addWarrant. Payload: payer | provider (rwutil
// bytes: u32 length + AgentID.Bytes()) | epoch u32 | added u64 | balance u64 |
// close timeout u64 | new bool.
type WarrantAdded struct {
	Payer, Provider isc.AgentID
	Epoch           uint32
	Added           uint64 // base tokens locked by this call
	Balance         uint64 // the warrant's balance after it
	CloseTimeout    uint64 // seconds
	New             bool   // false for a top-up
}

// WarrantRevoked is emitted by revokeWarrant. Payload: payer | provider |
// epoch u32 | deadline u64 (unix s) | balance u64.
type WarrantRevoked struct {
	Payer, Provider isc.AgentID
	Epoch           uint32
	Deadline        uint64
	Balance         uint64
}

// Settled is emitted by settle and by a provider's close with a final batch.
// Payload: payer | provider | epoch u32 | last ordinal u64 | paid u64 |
// shortfall u64 | paid in epoch u64 | balance u64 | settled u32 | skipped u32.
type Settled struct {
	Payer, Provider isc.AgentID
	Epoch           uint32
	LastOrdinal     uint64 // lo after the batch
	Paid            uint64 // moved to the provider by this batch
	Shortfall       uint64 // owed by the newest payment but not covered by the balance
	PaidInEpoch     uint64 // st after the batch
	Balance         uint64 // wa after the batch
	Settled         uint32 // payments that paid (possibly 0 tokens)
	Skipped         uint32 // stale payments skipped
}

// Close reasons of WarrantClosed.
const (
	ClosedByProvider  uint8 = 1 // cooperative close by the provider
	ClosedAtDeadline  uint8 = 2 // by anyone once the deadline passed
	ClosedByScheduler uint8 = 3 // by the contract's own time-locked request
)

// WarrantClosed is emitted when a warrant is closed. Payload: payer |
// provider | epoch u32 | paid in epoch u64 | refund u64 | how u8.
type WarrantClosed struct {
	Payer, Provider isc.AgentID
	Epoch           uint32 // the epoch that ended; the next warrant gets Epoch+1
	PaidInEpoch     uint64
	Refund          uint64 // balance returned to the payer's L2 account
	How             uint8  // ClosedBy* constant
}

// CloseUnfunded is emitted by a scheduled close whose deposit no longer
// covers its fee under the chain's current fee policy: the warrant stays
// revoked past its deadline, for anyone to close. Payload: payer | provider |
// epoch u32 (0 when the close was stale) | deposit u64 | needed u64 |
// from balance u64.
type CloseUnfunded struct {
	Payer, Provider isc.AgentID
	Epoch           uint32 // the warrant's epoch, 0 if the close was stale
	Deposit         uint64 // base tokens the scheduled close carried
	Needed          uint64 // the fee of ScheduledCloseGas at the current policy
	FromBalance     uint64 // taken from the warrant for what the deposit did not cover
}

// SettledMany is emitted once by a settleMany request, with one item per
// warrant it settled: the warrant's own outcome, as a settled event would
// give it for a batch of one payment. One event for the request, not one per
// warrant, because every byte of an event is stored on chain (55 gas a
// byte): this is most of what makes settleMany cheap per warrant. Payload:
// provider (rwutil bytes) | item count (size32) | per item: payer (rwutil
// bytes) | epoch (varint) | skipped bool | last ordinal, paid, shortfall,
// paid in epoch, balance (each a rwutil varint amount).
type SettledMany struct {
	Provider isc.AgentID
	Items    []SettledItem
}

// SettledItem is one warrant's outcome in SettledMany.
type SettledItem struct {
	Payer       isc.AgentID
	Epoch       uint32
	Skipped     bool // the payment's ordinal was already settled: paid nothing
	LastOrdinal uint64
	Paid        uint64
	Shortfall   uint64
	PaidInEpoch uint64
	Balance     uint64
}

// SettleRefused is emitted by settleMany for each warrant whose settlement
// it refused (the others in the request settle). Payload: payer | provider |
// item u32 (1-based position in ParamSettlements) | reason (rwutil string:
// the text of the registered error settle would have failed with).
type SettleRefused struct {
	Payer, Provider isc.AgentID
	Item            uint32
	Reason          string
}

// AgentIDFromBytes decodes an agent ID as wasp's isc.AgentIDFromBytes does,
// but strictly: the nil agent ID, trailing bytes and any encoding other than
// the one AgentID.Bytes() gives are errors.
func AgentIDFromBytes(b []byte) (isc.AgentID, error) {
	a, err := isc.AgentIDFromBytes(b)
	switch {
	case err != nil:
		return nil, err
	case a == nil:
		return nil, errors.New("nil agent ID")
	case !bytes.Equal(a.Bytes(), b):
		return nil, errors.New("not the canonical encoding of an agent ID")
	}
	return a, nil
}

func writePair(ww *rwutil.Writer, payer, provider isc.AgentID) {
	ww.WriteBytes(payer.Bytes())
	ww.WriteBytes(provider.Bytes())
}

func readPair(rr *rwutil.Reader) (payer, provider isc.AgentID) {
	pb, sb := rr.ReadBytes(), rr.ReadBytes()
	if rr.Err != nil {
		return nil, nil
	}
	var err error
	if payer, err = AgentIDFromBytes(pb); err != nil {
		rr.Err = fmt.Errorf("payer: %w", err)
		return nil, nil
	}
	if provider, err = AgentIDFromBytes(sb); err != nil {
		rr.Err = fmt.Errorf("provider: %w", err)
		return nil, nil
	}
	return payer, provider
}

// Bytes encodes the event payload.
func (e *WarrantAdded) Bytes() []byte {
	ww := rwutil.NewBytesWriter()
	writePair(ww, e.Payer, e.Provider)
	ww.WriteUint32(e.Epoch).WriteUint64(e.Added).WriteUint64(e.Balance).WriteUint64(e.CloseTimeout).WriteBool(e.New)
	return ww.Bytes()
}

// Bytes encodes the event payload.
func (e *WarrantRevoked) Bytes() []byte {
	ww := rwutil.NewBytesWriter()
	writePair(ww, e.Payer, e.Provider)
	ww.WriteUint32(e.Epoch).WriteUint64(e.Deadline).WriteUint64(e.Balance)
	return ww.Bytes()
}

// Bytes encodes the event payload.
func (e *Settled) Bytes() []byte {
	ww := rwutil.NewBytesWriter()
	writePair(ww, e.Payer, e.Provider)
	ww.WriteUint32(e.Epoch).WriteUint64(e.LastOrdinal).WriteUint64(e.Paid).WriteUint64(e.Shortfall)
	ww.WriteUint64(e.PaidInEpoch).WriteUint64(e.Balance).WriteUint32(e.Settled).WriteUint32(e.Skipped)
	return ww.Bytes()
}

// Bytes encodes the event payload.
func (e *WarrantClosed) Bytes() []byte {
	ww := rwutil.NewBytesWriter()
	writePair(ww, e.Payer, e.Provider)
	ww.WriteUint32(e.Epoch).WriteUint64(e.PaidInEpoch).WriteUint64(e.Refund).WriteUint8(e.How)
	return ww.Bytes()
}

// Bytes encodes the event payload.
func (e *CloseUnfunded) Bytes() []byte {
	ww := rwutil.NewBytesWriter()
	writePair(ww, e.Payer, e.Provider)
	ww.WriteUint32(e.Epoch).WriteUint64(e.Deposit).WriteUint64(e.Needed).WriteUint64(e.FromBalance)
	return ww.Bytes()
}

// Bytes encodes the event payload.
func (e *SettledMany) Bytes() []byte {
	ww := rwutil.NewBytesWriter()
	ww.WriteBytes(e.Provider.Bytes())
	ww.WriteSize32(len(e.Items))
	for _, it := range e.Items {
		ww.WriteBytes(it.Payer.Bytes()).WriteAmount32(it.Epoch).WriteBool(it.Skipped)
		ww.WriteAmount64(it.LastOrdinal).WriteAmount64(it.Paid).WriteAmount64(it.Shortfall)
		ww.WriteAmount64(it.PaidInEpoch).WriteAmount64(it.Balance)
	}
	return ww.Bytes()
}

// Bytes encodes the event payload.
func (e *SettleRefused) Bytes() []byte {
	ww := rwutil.NewBytesWriter()
	writePair(ww, e.Payer, e.Provider)
	ww.WriteUint32(e.Item).WriteString(e.Reason)
	return ww.Bytes()
}

func decodeEvent(b []byte, read func(rr *rwutil.Reader)) error {
	rr := rwutil.NewBytesReader(b)
	read(rr)
	rr.Close()
	return rr.Err
}

// DecodeWarrantAdded decodes the payload of a TopicWarrantAdded event.
func DecodeWarrantAdded(b []byte) (*WarrantAdded, error) {
	e := new(WarrantAdded)
	err := decodeEvent(b, func(rr *rwutil.Reader) {
		e.Payer, e.Provider = readPair(rr)
		e.Epoch, e.Added, e.Balance, e.CloseTimeout, e.New = rr.ReadUint32(), rr.ReadUint64(), rr.ReadUint64(), rr.ReadUint64(), rr.ReadBool()
	})
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", TopicWarrantAdded, err)
	}
	return e, nil
}

// DecodeWarrantRevoked decodes the payload of a TopicWarrantRevoked event.
func DecodeWarrantRevoked(b []byte) (*WarrantRevoked, error) {
	e := new(WarrantRevoked)
	err := decodeEvent(b, func(rr *rwutil.Reader) {
		e.Payer, e.Provider = readPair(rr)
		e.Epoch, e.Deadline, e.Balance = rr.ReadUint32(), rr.ReadUint64(), rr.ReadUint64()
	})
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", TopicWarrantRevoked, err)
	}
	return e, nil
}

// DecodeSettled decodes the payload of a TopicSettled event.
func DecodeSettled(b []byte) (*Settled, error) {
	e := new(Settled)
	err := decodeEvent(b, func(rr *rwutil.Reader) {
		e.Payer, e.Provider = readPair(rr)
		e.Epoch, e.LastOrdinal, e.Paid, e.Shortfall = rr.ReadUint32(), rr.ReadUint64(), rr.ReadUint64(), rr.ReadUint64()
		e.PaidInEpoch, e.Balance, e.Settled, e.Skipped = rr.ReadUint64(), rr.ReadUint64(), rr.ReadUint32(), rr.ReadUint32()
	})
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", TopicSettled, err)
	}
	return e, nil
}

// DecodeWarrantClosed decodes the payload of a TopicWarrantClosed event.
func DecodeWarrantClosed(b []byte) (*WarrantClosed, error) {
	e := new(WarrantClosed)
	err := decodeEvent(b, func(rr *rwutil.Reader) {
		e.Payer, e.Provider = readPair(rr)
		e.Epoch, e.PaidInEpoch, e.Refund, e.How = rr.ReadUint32(), rr.ReadUint64(), rr.ReadUint64(), rr.ReadUint8()
	})
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", TopicWarrantClosed, err)
	}
	return e, nil
}

// DecodeCloseUnfunded decodes the payload of a TopicCloseUnfunded event.
func DecodeCloseUnfunded(b []byte) (*CloseUnfunded, error) {
	e := new(CloseUnfunded)
	err := decodeEvent(b, func(rr *rwutil.Reader) {
		e.Payer, e.Provider = readPair(rr)
		e.Epoch, e.Deposit, e.Needed, e.FromBalance = rr.ReadUint32(), rr.ReadUint64(), rr.ReadUint64(), rr.ReadUint64()
	})
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", TopicCloseUnfunded, err)
	}
	return e, nil
}

// DecodeSettleRefused decodes the payload of a TopicSettleRefused event.
func DecodeSettleRefused(b []byte) (*SettleRefused, error) {
	e := new(SettleRefused)
	err := decodeEvent(b, func(rr *rwutil.Reader) {
		e.Payer, e.Provider = readPair(rr)
		e.Item, e.Reason = rr.ReadUint32(), rr.ReadString()
	})
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", TopicSettleRefused, err)
	}
	return e, nil
}

// DecodeSettledMany decodes the payload of a TopicSettledMany event. The
// item count it claims is bounded by MaxSettledItems and by the bytes left.
func DecodeSettledMany(b []byte) (*SettledMany, error) {
	e := new(SettledMany)
	err := decodeEvent(b, func(rr *rwutil.Reader) {
		var err error
		if e.Provider, err = AgentIDFromBytes(rr.ReadBytes()); err != nil && rr.Err == nil {
			rr.Err = fmt.Errorf("provider: %w", err)
		}
		n := rr.ReadSizeWithLimit(MaxSettledItems)
		for i := 0; i < n && rr.Err == nil; i++ {
			var it SettledItem
			if it.Payer, err = AgentIDFromBytes(rr.ReadBytes()); err != nil && rr.Err == nil {
				rr.Err = fmt.Errorf("item %d: payer: %w", i+1, err)
			}
			it.Epoch, it.Skipped = rr.ReadAmount32(), rr.ReadBool()
			it.LastOrdinal, it.Paid, it.Shortfall = rr.ReadAmount64(), rr.ReadAmount64(), rr.ReadAmount64()
			it.PaidInEpoch, it.Balance = rr.ReadAmount64(), rr.ReadAmount64()
			e.Items = append(e.Items, it)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", TopicSettledMany, err)
	}
	return e, nil
}
