//go:build !race

package waspchain_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/hive.go/serializer/v2"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/vm/core/accounts"
)

// l1Node is an L1 node's core and indexer API as Hornet with inx-indexer
// serves them, in iota.go's own wire forms, holding one output: funds of
// one address. It confirms every block it is given and keeps them.
type l1Node struct {
	t      *testing.T
	owner  iotago.Address
	id     iotago.OutputID
	output iotago.Output

	mu     sync.Mutex
	blocks []*iotago.Block
}

func newL1Node(t *testing.T, owner iotago.Address, amount uint64) (*l1Node, string) {
	n := &l1Node{t: t, owner: owner, id: iotago.OutputID{1, 2, 3}}
	n.output = &iotago.BasicOutput{Amount: amount, Conditions: iotago.UnlockConditions{&iotago.AddressUnlockCondition{Address: owner}}}
	srv := httptest.NewServer(n.handler())
	t.Cleanup(srv.Close)
	return n, srv.URL
}

func (n *l1Node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+nodeclient.RouteInfo, func(w http.ResponseWriter, _ *http.Request) {
		info := nodeclient.InfoResponse{Name: "HORNET", Version: "2.0.2", Protocol: *parameters.L1().Protocol,
			BaseToken: (*nodeclient.InfoResBaseToken)(parameters.L1().BaseToken)}
		writeJSON(w, &info)
	})
	mux.HandleFunc("GET "+nodeclient.RouteRoutes, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, nodeclient.RoutesResponse{Routes: []string{"core/v2", nodeclient.IndexerPluginName}})
	})
	mux.HandleFunc("GET /api/indexer/v1/outputs/{kind}", func(w http.ResponseWriter, r *http.Request) {
		items := iotago.HexOutputIDs{}
		if r.PathValue("kind") == "basic" && r.URL.Query().Get("address") == n.owner.Bech32(parameters.L1().Protocol.Bech32HRP) {
			items = append(items, n.id.ToHex())
		}
		writeJSON(w, nodeclient.IndexerResponse{PageSize: 100, Items: items})
	})
	mux.HandleFunc("GET /api/core/v2/outputs/{id}", func(w http.ResponseWriter, r *http.Request) {
		require.Equal(n.t, n.id.ToHex(), r.PathValue("id"))
		b, err := n.output.Serialize(serializer.DeSeriModeNoValidation, nil)
		require.NoError(n.t, err)
		w.Header().Set("Content-Type", nodeclient.MIMEApplicationVendorIOTASerializerV1)
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET "+nodeclient.RouteTips, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, nodeclient.TipsResponse{TipsHex: []string{iotago.EmptyBlockID().ToHex()}})
	})
	mux.HandleFunc("POST "+nodeclient.RouteBlocks, n.submit)
	mux.HandleFunc("GET /api/core/v2/blocks/{id}/metadata", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, nodeclient.BlockMetadataResponse{BlockID: r.PathValue("id"), Solid: true, ReferencedByMilestoneIndex: 1, LedgerInclusionState: "included"})
	})
	return mux
}

func (n *l1Node) submit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	require.NoError(n.t, err)
	block := new(iotago.Block)
	_, err = block.Deserialize(body, serializer.DeSeriModePerformValidation, parameters.L1().Protocol)
	require.NoError(n.t, err)
	id, err := block.ID()
	require.NoError(n.t, err)
	n.mu.Lock()
	n.blocks = append(n.blocks, block)
	n.mu.Unlock()
	w.Header().Set("Location", id.ToHex())
	w.WriteHeader(http.StatusCreated)
}

// TestDepositPostsAnAccountsDeposit: Deposit spends the key's L1 output in
// a transaction whose request output goes to the chain, calls the accounts
// contract's deposit, carries the amount and is signed by the key, and
// returns once the L1 confirmed it. (That the chain then credits the L2
// account is the chain's part, which the committee test covers.)
func TestDepositPostsAnAccountsDeposit(t *testing.T) {
	n := newTestNet(t, 1, "")
	c := n.connect(t)
	key := cryptolib.NewKeyPair()
	l1, url := newL1Node(t, key.Address(), 50_000_000)

	txID, err := c.Deposit(context.Background(), url, key, 7_000_000)
	require.NoError(t, err)
	require.Len(t, l1.blocks, 1)
	tx, ok := l1.blocks[0].Payload.(*iotago.Transaction)
	require.True(t, ok, "the block carries a transaction")
	got, err := tx.ID()
	require.NoError(t, err)
	require.Equal(t, txID, got)
	require.Equal(t, iotago.Inputs{l1.id.UTXOInput()}, tx.Essence.Inputs, "spends the key's output")

	var req isc.OnLedgerRequest
	for i, out := range tx.Essence.Outputs {
		if a := out.UnlockConditionSet().Address(); a != nil && a.Address.Equal(c.ID().AsAddress()) {
			req, err = isc.OnLedgerFromUTXO(out, iotago.OutputIDFromTransactionIDAndIndex(txID, uint16(i)))
			require.NoError(t, err)
		}
	}
	require.NotNil(t, req, "a request output to the chain")
	require.Equal(t, accounts.Contract.Hname(), req.CallTarget().Contract)
	require.Equal(t, accounts.FuncDeposit.Hname(), req.CallTarget().EntryPoint)
	require.True(t, req.SenderAccount().Equals(isc.NewAgentID(key.Address())), "from the key's address")
	require.EqualValues(t, 7_000_000, req.Assets().BaseTokens, "the amount")
}
