package facilitator

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/x402"
)

// Intake is what a Facilitator needs of the provider it serves
// (*provider.Provider).
type Intake interface {
	Verify(ctx context.Context, in provider.Payment) (*provider.Verified, error)
	Accept(ctx context.Context, in provider.Payment) (*provider.Accepted, error)
	Position(ctx context.Context, payer isc.AgentID) (provider.Position, error)
	ChainID() isc.ChainID
	Agent() isc.AgentID
}

var _ Intake = (*provider.Provider)(nil)

// Config configures a Facilitator.
type Config struct {
	// Provider judges and stores payments; its settler redeems them.
	Provider Intake
	// Token is the resource servers' credential: every request must carry
	// "Authorization: Bearer <Token>" (x402's FacilitatorConfig
	// createAuthHeaders). At least 2*provider.TokenBytes characters.
	Token string
	// IdempotencyEntries bounds the payment-identifier ids remembered;
	// the least recently used is forgotten first. Default 10,000.
	IdempotencyEntries int
	// Log receives failures to store; default slog.Default().
	Log *slog.Logger
}

// Facilitator serves x402's facilitator API for one provider. Its
// methods are safe for concurrent use.
type Facilitator struct {
	p       Intake
	token   [sha256.Size]byte
	network string
	payTo   string
	ids     *idCache
	log     *slog.Logger
}

// maxBody bounds a request body; a micropay verify or settle request is
// about 1.5 KiB.
const maxBody = 64 << 10

// New returns the facilitator of cfg.Provider.
func New(cfg Config) (*Facilitator, error) {
	if cfg.Provider == nil {
		return nil, errors.New("facilitator: Config.Provider is nil")
	}
	if len(cfg.Token) < 2*provider.TokenBytes {
		return nil, fmt.Errorf("facilitator: token of %d characters, want at least %d", len(cfg.Token), 2*provider.TokenBytes)
	}
	if cfg.IdempotencyEntries < 0 {
		return nil, fmt.Errorf("facilitator: IdempotencyEntries %d is negative", cfg.IdempotencyEntries)
	}
	if cfg.IdempotencyEntries == 0 {
		cfg.IdempotencyEntries = 10_000
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Facilitator{
		p: cfg.Provider, token: sha256.Sum256([]byte(cfg.Token)),
		network: x402.Network(cfg.Provider.ChainID().String()), payTo: cfg.Provider.Agent().String(),
		ids: newIDCache(cfg.IdempotencyEntries), log: cfg.Log,
	}, nil
}

// Handler serves GET /supported, POST /verify and POST /settle. Judged
// answers are 200 (isValid or success false on a refusal, as x402's
// HTTPFacilitatorClient expects); an undecodable body is 400, a body over
// 64 KiB 413, a missing or wrong token 401, and a failure to check or
// store 503, each with the response type's JSON.
func (f *Facilitator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /supported", f.supported)
	mux.HandleFunc("POST /verify", f.verify)
	mux.HandleFunc("POST /settle", f.settle)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="micropay-facilitator"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "send Authorization: Bearer <facilitator token>"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// authorized reports, in constant time, whether r carries the token.
func (f *Facilitator) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], f.token[:]) == 1
}

// Supported is GET /supported's answer.
func (f *Facilitator) Supported() SupportedResponse {
	return SupportedResponse{
		Kinds: []SupportedKind{{
			X402Version: x402.Version, Scheme: x402.Scheme, Network: f.network,
			Extra: map[string]any{"contract": contractHname(), "payTo": f.payTo, "asset": x402.Asset},
		}},
		Extensions: []string{PaymentIdentifier},
		Signers:    map[string][]string{"iota-isc:*": {f.payTo}},
	}
}

func (f *Facilitator) supported(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, f.Supported())
}

func (f *Facilitator) verify(w http.ResponseWriter, r *http.Request) {
	req, status, err := decodeRequest(w, r)
	if err != nil {
		writeJSON(w, status, VerifyResponse{InvalidReason: ReasonPayload, InvalidMessage: err.Error()})
		return
	}
	status, resp := f.Verify(r.Context(), req)
	writeJSON(w, status, resp)
}

func (f *Facilitator) settle(w http.ResponseWriter, r *http.Request) {
	req, status, err := decodeRequest(w, r)
	if err != nil {
		writeJSON(w, status, SettleResponse{ErrorReason: ReasonPayload, ErrorMessage: err.Error(), Network: f.network})
		return
	}
	status, resp := f.Settle(r.Context(), req)
	writeJSON(w, status, resp)
}

// decodeRequest reads a bounded Request body; on failure it returns the
// HTTP status to answer.
func decodeRequest(w http.ResponseWriter, r *http.Request) (*Request, int, error) {
	var req Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body is over %d bytes", tooBig.Limit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("body: %w", err)
	}
	return &req, 0, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
