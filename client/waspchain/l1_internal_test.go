package waspchain

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"
	"github.com/iotaledger/wasp/packages/parameters"
)

// TestL1FromL1Node reads the L1 parameters from an L1 node's info route
// (iota.go's own answer type, as Hornet serves it, with no token), here with
// a real network's prefix and a rent of 600 per virtual byte.
func TestL1FromL1Node(t *testing.T) {
	proto := *parameters.L1ForTesting.Protocol
	proto.Bech32HRP = "atoi"
	proto.RentStructure.VByteCost = 600
	info := nodeclient.InfoResponse{Name: "HORNET", Version: "2.0.2"}
	info.Protocol = proto
	info.BaseToken = (*nodeclient.InfoResBaseToken)(parameters.L1ForTesting.BaseToken)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+nodeclient.RouteInfo, func(w http.ResponseWriter, r *http.Request) {
		require.Empty(t, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		require.NoError(t, json.NewEncoder(w).Encode(&info))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	p, err := l1FromL1Node(context.Background(), Config{L1URL: srv.URL + "/"})
	require.NoError(t, err)
	require.Equal(t, iotago.NetworkPrefix("atoi"), p.Protocol.Bech32HRP)
	require.EqualValues(t, 600, p.Protocol.RentStructure.VByteCost)
	require.Equal(t, parameters.L1ForTesting.BaseToken.Decimals, p.BaseToken.Decimals)

	_, err = l1FromL1Node(context.Background(), Config{L1URL: srv.URL + "/nothing"})
	require.ErrorContains(t, err, "read the L1 parameters from the L1 node")
}

// TestL1FromWaspNeedsToken: a node whose /v1/node/info needs a token says
// so, naming both ways out.
func TestL1FromWaspNeedsToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"missing or malformed jwt"}`))
	}))
	defer srv.Close()
	api, err := newAPI(srv.URL, Config{}, "")
	require.NoError(t, err)
	_, err = l1FromWasp(context.Background(), api)
	require.ErrorIs(t, err, ErrUnauthorized)
	require.ErrorContains(t, err, "set a token, or the L1 node's URL")
}
