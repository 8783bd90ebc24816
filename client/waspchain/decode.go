package waspchain

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/clients/apiclient"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
)

// APIError is an error answer of the node: it received the call and
// refused it.
type APIError struct {
	StatusCode int    // HTTP status, e.g. 400
	Message    string // the "Message" of wasp's error body, e.g. "Failed to execute contract request"
	Detail     string // the "Error" of wasp's error body: the underlying error, often the useful part
}

// Error reads like "400 Bad Request: Failed to execute contract request: bad nonce, expected: 3".
func (e *APIError) Error() string {
	s := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// callError turns an error of the generated client into an *APIError when
// the node answered with an error status. resp is the call's response, if
// the caller has it. Transport errors are returned as they are.
func callError(resp *http.Response, err error) error {
	var g *apiclient.GenericOpenAPIError
	if !errors.As(err, &g) {
		return err
	}
	code := 0
	if resp != nil {
		code = resp.StatusCode
	} else if f := strings.Fields(g.Error()); len(f) > 0 {
		code, _ = strconv.Atoi(f[0]) // the client's error text is the status line, e.g. "400 Bad Request"
	}
	if code < 300 {
		// Not an error status: the answer did not decode, or the request
		// could not be built.
		return fmt.Errorf("%s (body %.200q)", g.Error(), g.Body())
	}
	e := parseAPIError(g.Body())
	e.StatusCode = code
	return e
}

// parseAPIError decodes the body of a Wasp error answer:
// {"Message": any, "Error": string} (wasp's apierrors.HTTPErrorResult, no
// JSON tags), or echo's {"message": ...}. A body that is neither becomes
// the Detail, shortened.
func parseAPIError(body []byte) *APIError {
	var raw struct {
		Message json.RawMessage
		Error   string
	}
	e := &APIError{}
	if err := json.Unmarshal(body, &raw); err != nil {
		e.Detail = shorten(string(body))
		return e
	}
	e.Detail = raw.Error
	if len(raw.Message) > 0 {
		var s string
		if json.Unmarshal(raw.Message, &s) == nil {
			e.Message = s
		} else {
			e.Message = shorten(string(raw.Message))
		}
	}
	return e
}

func shorten(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// receiptFromAPI decodes the receipt of request id. vmErr is the VM error
// that rejected the request; empty when it succeeded.
func receiptFromAPI(id isc.RequestID, r *apiclient.ReceiptResponse) (rec *chain.Receipt, vmErr string, err error) {
	if got := r.Request.RequestId; got != "" && got != id.String() {
		return nil, "", fmt.Errorf("receipt of request %s, want %s", got, id)
	}
	rec = &chain.Receipt{RequestID: id}
	if rec.GasBurned, err = iotago.DecodeUint64(r.GasBurned); err != nil {
		return nil, "", fmt.Errorf("gasBurned %q: %w", r.GasBurned, err)
	}
	if rec.GasFee, err = iotago.DecodeUint64(r.GasFeeCharged); err != nil {
		return nil, "", fmt.Errorf("gasFeeCharged %q: %w", r.GasFeeCharged, err)
	}
	if r.ErrorMessage != nil && *r.ErrorMessage != "" {
		return rec, *r.ErrorMessage, nil
	}
	if r.RawError != nil && r.RawError.Code != nil && *r.RawError.Code != "" {
		// The node could not resolve the error's message.
		return rec, fmt.Sprintf("VM error %s %v", *r.RawError.Code, r.RawError.Params), nil
	}
	return rec, "", nil
}

// eventsFromAPI decodes the events of a request.
func eventsFromAPI(in []apiclient.EventJSON) ([]*isc.Event, error) {
	out := make([]*isc.Event, 0, len(in))
	for i, e := range in {
		if e.Timestamp < 0 {
			return nil, fmt.Errorf("event %d: negative timestamp %d", i, e.Timestamp)
		}
		payload, err := iotago.DecodeHex(e.Payload)
		if err != nil {
			return nil, fmt.Errorf("event %d: payload: %w", i, err)
		}
		out = append(out, &isc.Event{
			ContractID: isc.Hname(e.ContractID),
			Topic:      e.Topic,
			Timestamp:  uint64(e.Timestamp),
			Payload:    payload,
		})
	}
	return out, nil
}
