package chain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/contract"
)

// Block is one block as a chain's event feed reports it: its index, the
// time its requests ran at and the events its requests emitted, in order.
// The feed owns nothing once it has delivered a Block: the receiver may keep
// it.
type Block struct {
	Index  uint32
	Time   time.Time
	Events []*isc.Event
}

// Feed is a chain's event feed: the embedded chain's publisher, or a Wasp
// node's (or the devnet's) websocket. Implementations are safe for
// concurrent use; each Follow is one subscription.
type Feed interface {
	// Follow subscribes to the chain's new blocks. Once the subscription is
	// in place it calls ready: every block made after that is delivered.
	// It then calls deliver with each block, in order and from one
	// goroutine, until ctx ends or the feed breaks, and returns why
	// (ctx.Err() once ctx has ended). deliver must not block: it hands the
	// block on (the Watcher buffers a bounded number and catches up when
	// more arrive than it can hold).
	Follow(ctx context.Context, ready func(), deliver func(Block)) error
}

// Change is what one event of a block tells about a warrant of the
// watched provider.
type Change struct {
	Payer isc.AgentID
	Topic string // contract.Topic*
	Block uint32 // the block the event is in
	// apply derives the warrant's state after the event from its state
	// before; ok is false when the event does not carry enough to do so.
	apply func(before WarrantInfo) (after WarrantInfo, ok bool)
}

// Apply returns the warrant's state after the change, given its state
// before it (as the provider last knew it). ok is false when the event does
// not say enough (an event of another epoch than before's, an unfunded
// scheduled close): read the warrant instead.
func (c Change) Apply(before WarrantInfo) (WarrantInfo, bool) { return c.apply(before) }

// Opened reports whether the change may have created the warrant: a payer
// refused a moment ago for having none may have one now.
func (c Change) Opened() bool { return c.Topic == contract.TopicWarrantAdded }

// ErrUnknownEvent is what ChangesOf's error matches for a micropay event
// of a topic this client does not know: it may have changed any warrant, so
// the warrants are to be read instead.
var ErrUnknownEvent = errors.New("chain: unknown micropay event")

// ChangesOf returns the changes events make to provider's warrants, in
// order. Events of other contracts and of other providers' warrants are
// skipped; a micropay event that does not decode, or of a topic this client
// does not know (ErrUnknownEvent), is an error: the block cannot be
// followed, read the warrants instead.
func ChangesOf(b Block, provider isc.AgentID) ([]Change, error) {
	var out []Change
	hn := contract.Contract.Hname()
	for i, ev := range b.Events {
		if ev == nil || ev.ContractID != hn {
			continue
		}
		var cs []Change
		var err error
		switch ev.Topic {
		case contract.TopicSettledMany:
			cs, err = settledMany(ev, provider)
		case contract.TopicSettleRefused:
			_, err = contract.DecodeSettleRefused(ev.Payload) // changes nothing
		default:
			var c Change
			var mine bool
			if c, mine, err = changeOf(ev, provider); mine {
				cs = []Change{c}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("block %d event %d: %w", b.Index, i, err)
		}
		for _, c := range cs {
			c.Block = b.Index
			out = append(out, c)
		}
	}
	return out, nil
}

// settledMany returns the changes of a settledMany event to provider's
// warrants: one per warrant it settled, as a settled event would give it.
func settledMany(ev *isc.Event, provider isc.AgentID) ([]Change, error) {
	e, err := contract.DecodeSettledMany(ev.Payload)
	if err != nil {
		return nil, err
	}
	if !e.Provider.Equals(provider) {
		return nil, nil
	}
	out := make([]Change, 0, len(e.Items))
	for _, it := range e.Items {
		out = append(out, Change{Payer: it.Payer, Topic: ev.Topic, apply: inEpoch(it.Epoch, func(w *WarrantInfo) {
			w.LastOrdinal, w.Paid, w.Balance = it.LastOrdinal, it.PaidInEpoch, it.Balance
		})})
	}
	return out, nil
}

// changeOf decodes one micropay event; mine reports whether it is about one
// of provider's warrants.
func changeOf(ev *isc.Event, provider isc.AgentID) (c Change, mine bool, err error) {
	c.Topic = ev.Topic
	var about isc.AgentID
	switch ev.Topic {
	case contract.TopicWarrantAdded:
		e, derr := contract.DecodeWarrantAdded(ev.Payload)
		if derr != nil {
			return c, false, derr
		}
		c.Payer, about, c.apply = e.Payer, e.Provider, applyAdded(e)
	case contract.TopicWarrantRevoked:
		e, derr := contract.DecodeWarrantRevoked(ev.Payload)
		if derr != nil {
			return c, false, derr
		}
		c.Payer, about, c.apply = e.Payer, e.Provider, inEpoch(e.Epoch, func(w *WarrantInfo) { w.Deadline, w.Balance = e.Deadline, e.Balance })
	case contract.TopicSettled:
		e, derr := contract.DecodeSettled(ev.Payload)
		if derr != nil {
			return c, false, derr
		}
		c.Payer, about, c.apply = e.Payer, e.Provider, inEpoch(e.Epoch, func(w *WarrantInfo) {
			w.LastOrdinal, w.Paid, w.Balance = e.LastOrdinal, e.PaidInEpoch, e.Balance
		})
	case contract.TopicWarrantClosed:
		e, derr := contract.DecodeWarrantClosed(ev.Payload)
		if derr != nil {
			return c, false, derr
		}
		c.Payer, about = e.Payer, e.Provider
		c.apply = func(before WarrantInfo) (WarrantInfo, bool) {
			if before.Epoch > e.Epoch {
				return before, true // read after a later block: already past this close
			}
			return WarrantInfo{Epoch: e.Epoch + 1}, true
		}
	case contract.TopicCloseUnfunded:
		e, derr := contract.DecodeCloseUnfunded(ev.Payload)
		if derr != nil {
			return c, false, derr
		}
		// It may have taken fees from the balance without saying what is left.
		c.Payer, about = e.Payer, e.Provider
		c.apply = func(WarrantInfo) (WarrantInfo, bool) { return WarrantInfo{}, false }
	default:
		return c, false, fmt.Errorf("%w: %q", ErrUnknownEvent, ev.Topic)
	}
	return c, about.Equals(provider), nil
}

func applyAdded(e *contract.WarrantAdded) func(WarrantInfo) (WarrantInfo, bool) {
	if e.New {
		return func(before WarrantInfo) (WarrantInfo, bool) {
			if before.Epoch > e.Epoch {
				return before, true // read after a later block: already past this epoch
			}
			return WarrantInfo{Exists: true, Epoch: e.Epoch, Balance: e.Balance, CloseTimeout: e.CloseTimeout}, true
		}
	}
	return inEpoch(e.Epoch, func(w *WarrantInfo) { w.Balance = e.Balance })
}

// inEpoch applies set to a warrant known to exist in epoch; any other
// state before cannot be carried forward.
func inEpoch(epoch uint32, set func(*WarrantInfo)) func(WarrantInfo) (WarrantInfo, bool) {
	return func(before WarrantInfo) (WarrantInfo, bool) {
		if !before.Exists || before.Epoch != epoch {
			return WarrantInfo{}, false
		}
		set(&before)
		return before, true
	}
}

// Paid sums what the settlement events of the receipt (settled, and each
// item of settledMany) moved to the provider. Events that do not decode
// count nothing.
func (r *Receipt) Paid() uint64 {
	var paid uint64
	for _, ev := range r.Events {
		switch ev.Topic {
		case contract.TopicSettled:
			if s, err := contract.DecodeSettled(ev.Payload); err == nil {
				paid += s.Paid
			}
		case contract.TopicSettledMany:
			if m, err := contract.DecodeSettledMany(ev.Payload); err == nil {
				for _, it := range m.Items {
					paid += it.Paid
				}
			}
		}
	}
	return paid
}
