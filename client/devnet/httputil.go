package devnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// ErrorBody is the body of an error answer, as a Wasp node writes it (its
// apierrors.HTTPErrorResult, whose fields carry no JSON tags).
type ErrorBody struct {
	Message any
	Error   string
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal Server Error", fmt.Errorf("encode answer: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, message string, err error) {
	body := ErrorBody{Message: message}
	if err != nil {
		body.Error = err.Error()
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// The error answers of a Wasp node's web API (packages/webapi/apierrors).

func invalidProperty(w http.ResponseWriter, name string, err error) {
	writeError(w, http.StatusBadRequest, "Invalid property: "+name, err)
}

func chainNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "Chain ID not found", nil)
}

func contractExecutionError(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, "Failed to execute contract request", err)
}

func invalidOffLedgerRequest(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, "Supplied offledger request is invalid", err)
}

func requestTimeout(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusRequestTimeout, msg, nil)
}

func shuttingDown(w http.ResponseWriter) {
	writeError(w, http.StatusServiceUnavailable, "Service Unavailable", errors.New("devnet: shutting down"))
}

// maxBody bounds request bodies; an off-ledger request is far smaller.
const maxBody = 1 << 20

// errMediaType is decodeJSON's error for a body that is not JSON.
var errMediaType = errors.New("devnet: unsupported media type")

// decodeJSON reads a JSON body into v as echo's Bind does for a Wasp node:
// an empty body leaves v as it is; unknown fields are ignored.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errMediaType
		}
	}
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// errNeedJSON is decodeJSONOnly's error for a request that does not say
// its body is JSON.
var errNeedJSON = fmt.Errorf("%w: send Content-Type: application/json", errMediaType)

// decodeJSONOnly is decodeJSON for the devnet's own state-changing routes:
// the request must say Content-Type: application/json. A browser cannot
// send that cross-origin without a CORS preflight, which the devnet never
// answers, so a web page cannot call the faucet or move the clock.
func decodeJSONOnly(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errNeedJSON
	}
	return decodeJSON(w, r, v)
}

// bindError answers a decodeJSON error: 415 for a body that is not JSON,
// else what badBody writes.
func bindError(w http.ResponseWriter, err error, badBody func(http.ResponseWriter, error)) {
	if errors.Is(err, errMediaType) {
		var detail error
		if errors.Is(err, errNeedJSON) {
			detail = err
		}
		writeError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", detail)
		return
	}
	badBody(w, err)
}
