package contract_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/solo"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// BenchmarkSettle measures one settle request in the ISC VM: the newest
// payment alone against itemized batches. gas/op and fee/op are the
// request's gas and fee in base tokens; ns/op is the wall time of running
// it through Solo's VM (signature checks included).
func BenchmarkSettle(b *testing.B) {
	for _, size := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("itemized-%d", size), func(b *testing.B) { benchSettle(b, size) })
	}
	b.Run("newest-of-1000", func(b *testing.B) { benchSettle(b, -1000) })
}

// benchSettle settles batches of size payments; a negative size settles
// only the newest of |size| payments.
func benchSettle(b *testing.B, size int) {
	e := newEnv(b)
	payer, provider := e.newUser(), e.newUser()
	e.registerKey(payer)
	_, err := e.addWarrant(payer, provider, 50_000_000)
	require.NoError(b, err)
	n := size
	if n < 0 {
		n = -n
	}
	batches := make([][]payment.Payment, b.N)
	var ord uint64
	for i := range batches {
		for j := 0; j < n; j++ {
			ord++
			if size > 0 || j == n-1 {
				batches[i] = append(batches[i], e.pay(payer, provider, 1, ord, ord))
			}
		}
	}
	var gasSum, feeSum uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fee, err := e.settle(provider, payer, batches[i]...)
		if err != nil {
			b.Fatal(err)
		}
		gasSum += e.ch.LastReceipt().GasBurned
		feeSum += fee
	}
	b.ReportMetric(float64(gasSum)/float64(b.N), "gas/op")
	b.ReportMetric(float64(feeSum)/float64(b.N), "fee/op")
	b.ReportMetric(float64(n), "payments/op")
}

// TestLargestItemizedBatch finds the largest itemized batch one off-ledger
// settle can carry under the chain's per-request gas limit and a Wasp node's
// default 2 MB API body limit, and checks that 1000 fit.
func TestLargestItemizedBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("signs thousands of payments")
	}
	e := newEnv(t)
	payer, provider := e.newUser(), e.newUser()
	e.registerKey(payer)
	_, err := e.addWarrant(payer, provider, 90_000_000)
	require.NoError(t, err)

	const bodyLimit = 2_000_000 // webapi.limits.maxBodyLength default "2M"
	maxGas := e.ch.GetGasLimits().MaxGasPerRequest
	var signed []payment.Payment
	fits := func(n int) (bool, uint64, int) {
		for len(signed) < n {
			ord := uint64(len(signed) + 1)
			signed = append(signed, e.pay(payer, provider, 1, ord, ord))
		}
		d := batchParams(signed[:n])
		d[contract.ParamPayer] = codec.EncodeAgentID(payer.agent)
		req := solo.CallParamsFromDict(contract.Contract.Name, contract.FuncSettle.Name, d).WithMaxAffordableGasBudget()
		size := len(req.NewRequestOffLedger(e.ch, provider.key).Bytes())
		if 2*size+200 > bodyLimit { // hex in a JSON body
			return false, 0, size
		}
		_, rec, err := e.ch.EstimateGasOffLedger(req, provider.key)
		if err != nil || rec.GasBurned > maxGas {
			return false, 0, size
		}
		return true, rec.GasBurned, size
	}
	ok, gas1000, size1000 := fits(1000)
	require.True(t, ok, "an itemized batch of 1000 must fit")
	lo, hi := 1000, 1000
	for {
		hi *= 2
		if ok, _, _ := fits(hi); !ok {
			break
		}
		lo = hi
	}
	for hi-lo > 16 {
		mid := (lo + hi) / 2
		if ok, _, _ := fits(mid); ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	_, gasMax, sizeMax := fits(lo)
	t.Logf("1000 payments: %d gas, %d bytes; largest batch ~%d payments: %d gas of %d, %d bytes of request",
		gas1000, size1000, lo, gasMax, maxGas, sizeMax)
}

// BenchmarkSettleMany measures settleMany: the newest payment of each of n
// warrants of one provider in one request. gas/warrant is the figure to set
// against a single settle's gas (BenchmarkSettle/itemized-1).
func BenchmarkSettleMany(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("warrants-%d", n), func(b *testing.B) {
			e := newEnv(b)
			provider := e.newUser()
			payers := e.warrants(provider, n, 1_000_000)
			var gasSum, feeSum uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				items := make([]contract.Settlement, n)
				for j, p := range payers {
					items[j] = contract.Settlement{Payer: p.agent, Payment: e.pay(p, provider, 1, uint64(i+1), uint64(i+1))}
				}
				b.StartTimer()
				fee, err := e.settleMany(provider, items...)
				if err != nil {
					b.Fatal(err)
				}
				gasSum += e.ch.LastReceipt().GasBurned
				feeSum += fee
			}
			b.ReportMetric(float64(gasSum)/float64(b.N), "gas/op")
			b.ReportMetric(float64(gasSum)/float64(b.N)/float64(n), "gas/warrant")
			b.ReportMetric(float64(feeSum)/float64(b.N), "fee/op")
		})
	}
}
