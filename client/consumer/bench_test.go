package consumer_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/isc"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
)

// BenchmarkPayerPay measures one payment: save the position, then sign.
// "durable" syncs every save to disk (the fsync dominates); "memory" is the
// signing cost alone; "durable-parallel" pays 64 providers from parallel
// goroutines, whose syncs Pebble's commit pipeline shares.
func BenchmarkPayerPay(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, states consumer.StateStore, parallel bool) {
		e, err := newEnvWith(b.Name(), states)
		require.NoError(b, err)
		defer e.chain.Close()
		payer := e.consumer.Payer
		providers := make([]isc.AgentID, 64)
		for i := range providers {
			providers[i] = chain.AgentOf(keyFor(b.Name() + string(rune('a'+i))))
			_, err := payer.Pay(ctx, providers[i], 1, 1) // reads the epoch from the chain once
			require.NoError(b, err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		if !parallel {
			for i := 0; i < b.N; i++ {
				if _, err := payer.Pay(ctx, providers[0], 1, 10); err != nil {
					b.Fatal(err)
				}
			}
			return
		}
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			provider := providers[next.Add(1)%int64(len(providers))]
			for pb.Next() {
				if _, err := payer.Pay(ctx, provider, 1, 10); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("durable", func(b *testing.B) {
		states, err := consumer.OpenPayerState(b.TempDir())
		require.NoError(b, err)
		defer states.Close()
		run(b, states, false)
	})
	b.Run("durable-parallel", func(b *testing.B) {
		states, err := consumer.OpenPayerState(b.TempDir())
		require.NoError(b, err)
		defer states.Close()
		b.SetParallelism(8)
		run(b, states, true)
	})
	b.Run("memory", func(b *testing.B) {
		run(b, consumer.NewMemState(), false)
	})
}
