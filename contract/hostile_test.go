package contract_test

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/util/rwutil"
	"github.com/iotaledger/wasp/packages/vm/gas"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// claimedLength returns the parameter "m" holding only a length prefix of n.
func claimedLength(n int) []byte { return rwutil.NewBytesWriter().WriteSize32(n).Bytes() }

// TestHugeBatchLengthRejected sends the 5-byte attack (m = ffffffff07, a
// claimed 2^31-1 payments) and its relatives through settle and through
// closeWarrant: each is refused with an error that names the rule, moves no
// funds, and the chain goes on processing requests.
func TestHugeBatchLengthRejected(t *testing.T) {
	e, payer, provider := funded(t, 3_000_000)
	stranger := e.newUser()
	require.Equal(t, []byte{0xff, 0xff, 0xff, 0xff, 0x07}, claimedLength(1<<31-1))
	good := e.pay(payer, provider, 1, 1, 100)

	cases := []struct {
		name   string
		caller user
		fn     string
		m      func(d dict.Dict)
		want   string
	}{
		{"settle, 2^31-1 claimed", provider, contract.FuncSettle.Name,
			func(d dict.Dict) { d[contract.ParamPayments] = claimedLength(1<<31 - 1) },
			`parameter "m" claims 2147483647 items; a request carries at most 10000`},
		{"close by anyone, 2^31-1 claimed", stranger, contract.FuncCloseWarrant.Name,
			func(d dict.Dict) { d[contract.ParamPayments] = claimedLength(1<<31 - 1) },
			`parameter "m" claims 2147483647 items`},
		{"one above the maximum", provider, contract.FuncSettle.Name,
			func(d dict.Dict) { d[contract.ParamPayments] = claimedLength(contract.MaxPaymentsPerRequest + 1) },
			`claims 10001 items; a request carries at most 10000`},
		{"more than the request holds", provider, contract.FuncSettle.Name,
			func(d dict.Dict) {
				d[contract.ParamPayments] = claimedLength(5)
				d[collections.ArrayElemKey(contract.ParamPayments, 0)] = good.Bytes()
			},
			`parameter "m" claims 5 items but the request carries only`},
		{"an item missing", provider, contract.FuncSettle.Name,
			func(d dict.Dict) {
				d[contract.ParamPayments] = claimedLength(2)
				d[collections.ArrayElemKey(contract.ParamPayments, 0)] = good.Bytes()
				d["x"], d["y"] = []byte{1}, []byte{2}
			},
			`payment 2 of 2 is missing from parameter "m"`},
		{"length not a size", provider, contract.FuncSettle.Name,
			func(d dict.Dict) { d[contract.ParamPayments] = []byte{0xff, 0xff} },
			`parameter "m": length:`},
		{"length with trailing bytes", provider, contract.FuncSettle.Name,
			func(d dict.Dict) { d[contract.ParamPayments] = []byte{1, 0} },
			`parameter "m": length: excess bytes`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := dict.Dict{
				contract.ParamPayer:    codec.EncodeAgentID(payer.agent),
				contract.ParamProvider: codec.EncodeAgentID(provider.agent),
			}
			c.m(d)
			before := e.snapshot(payer, provider, stranger)
			fee, err := e.call(c.caller, c.fn, 0, d)
			rejected(t, e, err, c.want, fee, c.caller, before, payer, provider, stranger)
		})
	}
	fee, err := e.settle(provider, payer, good)
	require.NoError(t, err, "the chain processes the next request")
	require.Positive(t, fee)
	require.EqualValues(t, 1, e.info(payer, provider).LastOrdinal)
	e.checkLedgers()
}

// hugeBatchChild marks the subprocess of TestHugeBatchLengthUnderMemoryLimit.
const hugeBatchChild = "MICROPAY_TEST_HUGE_BATCH_CHILD"

// TestHugeBatchLengthUnderMemoryLimit runs the 5-byte attack in a subprocess
// of the test binary whose address space is limited to 8 GiB: a decoder that
// allocates what the length claims (~190 GiB) dies there with "out of
// memory", which this test reports as a failure instead of losing the whole
// test run to it.
func TestHugeBatchLengthUnderMemoryLimit(t *testing.T) {
	if os.Getenv(hugeBatchChild) == "1" {
		limit := uint64(8 << 30)
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit}))
		e, payer, provider := funded(t, 3_000_000)
		for _, fn := range []string{contract.FuncSettle.Name, contract.FuncCloseWarrant.Name} {
			_, err := e.call(provider, fn, 0, dict.Dict{
				contract.ParamPayer:    codec.EncodeAgentID(payer.agent),
				contract.ParamProvider: codec.EncodeAgentID(provider.agent),
				contract.ParamPayments: claimedLength(1<<31 - 1),
			})
			require.ErrorContains(t, err, "claims 2147483647 items")
		}
		_, err := e.settle(provider, payer, e.pay(payer, provider, 1, 1, 100))
		require.NoError(t, err)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHugeBatchLengthUnderMemoryLimit$", "-test.count=1")
	cmd.Env = append(os.Environ(), hugeBatchChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := out
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		t.Fatalf("the attack under an 8 GiB address-space limit: %v\n%s", err, tail)
	}
}

// TestBatchGasPerItem shows that a batch costs what it weighs: every
// payment decoded burns PaymentDecodeGas on top of its signature check.
func TestBatchGasPerItem(t *testing.T) {
	e, payer, provider := funded(t, 5_000_000)
	gasOf := func(ps ...payment.Payment) uint64 {
		_, err := e.settle(provider, payer, ps...)
		require.NoError(t, err)
		return e.ch.LastReceipt().GasBurned
	}
	one := gasOf(e.pay(payer, provider, 1, 1, 10))
	var batch []payment.Payment
	for ord := uint64(2); ord <= 101; ord++ {
		batch = append(batch, e.pay(payer, provider, 1, ord, ord*10))
	}
	hundred := gasOf(batch...)
	perItem := (hundred - one) / 99
	sig := gas.BurnCodeUtilsED25519ValidSig.Cost()
	t.Logf("settle gas: 1 payment %d, 100 payments %d, %d per extra payment", one, hundred, perItem)
	require.GreaterOrEqual(t, perItem, contract.PaymentDecodeGas+sig)
	e.checkLedgers()
}

// TestFeeRaiseKeepsContractSolvent reproduces the drain: five payers revoke
// with the smallest deposit the contract accepts, then the chain owner raises
// the fee policy 100x before the scheduled closes run. No close may spend
// more than its own deposit and its own warrant: the victim, who did not
// revoke, keeps every token and can still be closed, and the contract holds
// at least the sum of its warrants after every block.
func TestFeeRaiseKeepsContractSolvent(t *testing.T) {
	e := newEnv(t)
	provider, victim := e.newUser(), e.newUser()
	e.registerKey(victim)
	_, err := e.addWarrant(victim, provider, 2_000_000)
	require.NoError(t, err)

	deposit := minRevokeDeposit(t, e)
	payers := make([]user, 5)
	var deadline uint64
	for i := range payers {
		payers[i] = e.newUser()
		e.registerKey(payers[i])
		_, err := e.addWarrant(payers[i], provider, 1_000_000)
		require.NoError(t, err)
		_, err = e.revoke(payers[i], provider, deposit)
		require.NoError(t, err)
		deadline = e.info(payers[i], provider).Deadline
	}
	e.requireSolvent()

	policy := *e.ch.GetGasFeePolicy()
	raised := policy
	raised.GasPerToken.A = policy.GasPerToken.A
	raised.GasPerToken.B = policy.GasPerToken.B * 100
	e.ch.SetGasFeePolicy(e.ch.OriginatorPrivateKey, &raised)
	needed := raised.FeeFromGas(contract.ScheduledCloseGas, nil, 6)
	require.Greater(t, needed, deposit, "the raise must leave the deposit short of the close's fee")

	e.advancePast(deadline)
	require.True(t, e.ch.WaitForRequestsThrough(len(payers)))
	cost := raised.FeeFromGas(contract.ScheduledCloseUnfundedGas, nil, 6)
	for _, r := range e.ch.GetRequestReceiptsForBlock() {
		require.Nil(t, r.Error)
		require.Equal(t, contract.ScheduledCloseUnfundedGas, r.GasBurned, "the unfunded close burns exactly its figure")
		require.Equal(t, cost, r.GasFeeCharged)
	}
	e.requireSolvent()
	for _, p := range payers {
		in := e.info(p, provider)
		require.True(t, in.HasWarrant && in.Revoked, "an unfunded close leaves the warrant for anyone to close")
	}

	// The victim's warrant is whole and the provider can still close it.
	require.EqualValues(t, 2_000_000, e.info(victim, provider).Balance)
	vb := e.l2(victim.agent)
	_, err = e.closeBy(provider, victim, provider)
	require.NoError(t, err, "the victim's close must not fail")
	require.Equal(t, vb+2_000_000, e.l2(victim.agent))

	// Anyone can close the revoked warrants; each payer gets its balance less
	// what its own failed close cost beyond its deposit.
	stranger := e.newUser()
	for _, p := range payers {
		left := e.info(p, provider).Balance
		require.Equal(t, 1_000_000-(cost-deposit), left)
		pb := e.l2(p.agent)
		_, err := e.closeBy(stranger, p, provider)
		require.NoError(t, err)
		require.Equal(t, pb+left, e.l2(p.agent))
	}
	tb, nw := e.totals()
	require.Zero(t, tb)
	require.Zero(t, nw)
	e.checkLedgers()
}

// minRevokeDeposit asks the contract for the smallest deposit a revoke
// accepts, by revoking with 1 token and reading the figure from the error.
func minRevokeDeposit(t *testing.T, e *env) uint64 {
	payer, provider := e.newUser(), e.newUser()
	e.registerKey(payer)
	_, err := e.addWarrant(payer, provider, 1_000_000)
	require.NoError(t, err)
	_, err = e.revoke(payer, provider, 1)
	require.Error(t, err)
	var need, sd, reserve, got uint64
	_, scanErr := fmt.Sscanf(err.Error()[len("micropay: "):],
		"revoke needs an allowance of at least %d base tokens for the scheduled close (storage deposit %d, fee reserve %d), got %d",
		&need, &sd, &reserve, &got)
	require.NoError(t, scanErr, err.Error())
	_, err = e.closeBy(provider, payer, provider)
	require.NoError(t, err)
	return need
}
