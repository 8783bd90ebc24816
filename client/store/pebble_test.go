package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/client/store/storetest"
	"github.com/micropay/micropay/contract/payment"
)

func TestPebble(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store {
		return openPebble(t, dir)
	})
}

func openPebble(t *testing.T, dir string) *store.Pebble {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Environment of TestPebbleCrash.
const (
	crashChildEnv = "MICROPAY_STORE_CRASH_DIR"  // set in the child: its store dir
	crashSeedEnv  = "MICROPAY_STORE_CRASH_SEED" // set by hand to replay a seed
)

// crashWriters is how many goroutines of the child append, each to its own
// warrant, so that the kill can land amid shared (group-committed) syncs.
const crashWriters = 4

func crashWarrant(g int) store.WarrantID {
	return store.WarrantID{Payer: fmt.Sprintf("payer-%d", g), Provider: "provider"}
}

// TestPebbleCrash kills a process that appends receipts at a random point
// and checks that every append it acknowledged survived. The child is this
// test binary, run again with crashChildEnv set: it appends in a loop and
// prints "ack <writer> <ordinal>" only after Append returns. The parent
// SIGKILLs it after a seeded random number of acknowledgements, reads the
// rest of its output, reopens the store and looks for every acknowledged
// ordinal. A few rounds run on the same dir, so recovery is also tested on
// a store that has crashed before.
//
// SIGKILL ends the process but not the machine: the page cache survives,
// so this checks that acknowledged means written to the WAL and recovered.
// That it was also synced is checked under simulated power loss by
// TestPebblePowerLoss.
func TestPebbleCrash(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs to start and kill a process")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(crashSeedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s: %v", crashSeedEnv, err)
		}
	}
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := t.TempDir()
	acked := make(map[int]uint64) // writer → highest acknowledged ordinal
	for round := range 3 {
		killAfter := 1 + rng.IntN(150)
		n := crashRound(t, dir, killAfter, acked)
		t.Logf("round %d: killed after %d acknowledgements, read %d", round, killAfter, n)

		s := openPebble(t, dir)
		for g := range crashWriters {
			w := crashWarrant(g)
			var ords []uint64
			err := s.Receipts(context.Background(), store.ReceiptFilter{Warrant: &w}, func(r store.Receipt) error {
				ords = append(ords, r.Payment.Ordinal)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(ords)) < acked[g] {
				t.Fatalf("round %d writer %d: %d receipts stored, %d acknowledged", round, g, len(ords), acked[g])
			}
			for i, o := range ords {
				if o != uint64(i+1) {
					t.Fatalf("round %d writer %d: receipt %d has ordinal %d", round, g, i, o)
				}
			}
			if r, ok, err := s.Newest(context.Background(), w); err != nil || (len(ords) > 0 && (!ok || r.Payment.Ordinal != uint64(len(ords)))) {
				t.Fatalf("round %d writer %d: newest %v, ok %v, err %v; %d receipts", round, g, r.Payment, ok, err, len(ords))
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashRound runs a child on dir, kills it after killAfter
// acknowledgements, and records every acknowledgement it printed in acked.
// It returns how many it read.
func crashRound(t *testing.T, dir string, killAfter int, acked map[int]uint64) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPebbleCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	read := 0
	in := bufio.NewReader(out)
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			// A line cut short was not acknowledged whole; EOF means the
			// child is gone.
			if err != io.EOF {
				t.Errorf("read child: %v", err)
			}
			break
		}
		g, ordinal, ok := parseAck(line)
		if !ok {
			continue // the test framework's own output
		}
		acked[g] = max(acked[g], ordinal)
		if read++; read == killAfter {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill: %v", err)
			}
		}
	}
	err = cmd.Wait()
	if read < killAfter {
		t.Fatalf("child exited after %d acknowledgements (%v):\n%s", read, err, stderr.String())
	}
	return read
}

func parseAck(line string) (writer int, ordinal uint64, ok bool) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ack" {
		return 0, 0, false
	}
	g, err1 := strconv.Atoi(f[1])
	o, err2 := strconv.ParseUint(f[2], 10, 64)
	return g, o, err1 == nil && err2 == nil
}

// crashChild appends receipts until it is killed, resuming each writer's
// warrant after its newest stored ordinal. It stops by itself after a bound,
// or as soon as it cannot print (the parent is gone).
func crashChild(t *testing.T, dir string) {
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var (
		mu  sync.Mutex // one write per line, whole
		wg  sync.WaitGroup
		out = os.Stdout
	)
	for g := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := crashWarrant(g)
			newest, _, err := s.Newest(ctx, w)
			if err != nil {
				t.Error(err)
				return
			}
			for ordinal := newest.Payment.Ordinal + 1; ordinal <= newest.Payment.Ordinal+100_000; ordinal++ {
				r := store.Receipt{
					Warrant:    w,
					Payment:    payment.Payment{Epoch: 1, Ordinal: ordinal, Total: ordinal},
					Price:      1,
					Resource:   "crash",
					AcceptedAt: time.Unix(int64(ordinal), 0),
				}
				if err := s.Append(ctx, r); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				_, err := fmt.Fprintf(out, "ack %d %d\n", g, ordinal)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}
