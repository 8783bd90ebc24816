package devnet

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/webapi/corecontracts"
	"github.com/micropay/micropay/contract"
)

// Uint64 is a uint64 in JSON. It is written as a decimal string, as wasp
// writes uint64 values; it is read from such a string or from a JSON
// number.
type Uint64 uint64

// MarshalJSON writes u as a decimal string.
func (u Uint64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(u), 10) + `"`), nil
}

// UnmarshalJSON reads a decimal string or a non-negative integer number.
func (u *Uint64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || b[0] < '0' || b[0] > '9' {
		return fmt.Errorf("devnet: %q is not a non-negative integer", b)
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("devnet: %q is not a non-negative integer: %w", b, err)
	}
	*u = Uint64(n)
	return nil
}

// FaucetRequest is the body of POST /devnet/faucet.
type FaucetRequest struct {
	AgentID string `json:"agentId"` // the L2 account, as isc.AgentID.String writes it
	Amount  Uint64 `json:"amount"`  // base tokens, 1 to MaxFaucetAmount
}

// FaucetResponse answers POST /devnet/faucet.
type FaucetResponse struct {
	AgentID string `json:"agentId"`
	Balance Uint64 `json:"balance"` // the account's base tokens after the credit
}

// MaxFaucetAmount is the most base tokens one faucet call credits (a
// million Mi; Solo's L1 genesis holds about 2.7 billion Mi in all).
const MaxFaucetAmount = 1_000_000_000_000

// ClockRequest is the body of POST /devnet/clock/advance.
type ClockRequest struct {
	Seconds Uint64 `json:"seconds"` // 1 to MaxClockAdvance
}

// ClockResponse answers POST /devnet/clock/advance.
type ClockResponse struct {
	Now time.Time `json:"now"` // chain time after the advance
}

// MaxClockAdvance is the most seconds one call moves the clock by.
const MaxClockAdvance = 10 * 366 * 24 * 60 * 60

// Info answers GET /devnet/info.
type Info struct {
	ChainID       string    `json:"chainId"`       // bech32
	ContractName  string    `json:"contractName"`  // micropay's deployed name
	ContractHname string    `json:"contractHname"` // its hname, hex
	Now           time.Time `json:"now"`           // chain time: what the next request runs at; a new chain's starts at the wall clock
	BlockIndex    uint32    `json:"blockIndex"`    // the latest block
}

func (d *Devnet) faucet(w http.ResponseWriter, r *http.Request) {
	var req FaucetRequest
	if err := decodeJSONOnly(w, r, &req); err != nil {
		bindError(w, err, func(w http.ResponseWriter, err error) { invalidProperty(w, "body", err) })
		return
	}
	agent, err := isc.AgentIDFromString(req.AgentID)
	if err != nil {
		invalidProperty(w, "agentId", err)
		return
	}
	if req.Amount == 0 || req.Amount > MaxFaucetAmount {
		invalidProperty(w, "amount", fmt.Errorf("want 1 to %d base tokens", MaxFaucetAmount))
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		shuttingDown(w)
		return
	}
	// solochain's faucet: a fixed wallet whose outputs are in the snapshot
	// (it survives restarts) and whose cost per call is constant.
	if err := d.e.Fund(r.Context(), agent, uint64(req.Amount)); err != nil {
		writeError(w, http.StatusInternalServerError, "Internal Server Error", fmt.Errorf("faucet: %w", err))
		return
	}
	d.saveLocked()
	assets, err := corecontracts.GetAccountBalance(d.e.Chain, agent, "")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal Server Error", err)
		return
	}
	d.log.Info("faucet", "agent", agent.String(), "amount", uint64(req.Amount), "balance", assets.BaseTokens)
	writeJSON(w, http.StatusOK, FaucetResponse{AgentID: agent.String(), Balance: Uint64(assets.BaseTokens)})
}

func (d *Devnet) advanceClock(w http.ResponseWriter, r *http.Request) {
	var req ClockRequest
	if err := decodeJSONOnly(w, r, &req); err != nil {
		bindError(w, err, func(w http.ResponseWriter, err error) { invalidProperty(w, "body", err) })
		return
	}
	if req.Seconds == 0 || req.Seconds > MaxClockAdvance {
		invalidProperty(w, "seconds", fmt.Errorf("want 1 to %d", MaxClockAdvance))
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		shuttingDown(w)
		return
	}
	err := d.e.AdvanceClock(time.Duration(req.Seconds) * time.Second)
	d.saveLocked() // the clock moved even if a due request is still pending
	d.signalBlockLocked()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal Server Error", err)
		return
	}
	now := d.e.Solo.GlobalTime()
	d.log.Info("clock advanced", "seconds", uint64(req.Seconds), "now", now)
	writeJSON(w, http.StatusOK, ClockResponse{Now: now})
}

func (d *Devnet) info(w http.ResponseWriter, r *http.Request) {
	info, err := d.infoLocked()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal Server Error", err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// Info returns what GET /devnet/info answers, without a round trip.
func (d *Devnet) Info() (Info, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return Info{}, errClosed
	}
	return d.infoLocked()
}

func (d *Devnet) infoLocked() (Info, error) {
	b, err := corecontracts.GetLatestBlockInfo(d.e.Chain, "")
	if err != nil {
		return Info{}, fmt.Errorf("devnet: latest block: %w", err)
	}
	return Info{
		ChainID:       d.id.String(),
		ContractName:  contract.Contract.Name,
		ContractHname: contract.Contract.Hname().String(),
		Now:           d.e.Solo.GlobalTime(),
		BlockIndex:    b.BlockIndex(),
	}, nil
}
