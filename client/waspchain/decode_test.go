package waspchain

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/clients/apiclient"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/vm/gas"
	"github.com/iotaledger/wasp/packages/webapi/models"
)

// viaJSON sends a webapi model (what a node writes) through JSON into an
// apiclient model (what the client reads).
func viaJSON[T any](t testing.TB, v any) T {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

func testRequestID() isc.RequestID {
	return isc.NewRequestID(iotago.TransactionID{1, 2, 3}, 4)
}

func TestReceiptFromAPI(t *testing.T) {
	id := testRequestID()
	node := models.ReceiptResponse{
		Request:       isc.RequestJSON{RequestID: id.String()},
		RawError:      &isc.UnresolvedVMErrorJSON{Params: []string{}},
		GasBudget:     "100000",
		GasBurned:     "4321",
		GasFeeCharged: "4400",
		GasBurnLog:    []gas.BurnRecord{},
	}
	rec, vmErr, err := receiptFromAPI(id, ptr(viaJSON[apiclient.ReceiptResponse](t, node)))
	require.NoError(t, err)
	require.Empty(t, vmErr)
	require.EqualValues(t, 4321, rec.GasBurned)
	require.EqualValues(t, 4400, rec.GasFee)
	require.Equal(t, id, rec.RequestID)

	node.ErrorMessage = "warrant not found"
	node.RawError = &isc.UnresolvedVMErrorJSON{ErrorCode: "0x12345678:3", Params: []string{}}
	_, vmErr, err = receiptFromAPI(id, ptr(viaJSON[apiclient.ReceiptResponse](t, node)))
	require.NoError(t, err)
	require.Equal(t, "warrant not found", vmErr)

	node.ErrorMessage = ""
	_, vmErr, err = receiptFromAPI(id, ptr(viaJSON[apiclient.ReceiptResponse](t, node)))
	require.NoError(t, err)
	require.Contains(t, vmErr, "0x12345678:3", "an unresolved error still rejects")

	for name, mutate := range map[string]func(*models.ReceiptResponse){
		"other request": func(r *models.ReceiptResponse) {
			r.Request.RequestID = isc.NewRequestID(iotago.TransactionID{9}, 0).String()
		},
		"gas burned":   func(r *models.ReceiptResponse) { r.GasBurned = "-1" },
		"gas fee":      func(r *models.ReceiptResponse) { r.GasFeeCharged = "0x10" },
		"fee overflow": func(r *models.ReceiptResponse) { r.GasFeeCharged = "18446744073709551616" },
	} {
		bad := node
		mutate(&bad)
		_, _, err := receiptFromAPI(id, ptr(viaJSON[apiclient.ReceiptResponse](t, bad)))
		require.Error(t, err, name)
	}
}

func ptr[T any](v T) *T { return &v }

func TestEventsFromAPI(t *testing.T) {
	in := []*isc.Event{
		{ContractID: isc.Hn("micropay"), Topic: "micropay.settled", Timestamp: 1_700_000_000, Payload: []byte{0, 1, 2}},
		{ContractID: isc.Hn("accounts"), Topic: "x", Payload: []byte{}},
	}
	node := models.EventsResponse{Events: []*isc.EventJSON{in[0].ToJSONStruct(), in[1].ToJSONStruct()}}
	got, err := eventsFromAPI(viaJSON[apiclient.EventsResponse](t, node).Events)
	require.NoError(t, err)
	require.Equal(t, in, got)

	_, err = eventsFromAPI([]apiclient.EventJSON{{Payload: "0xzz"}})
	require.Error(t, err)
	_, err = eventsFromAPI([]apiclient.EventJSON{{Payload: "0x", Timestamp: -1}})
	require.Error(t, err)
	got, err = eventsFromAPI(nil)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestParseAPIError(t *testing.T) {
	for body, want := range map[string]APIError{
		`{"Message":"Invalid property: chainID","Error":"invalid checksum"}`: {Message: "Invalid property: chainID", Detail: "invalid checksum"},
		`{"message":"Not Found"}`:        {Message: "Not Found"},
		`{"Message":{"a":1},"Error":""}`: {Message: `{"a":1}`},
		`404 page not found`:             {Detail: "404 page not found"},
		``:                               {},
	} {
		require.Equal(t, want, *parseAPIError([]byte(body)), body)
	}
	e := parseAPIError([]byte(`{"Message":"Failed to execute contract request","Error":"bad nonce, expected: 3"}`))
	e.StatusCode = http.StatusBadRequest
	require.Equal(t, "400 Bad Request: Failed to execute contract request: bad nonce, expected: 3", e.Error())
}

func TestL1ParamsFromAPI(t *testing.T) {
	node := models.InfoResponse{L1Params: models.MapL1Params(parameters.L1ForTesting)}
	got, err := l1ParamsFromAPI(ptr(viaJSON[apiclient.InfoResponse](t, node).L1Params))
	require.NoError(t, err)
	require.Equal(t, parameters.L1ForTesting, got)

	bad := viaJSON[apiclient.InfoResponse](t, node).L1Params
	bad.Protocol.Bech32Hrp = ""
	_, err = l1ParamsFromAPI(&bad)
	require.Error(t, err)
	bad = viaJSON[apiclient.InfoResponse](t, node).L1Params
	bad.Protocol.RentStructure.VByteFactorKey = 256
	_, err = l1ParamsFromAPI(&bad)
	require.Error(t, err)
	bad = viaJSON[apiclient.InfoResponse](t, node).L1Params
	bad.Protocol.TokenSupply = "lots"
	_, err = l1ParamsFromAPI(&bad)
	require.Error(t, err)
}
