package provider

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/store"
)

// OperatorAPI serves billing systems and operators:
//
//	GET  /warrants                  warrants with exposure and deadline (JSON)
//	POST /settle[?payer=AGENT]      settle now, all warrants or one (JSON settlements)
//	GET  /receipts?format=csv|jsonl[&payer=AGENT][&since=RFC3339][&until=RFC3339]
//
// Mount it behind your own authentication: it can trigger on-chain requests.
func (p *Provider) OperatorAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /warrants", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, p.Warrants())
	})
	mux.HandleFunc("POST /settle", func(w http.ResponseWriter, r *http.Request) {
		var only *store.WarrantID
		if s := r.URL.Query().Get("payer"); s != "" {
			payer, err := isc.AgentIDFromString(s)
			if err != nil {
				httpError(w, http.StatusBadRequest, ReasonMalformed, fmt.Errorf("payer %q: %w", s, err))
				return
			}
			id := p.WarrantID(payer)
			only = &id
		}
		settlements, err := p.SettleNow(r.Context(), only)
		views := make([]SettlementView, len(settlements))
		for i, s := range settlements {
			views[i] = p.settlementView(s)
		}
		body := map[string]any{"settlements": views}
		status := http.StatusOK
		if err != nil {
			body["error"] = err.Error()
			status = http.StatusBadGateway
		}
		writeJSON(w, status, body)
	})
	mux.HandleFunc("GET /receipts", func(w http.ResponseWriter, r *http.Request) {
		f, err := p.receiptFilter(r)
		if err != nil {
			httpError(w, http.StatusBadRequest, ReasonMalformed, err)
			return
		}
		switch format := r.URL.Query().Get("format"); format {
		case "", "csv":
			w.Header().Set("Content-Type", "text/csv")
			err = store.WriteCSV(r.Context(), p.cfg.Store, f, w, store.WithAgentFormat(agentString))
		case "jsonl":
			w.Header().Set("Content-Type", "application/jsonl")
			err = store.WriteJSONL(r.Context(), p.cfg.Store, f, w, store.WithAgentFormat(agentString))
		default:
			httpError(w, http.StatusBadRequest, ReasonMalformed, fmt.Errorf("format %q: use csv or jsonl", format))
			return
		}
		if err != nil {
			p.cfg.Log.Warn("export receipts", "err", err) // headers are gone; the truncated body shows it
		}
	})
	return mux
}

func (p *Provider) receiptFilter(r *http.Request) (store.ReceiptFilter, error) {
	var f store.ReceiptFilter
	q := r.URL.Query()
	if s := q.Get("payer"); s != "" {
		payer, err := isc.AgentIDFromString(s)
		if err != nil {
			return f, fmt.Errorf("payer %q: %w", s, err)
		}
		id := p.WarrantID(payer)
		f.Warrant = &id
	}
	for key, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if s := q.Get(key); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, fmt.Errorf("%s %q: want RFC 3339: %w", key, s, err)
			}
			*dst = t
		}
	}
	return f, nil
}

// SettlementView is a settlement as the operator API shows it.
type SettlementView struct {
	Payer     string `json:"payer"`
	Epoch     uint32 `json:"epoch"`
	Ordinal   uint64 `json:"ordinal"`
	Total     uint64 `json:"total"`
	State     string `json:"state"`
	Paid      uint64 `json:"paid"`
	Attempt   int    `json:"attempt"`
	RequestID string `json:"requestId,omitempty"`
	Error     string `json:"error,omitempty"`
}

// agentString renders agent ID bytes as the chain's tools print them
// (bech32), or as hex if they do not decode.
func agentString(b []byte) string {
	if a, err := isc.AgentIDFromBytes(b); err == nil {
		return a.String()
	}
	return hex.EncodeToString(b)
}

func (p *Provider) settlementView(s store.Settlement) SettlementView {
	return SettlementView{
		Payer: agentString([]byte(s.Warrant.Payer)), Epoch: s.Epoch, Ordinal: s.Ordinal, Total: s.Total, State: stateName(s.State),
		Paid: s.Paid, Attempt: s.Attempt, RequestID: s.RequestID, Error: s.Error,
	}
}
