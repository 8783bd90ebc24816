package provider

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
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
// Every request must pass access (OperatorAccess.Guard): an allowed Host,
// no foreign Origin, the bearer token. It fails only if access is
// incomplete.
func (p *Provider) OperatorAPI(access OperatorAccess) (http.Handler, error) {
	return access.Guard(p.operatorRoutes())
}

func (p *Provider) operatorRoutes() http.Handler {
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

// OperatorAccess says which requests the operator API answers. It can
// trigger on-chain requests and reveals every payer's exposure, so it
// trusts neither the network nor a browser on the operator's machine:
//
//   - the Host header must be one of Hosts, so that a web page whose domain
//     name was rebound to 127.0.0.1 (DNS rebinding) is answered 421;
//   - a request carrying an Origin header other than the API's own (as a
//     browser sends with a cross-origin POST), or Sec-Fetch-Site:
//     cross-site or same-site, is answered 403;
//   - the request must carry "Authorization: Bearer TOKEN", compared in
//     constant time; else 401.
type OperatorAccess struct {
	// Token is the bearer token, at least 2*TokenBytes characters (see
	// LoadOrCreateToken).
	Token string
	// Hosts are the host names (or IP addresses) the API answers to, as
	// clients write them in URLs: "127.0.0.1", "localhost", "[::1]",
	// "billing.example.com". An entry with a port ("localhost:8403")
	// matches that port only; one without matches any port. Case is
	// ignored.
	Hosts []string
}

// Guard wraps next in the checks of a. It fails if a has no hosts or a
// token shorter than 2*TokenBytes.
func (a OperatorAccess) Guard(next http.Handler) (http.Handler, error) {
	if len(a.Token) < 2*TokenBytes {
		return nil, fmt.Errorf("provider: operator token of %d characters, want at least %d", len(a.Token), 2*TokenBytes)
	}
	if len(a.Hosts) == 0 {
		return nil, errors.New("provider: operator API needs at least one allowed host")
	}
	want := []byte(a.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.allowsHost(r.Host) {
			httpError(w, http.StatusMisdirectedRequest, "host_not_allowed", fmt.Errorf(
				"host %q is not one this operator API answers to (%s); name it with one of those, or add it to the allowed hosts", r.Host, strings.Join(a.Hosts, ", ")))
			return
		}
		if err := a.checkOrigin(r); err != nil {
			httpError(w, http.StatusForbidden, "cross_origin", err)
			return
		}
		if subtle.ConstantTimeCompare(bearer(r), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="micropay operator API"`)
			httpError(w, http.StatusUnauthorized, "unauthorized", errors.New(
				"the operator API needs \"Authorization: Bearer TOKEN\" with the token from the provider's home (operator-token)"))
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

// bearer returns the credentials of an "Authorization: Bearer" header (the
// scheme is case-insensitive, RFC 9110), or nil.
func bearer(r *http.Request) []byte {
	const scheme = "bearer "
	h := r.Header.Get("Authorization")
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return nil
	}
	return []byte(h[len(scheme):])
}

// allowsHost reports whether hostport (a Host header) names an allowed
// host.
func (a OperatorAccess) allowsHost(hostport string) bool {
	hostport = strings.ToLower(hostport)
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	for _, allowed := range a.Hosts {
		allowed = strings.ToLower(allowed)
		if _, _, err := net.SplitHostPort(allowed); err == nil {
			if hostport == allowed {
				return true
			}
			continue
		}
		if host == strings.TrimSuffix(strings.TrimPrefix(allowed, "["), "]") {
			return true
		}
	}
	return false
}

// checkOrigin refuses a request that a browser sent on behalf of another
// site: an Origin header other than the request's own scheme and Host
// (another port of the same host is another origin: the paywall's pages
// must not reach the operator API), or Sec-Fetch-Site: cross-site or
// same-site. Clients that are not browsers send neither.
func (a OperatorAccess) checkOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return fmt.Errorf("a browser sent this request from another site (Sec-Fetch-Site: %s); the operator API takes no cross-origin requests", site)
	}
	origins, ok := r.Header["Origin"]
	if !ok {
		return nil
	}
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Errorf("origin %q is not this operator API's (%s); it takes no cross-origin requests", o, r.Host)
		}
	}
	return nil
}
