package facilitator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/contract"
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
		missing = "client/js has no node_modules: run `make js` (npm ci from its lock file; make test does it)"
	default:
		return node, npm
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; in CI the x402 interop tests must run (.ci/run installs node and npm, make test their packages)", missing)
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
	NewestStatus   int      `json:"newestStatus"`
	NewestError    string   `json:"newestError"`
}

// TestStockExpressAndFetchPayThroughTheFacilitator: a stock @x402/express
// server whose HTTPFacilitatorClient (with createAuthHeaders) points at
// this facilitator sells GET /piece/:n; a stock @x402/fetch client with
// the package's micropay-warrant scheme buys pieces; a tampered payment
// and a replayed older one get 402 with x402's reasons and store nothing;
// the provider's settler settles on the embedded chain, balances to the
// token.
func TestStockExpressAndFetchPayThroughTheFacilitator(t *testing.T) {
	r, ctx, node := newInteropRig(t)
	out := run(t, ctx, filepath.Join(jsDir, "x402-micropay"), r.interopEnv(t), node, "dist/interop/express-fetch.js")
	r.checkInterop(t, ctx, out)
}

// TestExampleExpressSellerSells: docs/examples/express-seller.mjs, run as
// its README says, sells through the facilitator to the stock fetch
// client, with the same outcome.
func TestExampleExpressSellerSells(t *testing.T) {
	r, ctx, node := newInteropRig(t)
	url := r.startExample(t, ctx, node)
	out := run(t, ctx, filepath.Join(jsDir, "x402-micropay"), append(r.interopEnv(t), "MICROPAY_SELLER_URL="+url), node, "dist/interop/express-fetch.js")
	r.checkInterop(t, ctx, out)
}

// newInteropRig builds the TypeScript package and returns a rig, a
// context for the run and the node command.
func newInteropRig(t *testing.T) (*rig, context.Context, string) {
	t.Helper()
	node, npm := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	run(t, ctx, jsDir, nil, npm, "run", "--silent", "build")
	return newRig(t), ctx, node
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
	r.checkRun(t, out, viaFacilitator)
	r.checkSettled(t, ctx, interopPieces)
}

// seller is what a seller answers: the commitment identifier of the n-th
// piece and its refusal reasons.
type seller struct {
	transaction      func(n int) string
	badSig, notNewer string
}

var (
	viaFacilitator = seller{func(n int) string { return fmt.Sprintf("micropay:1:%d", n) },
		"invalid_micropay_warrant_bad_signature", "invalid_micropay_warrant_ordinal_not_increasing"}
	goPaywall = seller{func(int) string { return "" }, "bad_signature", "ordinal_not_increasing"}
)

// checkRun checks what the interop script saw and what the provider stored.
func (r *rig) checkRun(t *testing.T, out []byte, want seller) {
	t.Helper()
	var res interopResult
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	require.Len(t, res.Served, interopPieces)
	for i, tx := range res.Transactions {
		require.Equal(t, want.transaction(i+1), tx, "the commitment identifier of piece %d", i+1)
	}
	require.Equal(t, 402, res.TamperedStatus)
	require.Equal(t, want.badSig, res.TamperedError)
	require.Equal(t, 402, res.ReplayStatus)
	require.Equal(t, want.notNewer, res.ReplayError)
	require.Equal(t, 402, res.NewestStatus, "the newest payment buys no other piece")
	require.Equal(t, want.notNewer, res.NewestError)
	require.Equal(t, interopPieces, r.receipts(t), "one receipt a piece; the bad input stored nothing")
}

// checkSettled checks that the settler settles the pieces on chain, to
// the token.
func (r *rig) checkSettled(t *testing.T, ctx context.Context, pieces uint64) {
	t.Helper()
	before, err := r.e.L2Balance(ctx, r.prov)
	require.NoError(t, err)
	fees := r.provSeam.Fees()
	_, err = r.provider.SettleNow(ctx, nil)
	require.NoError(t, err)
	info, err := r.e.WarrantInfo(ctx, r.payer, r.prov)
	require.NoError(t, err)
	require.EqualValues(t, pieces*price, info.Paid)
	require.EqualValues(t, warrant-pieces*price, info.Balance)
	after, err := r.e.L2Balance(ctx, r.prov)
	require.NoError(t, err)
	require.Equal(t, before+pieces*price-(r.provSeam.Fees()-fees), after, "provider: every piece less the settle's gas")
	require.NoError(t, solochain.Do(func() { r.e.Chain.CheckAccountLedger() }))
}

// startExample starts docs/examples/express-seller.mjs against r's
// facilitator and returns its URL; the process ends with the test.
func (r *rig) startExample(t *testing.T, ctx context.Context, node string) string {
	t.Helper()
	seller := exec.CommandContext(ctx, node, "express-seller.mjs")
	seller.Dir = "../../docs/examples"
	seller.Env = append(os.Environ(), "NETWORK=iota-isc:"+r.e.ID().String(), "PAY_TO="+r.prov.String(),
		"FACILITATOR_URL="+r.url, "FACILITATOR_TOKEN="+token, fmt.Sprintf("PRICE=%d", price), "PORT=0")
	stdout, err := seller.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	seller.Stderr = &stderr
	require.NoError(t, seller.Start())
	t.Cleanup(func() { _ = seller.Process.Kill(); _ = seller.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the example's first line; stderr:\n%s", stderr.String())
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "selling at ")
	require.True(t, ok, line)
	return url
}

// TestGoConsumerPaysTheExpressSeller: micropay's own consumer (the
// transport behind micropay get) pays the stock Express seller of
// docs/examples through the facilitator.
func TestGoConsumerPaysTheExpressSeller(t *testing.T) {
	r, ctx, node := newInteropRig(t)
	url := r.startExample(t, ctx, node)
	tr, err := consumer.NewTransport(r.payerObj, consumer.TransportOptions{MaxPrice: price, MaxTotal: interopPieces * price})
	require.NoError(t, err)
	client := &http.Client{Transport: tr}
	for i := 1; i <= interopPieces; i++ {
		resp, err := client.Get(fmt.Sprintf("%s/piece/%d", url, i))
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		require.Equal(t, fmt.Sprintf("piece %d", i), string(b))
	}
	require.Equal(t, interopPieces, r.receipts(t))
	r.checkSettled(t, ctx, interopPieces)
}

// TestTypeScriptClientPaysTheGoPaywall: the stock fetch client with the
// package's scheme pays micropay's own Go paywall (provider.Paywall), and
// its tampered and replayed payments are refused there too.
func TestTypeScriptClientPaysTheGoPaywall(t *testing.T) {
	r, ctx, node := newInteropRig(t)
	paywall := httptest.NewServer(r.provider.Paywall(provider.FixedPrice(price, "one piece"), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, "piece "+strings.TrimPrefix(req.URL.Path, "/piece/"))
	})))
	defer paywall.Close()
	out := run(t, ctx, filepath.Join(jsDir, "x402-micropay"), append(r.interopEnv(t), "MICROPAY_SELLER_URL="+paywall.URL), node, "dist/interop/express-fetch.js")
	r.checkRun(t, out, goPaywall)
	r.checkSettled(t, ctx, interopPieces)
}

// TestStockClientRecoversFromACorrective402: the payer's warrant is closed
// and reopened (epoch 2) while the TypeScript client still holds its epoch
// 1 position. Its next payment is refused wrong_epoch; the facilitator's
// verify answer carries the payer's position, the scheme's server hook
// puts it in the 402, the scheme's client hook adopts it and the stock
// fetch client pays once more, in epoch 2: served, nothing else stored.
func TestStockClientRecoversFromACorrective402(t *testing.T) {
	r, ctx, node := newInteropRig(t)
	env := r.interopEnv(t) // one state directory for both runs
	pkg := filepath.Join(jsDir, "x402-micropay")
	r.checkRun(t, run(t, ctx, pkg, env, node, "dist/interop/express-fetch.js"), viaFacilitator)
	r.checkSettled(t, ctx, interopPieces)

	// Close epoch 1 (revoke, the deadline passes, the scheduled close
	// refunds) and open epoch 2.
	_, err := r.consumer.Revoke(ctx, r.prov)
	require.NoError(t, err)
	info, err := r.e.WarrantInfo(ctx, r.payer, r.prov)
	require.NoError(t, err)
	now, err := r.e.Now(ctx)
	require.NoError(t, err)
	require.NoError(t, r.e.AdvanceClock(time.Duration(int64(info.Deadline)-now.Unix()+1)*time.Second))
	_, err = r.consumer.AddWarrant(ctx, r.prov, warrant, 0)
	require.NoError(t, err)
	info, err = r.e.WarrantInfo(ctx, r.payer, r.prov)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.Epoch)
	r.clock.Add(31 * time.Second) // the provider's cached warrant state ages out

	out := run(t, ctx, pkg, env, node, "dist/interop/express-fetch.js")
	var res interopResult
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	require.Len(t, res.Served, interopPieces)
	for i, tx := range res.Transactions {
		require.Equal(t, fmt.Sprintf("micropay:2:%d", i+1), tx, "piece %d is paid in epoch 2 from its first ordinal", i+1)
	}
	require.Equal(t, "invalid_micropay_warrant_bad_signature", res.TamperedError)
	// The first payment this run sent is the refused epoch-1 one: replayed,
	// it is still of the wrong epoch.
	require.Equal(t, "invalid_micropay_warrant_wrong_epoch", res.ReplayError)
	require.Equal(t, "invalid_micropay_warrant_ordinal_not_increasing", res.NewestError)
	require.Equal(t, 2*interopPieces, r.receipts(t), "the refused epoch-1 payment stored nothing")
}

// TestTypeScriptPayerSurvivesKill: the TypeScript client signs payments in
// a loop and is killed with SIGKILL after a random number of them, five
// times, restarting on the same position directory. No ordinal is ever
// signed with two totals, and every run starts above the ordinals signed
// before (the seed of the kill points is printed).
func TestTypeScriptPayerSurvivesKill(t *testing.T) {
	r, ctx, node := newInteropRig(t)
	seed := time.Now().UnixNano()
	t.Logf("kill points seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	env := append(r.interopEnv(t), "MICROPAY_CONTRACT="+contract.Contract.Hname().String())
	signed := map[uint64]uint64{} // ordinal → total
	var last uint64
	for run := 0; run < 5; run++ {
		cmd := exec.CommandContext(ctx, node, "dist/interop/sign-loop.js")
		cmd.Dir = filepath.Join(jsDir, "x402-micropay")
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := bufio.NewScanner(stdout)
		killAfter := 1 + rnd.Intn(200)
		first := true
		for n := 0; n < killAfter && lines.Scan(); n++ {
			var epoch uint32
			var ordinal, total uint64
			_, err := fmt.Sscanf(lines.Text(), "%d %d %d", &epoch, &ordinal, &total)
			require.NoError(t, err, lines.Text())
			if first {
				require.Greater(t, ordinal, last, "run %d starts above every ordinal signed before", run)
				first = false
			}
			if prev, ok := signed[ordinal]; ok {
				require.Equal(t, prev, total, "ordinal %d signed with two totals", ordinal)
			}
			signed[ordinal] = total
			last = max(last, ordinal)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL), stderr.String())
		_ = cmd.Wait()
		require.False(t, first, "run %d signed nothing: %s", run, stderr.String())
	}
	t.Logf("%d payments signed across 5 kills, newest ordinal %d", len(signed), last)
}
