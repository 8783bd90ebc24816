package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/micropay/micropay/client/store"
)

// testSaveSettlements checks SaveSettlements (for stores that are a
// store.SettlementSaver): every record of the batch saved, a warrant named
// twice keeping the later record, a bad warrant refusing the whole batch,
// and all of it still there after a reopen.
func testSaveSettlements(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	if _, ok := s.(store.SettlementSaver); !ok {
		t.Skip("not a store.SettlementSaver")
	}
	ctx := context.Background()
	var batch []store.Settlement
	for i := range 50 {
		batch = append(batch, store.Settlement{
			Warrant: warrant(byte(i+1), 0x02), Epoch: 1, Ordinal: uint64(i + 1), Total: uint64(100 * (i + 1)),
			State: store.Submitted, Attempt: 1, UpdatedAt: base.Add(time.Duration(i) * time.Second),
		})
	}
	again := batch[7]
	again.State, again.Paid, again.RequestID = store.Landed, again.Total, "0x07"
	batch = append(batch, again)
	if err := s.(store.SettlementSaver).SaveSettlements(ctx, batch); err != nil {
		t.Fatal(err)
	}
	want := append(append([]store.Settlement(nil), batch[:7]...), again)
	want = append(want, batch[8:50]...)
	requireSettlements(t, s, "after save", want)

	bad := []store.Settlement{{Warrant: warrant(0x60, 0x02), Epoch: 1, Ordinal: 1, State: store.Landed}, {Warrant: store.WarrantID{Payer: strings.Repeat("x", 256), Provider: "p"}, Ordinal: 1}}
	if err := s.(store.SettlementSaver).SaveSettlements(ctx, bad); err == nil {
		t.Fatal("a batch with an over-long agent ID was saved")
	}
	if got, ok, err := s.LastSettlement(ctx, bad[0].Warrant); err != nil || ok {
		t.Fatalf("part of a refused batch was saved: %+v, ok %v, err %v", got, ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	requireSettlements(t, open(t), "after reopen", want)
}

func requireSettlements(t *testing.T, s store.Store, what string, want []store.Settlement) {
	t.Helper()
	for _, w := range want {
		got, ok, err := s.LastSettlement(context.Background(), w.Warrant)
		if err != nil || !ok {
			t.Fatalf("%s: settlement of %x: ok %v, err %v", what, w.Warrant.Payer, ok, err)
		}
		requireSettlement(t, what, got, w)
	}
}
