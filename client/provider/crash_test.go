package provider_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

const crashChildEnv = "MICROPAY_PROVIDER_CRASH_CHILD"

// crashPrice and crashToken configure the child's POST /pay.
const (
	crashPrice = 1_000
	crashToken = "crash0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
)

// TestProviderCrashChild is not a test: it is the provider process that
// TestProviderSurvivesKill starts and kills. It serves POST /pay from the
// chain snapshot and the durable store named in its environment.
func TestProviderCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("only runs as TestProviderSurvivesKill's child process")
	}
	ctx := context.Background()
	e, err := solochain.New(solochain.Options{Snapshot: os.Getenv("MICROPAY_SNAPSHOT")})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	st, err := store.Open(os.Getenv("MICROPAY_STORE"))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	seed, _ := hex.DecodeString(os.Getenv("MICROPAY_PROVIDER_SEED"))
	p, err := provider.New(ctx, provider.Config{
		Chain: e, Store: st, Key: cryptolib.KeyPairFromSeed(cryptolib.SeedFromBytes(seed)),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	fmt.Println("ADDR", ln.Addr().String())
	pay, err := p.PayHandler(provider.PayConfig{Price: crashPrice, Token: crashToken})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	_ = http.Serve(ln, pay)
}

// crashPayer is one consumer streaming payments at the provider.
type crashPayer struct {
	key          *cryptolib.KeyPair
	agent        isc.AgentID
	ordinal      uint64
	total        uint64
	acked        map[uint64]uint64 // ordinal -> total, acknowledged
	lastAckTotal uint64
}

// TestProviderSurvivesKill streams payments from four payers at a provider
// process and SIGKILLs it at random points (seeded, printed). After every
// restart no acknowledged payment is missing, and after settlement the
// provider has received exactly the acknowledged totals.
func TestProviderSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("MICROPAY_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (set MICROPAY_CRASH_SEED to replay)", seed)
	rng := rand.New(rand.NewSource(seed))
	ctx := context.Background()
	dir := t.TempDir()

	// The chain: a provider and four payers with warrants, saved for the children.
	e, err := solochain.New(solochain.Options{})
	require.NoError(t, err)
	provSeed := cryptolib.NewSeed()
	provKey := cryptolib.KeyPairFromSeed(provSeed)
	prov := chain.AgentOf(provKey)
	require.NoError(t, e.Fund(ctx, prov, 1_000_000))
	payers := make([]*crashPayer, 4)
	for i := range payers {
		key := cryptolib.NewKeyPair()
		payers[i] = &crashPayer{key: key, agent: chain.AgentOf(key), acked: map[uint64]uint64{}}
		require.NoError(t, e.Fund(ctx, payers[i].agent, 20_000_000))
		_, err := chain.AddWarrant(ctx, e, key, chain.AddWarrantRequest{Provider: prov, Amount: 10_000_000, RegisterKey: true})
		require.NoError(t, err)
	}
	snapshot := filepath.Join(dir, "chain.json")
	require.NoError(t, e.Save(snapshot))
	warrants := make([]payment.Warrant, len(payers))
	for i, p := range payers {
		warrants[i] = chain.PaymentWarrant(e, p.agent, prov)
	}
	e.Close()

	storeDir := filepath.Join(dir, "store")
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProviderCrashChild$")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1", "MICROPAY_SNAPSHOT="+snapshot,
			"MICROPAY_STORE="+storeDir, "MICROPAY_PROVIDER_SEED="+hex.EncodeToString(provSeed[:]))
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				go func() { _, _ = io.Copy(io.Discard, out) }()
				return cmd, "http://" + addr
			}
			t.Logf("child: %s", sc.Text())
		}
		t.Fatalf("provider child exited before serving: %v", cmd.Wait())
		return nil, ""
	}

	const price = crashPrice
	client := &http.Client{Timeout: 10 * time.Second}
	pay := func(base string, i int) bool {
		p := payers[i]
		p.ordinal++
		p.total += price
		signed := payment.Sign(p.key.GetPrivateKey().AsStdKey(), warrants[i], 1, p.ordinal, p.total)
		body, _ := json.Marshal(provider.PayRequest{Payer: p.agent.String(), Payment: hex.EncodeToString(signed.Bytes())})
		req, _ := http.NewRequest(http.MethodPost, base+"/pay", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+crashToken)
		resp, err := client.Do(req)
		if err != nil {
			return false // killed mid-request: not acknowledged
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(resp.Body)
			t.Errorf("payer %d ordinal %d refused: %d %s", i, p.ordinal, resp.StatusCode, msg)
			return false
		}
		p.acked[p.ordinal], p.lastAckTotal = p.total, p.total
		return true
	}

	checkStored := func(round int) {
		st, err := store.Open(storeDir)
		require.NoError(t, err)
		defer st.Close()
		for i, p := range payers {
			stored := map[uint64]uint64{}
			id := store.WarrantID{Payer: string(p.agent.Bytes()), Provider: string(prov.Bytes())}
			require.NoError(t, st.Receipts(ctx, store.ReceiptFilter{Warrant: &id}, func(r store.Receipt) error {
				stored[r.Payment.Ordinal] = r.Payment.Total
				return nil
			}))
			for ord, total := range p.acked {
				require.Equal(t, total, stored[ord], "round %d: payer %d lost acknowledged ordinal %d", round, i, ord)
			}
		}
	}

	const rounds = 5
	kills := 0
	for round := 0; round <= rounds; round++ {
		cmd, base := start()
		var wg sync.WaitGroup
		var ackMu sync.Mutex
		acks := 0
		killAt := 20 + rng.Intn(60)
		killed := make(chan struct{})
		var once sync.Once
		kill := func() {
			once.Do(func() {
				_ = cmd.Process.Kill() // SIGKILL
				close(killed)
			})
		}
		for i := range payers {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for n := 0; n < 200; n++ {
					select {
					case <-killed:
						return
					default:
					}
					if !pay(base, i) {
						continue
					}
					ackMu.Lock()
					acks++
					last := round == rounds
					if !last && acks >= killAt {
						kill()
					}
					ackMu.Unlock()
					if last && n >= 10 {
						return // the final round ends cleanly
					}
				}
			}(i)
		}
		wg.Wait()
		if round < rounds {
			kills++
		}
		kill()
		_ = cmd.Wait()
		checkStored(round)
	}
	require.Equal(t, rounds, kills)

	// Settle everything on the chain as it was, and compare with what was acknowledged.
	e, err = solochain.New(solochain.Options{Snapshot: snapshot})
	require.NoError(t, err)
	defer e.Close()
	st, err := store.Open(storeDir)
	require.NoError(t, err)
	defer st.Close()
	p, err := provider.New(ctx, provider.Config{Chain: e, Store: st, Key: provKey, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	before, err := e.L2Balance(ctx, prov)
	require.NoError(t, err)
	settlements, err := p.SettleNow(ctx, nil)
	require.NoError(t, err)
	require.Len(t, settlements, len(payers))
	var want, paid uint64
	for _, p := range payers {
		want += p.lastAckTotal
	}
	for _, s := range settlements {
		require.Equal(t, store.Landed, s.State)
		paid += s.Paid
	}
	after, err := e.L2Balance(ctx, prov)
	require.NoError(t, err)
	require.Equal(t, want, paid, "the provider received exactly the acknowledged totals")
	require.Less(t, after, before+want+1, "and nothing more")
	t.Logf("%d kills; %d payments acknowledged; %d base tokens settled", kills, countAcks(payers), paid)
}

func countAcks(ps []*crashPayer) int {
	n := 0
	for _, p := range ps {
		n += len(p.acked)
	}
	return n
}
