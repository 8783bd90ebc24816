package chain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/dict"
)

// Request is an off-ledger request to the micropay contract.
type Request struct {
	Entry     string    // entry point name, e.g. contract.FuncSettle.Name
	Params    dict.Dict // the entry point's parameters
	Allowance uint64    // base tokens moved from the sender's L2 account with the call
}

// Receipt is the outcome of a processed request.
type Receipt struct {
	RequestID isc.RequestID
	GasBurned uint64
	GasFee    uint64       // base tokens the sender paid for gas
	Events    []*isc.Event // events the request emitted
}

// Rejected is the error Post returns when the chain processed the request
// and the contract rejected it: nothing moved but the gas fee. Any other
// error from Post leaves the outcome unknown.
type Rejected struct {
	Receipt *Receipt
	Message string // the contract's error text
}

func (e *Rejected) Error() string { return "rejected by the chain: " + e.Message }

// IsRejected reports whether err says the chain rejected the request (a
// definite outcome), as opposed to an unknown one.
func IsRejected(err error) bool {
	var r *Rejected
	return errors.As(err, &r)
}

// ErrUnknownOutcome wraps errors after which the request may or may not
// have been processed: reconcile by reading state.
var ErrUnknownOutcome = errors.New("chain: request outcome unknown")

// WarrantInfo is getWarrantInfo decoded.
type WarrantInfo struct {
	Exists       bool   // a warrant exists (wa present)
	Epoch        uint32 // current epoch; with no warrant, the next warrant's
	Balance      uint64 // wa
	LastOrdinal  uint64 // lo
	Paid         uint64 // st
	Deadline     uint64 // re, unix seconds; 0 when not revoked
	CloseTimeout uint64 // ct, seconds
}

// Revoked reports whether the warrant has been revoked.
func (w WarrantInfo) Revoked() bool { return w.Deadline != 0 }

func (w WarrantInfo) String() string {
	if !w.Exists {
		return fmt.Sprintf("no warrant (next epoch %d)", w.Epoch)
	}
	s := fmt.Sprintf("epoch %d, balance %d, paid %d, last ordinal %d, close timeout %d s",
		w.Epoch, w.Balance, w.Paid, w.LastOrdinal, w.CloseTimeout)
	if w.Revoked() {
		s += fmt.Sprintf(", revoked (deadline %s)", time.Unix(int64(w.Deadline), 0).UTC().Format(time.RFC3339))
	}
	return s
}

// NextBlockTime is a real node's chain time (see Chain.Now): the later of
// its latest block's timestamp and the local clock. A block's time never
// goes back, and the next one carries the consensus time of when it is
// made, which an idle chain's latest block lags behind.
func NextBlockTime(latestBlock, local time.Time) time.Time {
	if local.After(latestBlock) {
		return local
	}
	return latestBlock
}

// Chain is what the clients need of a chain. Implementations are safe for
// concurrent use.
type Chain interface {
	// ID returns the chain's ID.
	ID() isc.ChainID
	// Post signs req with signer as an off-ledger request to the micropay
	// contract, sends it and waits for its receipt. A contract rejection is
	// a *Rejected; an error wrapping ErrUnknownOutcome means the request
	// may have landed.
	Post(ctx context.Context, signer *cryptolib.KeyPair, req Request) (*Receipt, error)
	// WarrantInfo calls the getWarrantInfo view.
	WarrantInfo(ctx context.Context, payer, provider isc.AgentID) (WarrantInfo, error)
	// PublicKey returns the ed25519 public key payer registered with the
	// contract; nil when it registered none.
	PublicKey(ctx context.Context, payer isc.AgentID) ([]byte, error)
	// Now returns the chain's time: the timestamp the next block (the
	// next request, a settlement say) will carry, as far as the client can
	// tell. Deadlines are judged against it. It is not the latest block's
	// timestamp, which stands still on an idle chain: on the embedded chain
	// and on a devnet it is their logical clock (Solo's, the devnet's
	// /devnet/info), on a real Wasp node NextBlockTime of the latest block's
	// timestamp and the local clock, since a node's next block carries its
	// consensus time, close to the wall clock.
	Now(ctx context.Context) (time.Time, error)
	// L2Balance returns the base tokens of an L2 account.
	L2Balance(ctx context.Context, agent isc.AgentID) (uint64, error)
}
