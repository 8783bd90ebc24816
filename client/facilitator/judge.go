package facilitator

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/x402"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// refusal is why a request was refused before or by the provider's rules.
type refusal struct {
	reason string // x402 reason (Reason* or ReasonPrefix + rule)
	msg    string
}

func refuse(reason, format string, args ...any) *refusal {
	return &refusal{reason: reason, msg: fmt.Sprintf(format, args...)}
}

func contractHname() string { return contract.Contract.Hname().String() }

// Verify judges req as POST /verify does and returns the HTTP status and
// the answer. Nothing is stored. A payment already stored is not valid
// again: the resource a payload names is the buyer's word, so a replay
// must not buy another piece (Settle of it stays idempotent).
func (f *Facilitator) Verify(ctx context.Context, req *Request) (int, VerifyResponse) {
	in, rf := f.payment(req)
	if rf != nil {
		return http.StatusOK, VerifyResponse{InvalidReason: rf.reason, InvalidMessage: rf.msg, Payer: req.PaymentPayload.Payload.Payer}
	}
	v, err := f.p.Verify(ctx, in)
	if rej, ok := provider.IsRejection(err); ok {
		resp := VerifyResponse{InvalidReason: x402Reason(rej.Reason), InvalidMessage: rej.Err.Error(), Payer: in.Payer.String()}
		if pos := f.position(ctx, in.Payer); pos != nil {
			resp.Extra = &VerifyExtra{Position: pos}
		}
		return http.StatusOK, resp
	}
	if err != nil {
		return http.StatusServiceUnavailable, VerifyResponse{InvalidReason: ReasonVerifyError, InvalidMessage: err.Error(), Payer: in.Payer.String()}
	}
	if v.Replayed {
		// The paywall serves a replay of the newest payment again because
		// it knows the resource asked for; here the resource is the
		// buyer's word, so a stored payment buys nothing more.
		resp := VerifyResponse{InvalidReason: ReasonPrefix + payment.ReasonNotIncreasing.String(), Payer: in.Payer.String(),
			InvalidMessage: fmt.Sprintf("payment %d/%d is already stored: a payment buys one piece; sign the next one", in.Payment.Epoch, in.Payment.Ordinal)}
		if pos := f.position(ctx, in.Payer); pos != nil {
			resp.Extra = &VerifyExtra{Position: pos}
		}
		return http.StatusOK, resp
	}
	return http.StatusOK, VerifyResponse{IsValid: true, Payer: in.Payer.String(), Extra: &VerifyExtra{Price: x402.Amount(v.Increment)}}
}

// Settle judges req as POST /settle does, stores an accepted payment
// durably before it returns, and returns the HTTP status and the answer.
// A payment-identifier id seen with the same request gets the first
// answer again; with another request it is refused as invalid_payload.
// Settling a stored payment again without one answers success, charged 0
// (outcome "replayed"): a resource server's retry of /settle after a lost
// answer. Concurrent repeats of one id may get that replay answer.
func (f *Facilitator) Settle(ctx context.Context, req *Request) (int, SettleResponse) {
	fail := func(status int, rf *refusal, payer string) (int, SettleResponse) {
		return status, SettleResponse{ErrorReason: rf.reason, ErrorMessage: rf.msg, Payer: payer, Network: f.network}
	}
	in, rf := f.payment(req)
	if rf != nil {
		return fail(http.StatusOK, rf, req.PaymentPayload.Payload.Payer)
	}
	id, digest, rf := idempotencyKey(req)
	if rf != nil {
		return fail(http.StatusOK, rf, in.Payer.String())
	}
	if id != "" {
		if resp, seen, same := f.ids.get(id, digest); seen && same {
			return http.StatusOK, resp
		} else if seen {
			return fail(http.StatusOK, refuse(ReasonPayload, "payment-identifier %q was used for another payment", id), in.Payer.String())
		}
	}
	acc, err := f.p.Accept(ctx, in)
	if rej, ok := provider.IsRejection(err); ok {
		return fail(http.StatusOK, &refusal{reason: x402Reason(rej.Reason), msg: rej.Err.Error()}, in.Payer.String())
	}
	if err != nil {
		f.log.Error("settle: store a payment", "payer", in.Payer.String(), "ordinal", in.Payment.Ordinal, "err", err)
		resp := SettleResponse{ErrorReason: ReasonSettleError, ErrorMessage: err.Error() + "; the payment may have been stored: settling the same payload again is free",
			Payer: in.Payer.String(), Network: f.network,
			Extra: &x402.Settlement{Epoch: in.Payment.Epoch, Ordinal: in.Payment.Ordinal, Total: x402.Amount(in.Payment.Total), Outcome: x402.OutcomeUnknown}}
		return http.StatusServiceUnavailable, resp
	}
	resp := f.settled(acc)
	if id != "" {
		f.ids.put(id, digest, resp)
	}
	return http.StatusOK, resp
}

// settled is the answer to a stored payment.
func (f *Facilitator) settled(acc *provider.Accepted) SettleResponse {
	pay := acc.Receipt.Payment
	charged := x402.Amount(acc.Receipt.Price)
	outcome := x402.OutcomeServed
	if acc.Replayed {
		charged, outcome = 0, x402.OutcomeReplayed
	}
	payer, err := isc.AgentIDFromBytes([]byte(acc.Receipt.Warrant.Payer))
	payerText := fmt.Sprintf("%x", acc.Receipt.Warrant.Payer)
	if err == nil {
		payerText = payer.String()
	}
	return SettleResponse{
		Success: true, Payer: payerText, Network: f.network,
		Transaction: fmt.Sprintf("micropay:%d:%d", pay.Epoch, pay.Ordinal), Amount: &charged,
		Extra: &x402.Settlement{
			Epoch: pay.Epoch, Ordinal: pay.Ordinal, Total: x402.Amount(pay.Total), Price: charged,
			Backed: x402.Amount(acc.Backed), Unsettled: x402.Amount(acc.Unsettled), Outcome: outcome, Credit: x402.Amount(acc.Credit),
		},
	}
}

// payment checks req's envelope against this facilitator, cheapest first,
// and decodes the payment it carries.
func (f *Facilitator) payment(req *Request) (provider.Payment, *refusal) {
	pp, want := &req.PaymentPayload, &req.PaymentRequirements
	if req.X402Version != x402.Version || pp.X402Version != x402.Version {
		return provider.Payment{}, refuse(ReasonVersion, "x402Version %d (payload %d), this facilitator speaks %d", req.X402Version, pp.X402Version, x402.Version)
	}
	if want.Scheme != x402.Scheme || pp.Accepted.Scheme != x402.Scheme {
		return provider.Payment{}, refuse(ReasonScheme, "scheme %q (accepted %q), this facilitator settles %q", want.Scheme, pp.Accepted.Scheme, x402.Scheme)
	}
	if want.Network != f.network || pp.Accepted.Network != f.network {
		return provider.Payment{}, refuse(ReasonNetwork, "network %q (accepted %q), this facilitator settles on %q", want.Network, pp.Accepted.Network, f.network)
	}
	if rf := f.checkRequirements(pp.Accepted, *want); rf != nil {
		return provider.Payment{}, rf
	}
	payer, err := isc.AgentIDFromString(pp.Payload.Payer)
	if err != nil {
		return provider.Payment{}, refuse(ReasonPayload, "payload.payer %q: %v", pp.Payload.Payer, err)
	}
	raw, err := hex.DecodeString(pp.Payload.Payment)
	if err != nil {
		return provider.Payment{}, refuse(ReasonPayload, "payload.payment: %v", err)
	}
	pay, err := payment.Decode(raw)
	if err != nil {
		return provider.Payment{}, refuse(ReasonPayload, "payload.payment: %v", err)
	}
	var resource string
	if pp.Resource != nil {
		resource = pp.Resource.URL
	}
	// The resource server authenticated; its buyers are not known here, so
	// look-ups are not rate-limited per client (remembered misses still
	// cost no chain read).
	return provider.Payment{Payer: payer, Payment: pay, Price: uint64(want.Amount), Resource: resource}, nil
}

// checkRequirements checks that the client accepted exactly the
// requirements the resource server states, and that they are this
// facilitator's.
func (f *Facilitator) checkRequirements(accepted, want x402.Requirements) *refusal {
	switch {
	case want.PayTo != f.payTo:
		return refuse(ReasonRequirements, "payTo %q, this facilitator settles for %q", want.PayTo, f.payTo)
	case want.Asset != x402.Asset:
		return refuse(ReasonRequirements, "asset %q, this scheme pays in %q", want.Asset, x402.Asset)
	case want.Amount == 0:
		return refuse(ReasonRequirements, "amount is 0: a payment must buy an increment above zero")
	case want.Extra.Contract != contractHname():
		return refuse(ReasonRequirements, "extra.contract %q, this facilitator's contract is %q", want.Extra.Contract, contractHname())
	case accepted.PayTo != want.PayTo || accepted.Asset != want.Asset || accepted.Amount != want.Amount || accepted.Extra.Contract != want.Extra.Contract:
		return refuse(ReasonRequirements, "the payload accepted %s %s to %s (contract %q), the requirements ask %s %s to %s (contract %q)",
			fmt.Sprint(uint64(accepted.Amount)), accepted.Asset, accepted.PayTo, accepted.Extra.Contract,
			fmt.Sprint(uint64(want.Amount)), want.Asset, want.PayTo, want.Extra.Contract)
	}
	return nil
}

// position is payer's standing as a corrective 402 states it, or nil when
// no warrant exists or it cannot be read.
func (f *Facilitator) position(ctx context.Context, payer isc.AgentID) *x402.Terms {
	pos, err := f.p.Position(ctx, payer)
	if err != nil || !pos.Exists {
		return nil
	}
	return &x402.Terms{
		Contract: contractHname(), Payer: payer.String(), Epoch: pos.Epoch, LastOrdinal: pos.LastOrdinal,
		LastTotal: x402.Amount(pos.LastTotal), Backed: x402.Amount(pos.Backed), Deadline: pos.Deadline, Credit: x402.Amount(pos.Credit),
	}
}

// x402Reason is the x402 reason of a provider rejection reason.
func x402Reason(reason string) string {
	switch reason {
	case provider.ReasonMalformed:
		return ReasonPayload
	case provider.ReasonZeroPrice:
		return ReasonRequirements
	case payment.ReasonOverBalance.String():
		return ReasonFunds
	}
	return ReasonPrefix + reason
}
