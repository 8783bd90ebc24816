package facilitator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/solochain"
)

// jsDir is the npm workspace of the TypeScript scheme package.
const jsDir = "../js"

// needNode returns the node and npm commands, or skips the test when they
// or the workspace's installed packages are missing outside CI; in CI
// (CI=true) they must be there (.ci/run installs them and runs npm ci).
func needNode(t *testing.T) (node, npm string) {
	t.Helper()
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	_, errMods := os.Stat(filepath.Join(jsDir, "node_modules", "@x402", "core"))
	var missing string
	switch {
	case errNode != nil || errNpm != nil:
		missing = "node and npm are not installed (apt-get install nodejs npm)"
	case errMods != nil:
		missing = "client/js has no node_modules: run `npm ci` in client/js"
	default:
		return node, npm
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; in CI the x402 interop tests must run (.ci/run installs them)", missing)
	}
	t.Skipf("skipping the TypeScript and x402 interop tests: %s", missing)
	return "", ""
}

// run runs a command in dir with extra environment and returns its
// standard output; a failure fails the test with both outputs.
func run(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Run(), "%s %v\nstdout:\n%s\nstderr:\n%s", name, args, out.String(), errOut.String())
	return out.Bytes()
}

// TestTypeScriptPackage builds the TypeScript scheme package and runs its
// tests (node --test): the golden vectors of contract/payment/testdata
// byte for byte, the durable position, the corrective 402, the server's
// prices.
func TestTypeScriptPackage(t *testing.T) {
	_, npm := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run(t, ctx, jsDir, nil, npm, "test", "--silent")
}

// interopResult is what the interop script prints.
type interopResult struct {
	Served         []string `json:"served"`
	Transactions   []string `json:"transactions"`
	TamperedStatus int      `json:"tamperedStatus"`
	TamperedError  string   `json:"tamperedError"`
	ReplayStatus   int      `json:"replayStatus"`
	ReplayError    string   `json:"replayError"`
}

// TestStockExpressAndFetchPayThroughTheFacilitator: a stock @x402/express
// server whose HTTPFacilitatorClient (with createAuthHeaders) points at
// this facilitator sells GET /piece/:n; a stock @x402/fetch client with
// the package's micropay-warrant scheme buys pieces; a tampered payment
// and a replayed older one get 402 with x402's reasons and store nothing;
// the provider's settler settles on the embedded chain, balances to the
// token.
func TestStockExpressAndFetchPayThroughTheFacilitator(t *testing.T) {
	node, npm := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run(t, ctx, jsDir, nil, npm, "run", "--silent", "build")
	r := newRig(t)
	out := run(t, ctx, filepath.Join(jsDir, "x402-micropay"), r.interopEnv(t), node, "dist/interop/express-fetch.js")
	r.checkInterop(t, ctx, out)
}

// TestExampleExpressSellerSells: docs/examples/express-seller.mjs, run as
// its README says, sells through the facilitator to the stock fetch
// client, with the same outcome.
func TestExampleExpressSellerSells(t *testing.T) {
	node, npm := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run(t, ctx, jsDir, nil, npm, "run", "--silent", "build")
	r := newRig(t)
	seller := exec.CommandContext(ctx, node, "express-seller.mjs")
	seller.Dir = "../../docs/examples"
	seller.Env = append(os.Environ(), "NETWORK=iota-isc:"+r.e.ID().String(), "PAY_TO="+r.prov.String(),
		"FACILITATOR_URL="+r.url, "FACILITATOR_TOKEN="+token, fmt.Sprintf("PRICE=%d", price), "PORT=0")
	stdout, err := seller.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	seller.Stderr = &stderr
	require.NoError(t, seller.Start())
	defer func() { _ = seller.Process.Kill(); _ = seller.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the example's first line; stderr:\n%s", stderr.String())
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "selling at ")
	require.True(t, ok, line)
	out := run(t, ctx, filepath.Join(jsDir, "x402-micropay"), append(r.interopEnv(t), "MICROPAY_SELLER_URL="+url), node, "dist/interop/express-fetch.js")
	r.checkInterop(t, ctx, out)
}

// interopPieces is how many pieces an interop run buys.
const interopPieces = 5

// interopEnv is the environment of the interop script for r.
func (r *rig) interopEnv(t *testing.T) []string {
	return []string{
		"MICROPAY_FACILITATOR_URL=" + r.url, "MICROPAY_FACILITATOR_TOKEN=" + token,
		"MICROPAY_NETWORK=iota-isc:" + r.e.ID().String(), "MICROPAY_PAY_TO=" + r.prov.String(),
		fmt.Sprintf("MICROPAY_PRICE=%d", price), fmt.Sprintf("MICROPAY_PIECES=%d", interopPieces),
		"MICROPAY_PAYER=" + r.payer.String(), "MICROPAY_PAYER_SEED=" + hex.EncodeToString(r.payKey.GetPrivateKey().AsStdKey().Seed()),
		"MICROPAY_STATE_DIR=" + t.TempDir(),
	}
}

// checkInterop checks what the interop script saw, what the provider
// stored, and that the settler settles every piece on chain, to the token.
func (r *rig) checkInterop(t *testing.T, ctx context.Context, out []byte) {
	t.Helper()
	var res interopResult
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	require.Len(t, res.Served, interopPieces)
	for i, tx := range res.Transactions {
		require.Equal(t, fmt.Sprintf("micropay:1:%d", i+1), tx, "the commitment identifier of piece %d", i+1)
	}
	require.Equal(t, 402, res.TamperedStatus)
	require.Equal(t, "invalid_micropay_warrant_bad_signature", res.TamperedError)
	require.Equal(t, 402, res.ReplayStatus)
	require.Equal(t, "invalid_micropay_warrant_ordinal_not_increasing", res.ReplayError)
	require.Equal(t, interopPieces, r.receipts(t), "one receipt a piece; the bad input stored nothing")

	before, err := r.e.L2Balance(ctx, r.prov)
	require.NoError(t, err)
	fees := r.provSeam.Fees()
	_, err = r.provider.SettleNow(ctx, nil)
	require.NoError(t, err)
	info, err := r.e.WarrantInfo(ctx, r.payer, r.prov)
	require.NoError(t, err)
	require.EqualValues(t, interopPieces*price, info.Paid)
	require.EqualValues(t, warrant-interopPieces*price, info.Balance)
	after, err := r.e.L2Balance(ctx, r.prov)
	require.NoError(t, err)
	require.Equal(t, before+interopPieces*price-(r.provSeam.Fees()-fees), after, "provider: every piece less the settle's gas")
	require.NoError(t, solochain.Do(func() { r.e.Chain.CheckAccountLedger() }))
}
