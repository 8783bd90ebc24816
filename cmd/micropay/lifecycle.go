package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/solo"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

func newLifecycleCmd() *cobra.Command {
	var pieces int
	var price uint64
	cmd := &cobra.Command{
		Use:         "lifecycle",
		Annotations: embedded,
		Short:       "Run one warrant's whole lifecycle on the embedded Solo chain and print the balances",
		Long: `lifecycle starts an embedded Solo chain with micropay deployed and walks one
warrant through its life: register key, add, top up, sign off-ledger payments,
settle the newest, revoke, settle before the deadline, let the deadline pass
and the contract's scheduled close refund the rest. Every L2 balance is
printed after each step.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLifecycle(cmd.OutOrStdout(), pieces, price)
		},
	}
	cmd.Flags().IntVar(&pieces, "pieces", 20, "pieces the consumer buys (off-ledger payments it signs)")
	cmd.Flags().Uint64Var(&price, "price", 25_000, "price of one piece in base tokens")
	return cmd
}

// lifecycle is one run: the chain and its two parties.
type lifecycle struct {
	e               *solochain.Embedded
	payer, provider *cryptolib.KeyPair
	pa, sa          isc.AgentID
	out             *tabwriter.Writer
}

func runLifecycle(w io.Writer, pieces int, price uint64) error {
	if pieces < 2 {
		return fmt.Errorf("--pieces must be at least 2, got %d", pieces)
	}
	e, err := solochain.New(solochain.Options{})
	if err != nil {
		return err
	}
	defer e.Close()
	l := &lifecycle{e: e, out: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	return solochain.Do(func() { l.run(pieces, price) })
}

func (l *lifecycle) run(pieces int, price uint64) {
	ch := l.e.Chain
	l.payer, l.pa = l.fund(1)
	l.provider, l.sa = l.fund(2)
	fmt.Fprintf(l.out, "chain %s, contract %s (hname %s)\n", ch.ChainID, contract.Contract.Name, contract.Contract.Hname())
	fmt.Fprintf(l.out, "payer %s\nprovider %s\n\n", l.pa, l.sa)
	fmt.Fprintln(l.out, "step\tpayer L2\tprovider L2\tcontract L2\twarrant\t")
	l.row("start")

	l.post(l.payer, contract.FuncPublicKey.Name, 0, dict.Dict{contract.ParamPublicKey: l.payer.GetPublicKey().AsBytes()})
	l.row("register key")
	l.post(l.payer, contract.FuncAddWarrant.Name, 1_000_000, dict.Dict{contract.ParamProvider: codec.EncodeAgentID(l.sa)})
	l.row("add warrant 1,000,000")
	l.post(l.payer, contract.FuncAddWarrant.Name, uint64(pieces)*price, dict.Dict{contract.ParamProvider: codec.EncodeAgentID(l.sa)})
	l.row(fmt.Sprintf("top up %d", uint64(pieces)*price))

	w := payment.Warrant{ChainID: ch.ChainID, Contract: uint32(contract.Contract.Hname()), Payer: l.pa.Bytes(), Provider: l.sa.Bytes()}
	key := l.payer.GetPrivateKey().AsStdKey()
	signed := make([]payment.Payment, pieces)
	for i := range signed {
		ord := uint64(i + 1)
		signed[i] = payment.Sign(key, w, 1, ord, ord*price)
	}
	half := pieces / 2
	fmt.Fprintf(l.out, "sign %d payments of %d\t-\t-\t-\toff-ledger, nothing moves\t\n", pieces, price)
	l.settle(signed[half-1])
	l.row(fmt.Sprintf("settle newest of %d", half))

	l.post(l.payer, contract.FuncRevokeWarrant.Name, 1_000_000, dict.Dict{contract.ParamProvider: codec.EncodeAgentID(l.sa)})
	l.row("revoke (deposit 1,000,000)")
	l.settle(signed[pieces-1])
	l.row(fmt.Sprintf("settle newest of %d", pieces))

	deadline := l.info()[contract.ResultDeadline]
	dl := codec.MustDecodeUint64(deadline)
	ch.WaitForRequestsMark()
	l.e.Solo.AdvanceClockBy(time.Duration(dl-uint64(l.e.Solo.GlobalTime().Unix())+1) * time.Second)
	if !ch.WaitForRequestsThrough(1, 10*time.Second) {
		l.e.Ctx.Fatalf("the scheduled close did not run")
	}
	l.row("deadline passes: scheduled close")
	l.out.Flush()
	fmt.Fprintf(l.out, "\nThe provider was paid %d for %d pieces with 2 settle requests; the payer got the rest of\n"+
		"the warrant and its revoke deposit less the scheduled close's fee; the contract keeps %d base\n"+
		"tokens. Amounts are base tokens; each request also paid its gas fee.\n",
		uint64(pieces)*price, pieces, ch.L2BaseTokens(l.e.Contract))
	l.out.Flush()
}

// fund creates party i with L1 funds and deposits 50,000,000 of them on L2.
func (l *lifecycle) fund(i int) (*cryptolib.KeyPair, isc.AgentID) {
	key, addr := l.e.Solo.NewKeyPairWithFunds(l.e.Solo.NewSeedFromIndex(i))
	l.e.Chain.MustDepositBaseTokensToL2(50_000_000, key)
	return key, isc.NewAgentID(addr)
}

func (l *lifecycle) post(key *cryptolib.KeyPair, fn string, allowance uint64, params dict.Dict) {
	req := solo.CallParamsFromDict(contract.Contract.Name, fn, params).WithMaxAffordableGasBudget()
	if allowance > 0 {
		req.AddAllowanceBaseTokens(allowance)
	}
	if _, err := l.e.Chain.PostRequestOffLedger(req, key); err != nil {
		l.e.Ctx.Fatalf("%s: %v", fn, err)
	}
}

func (l *lifecycle) settle(p payment.Payment) {
	d := dict.Dict{contract.ParamPayer: codec.EncodeAgentID(l.pa)}
	collections.NewArray(d, contract.ParamPayments).Push(p.Bytes())
	l.post(l.provider, contract.FuncSettle.Name, 0, d)
}

func (l *lifecycle) info() dict.Dict {
	ret, err := l.e.Chain.CallView(contract.Contract.Name, contract.ViewGetWarrantInfo.Name,
		contract.ParamPayer, l.pa, contract.ParamProvider, l.sa)
	if err != nil {
		l.e.Ctx.Fatalf("getWarrantInfo: %v", err)
	}
	return ret
}

func (l *lifecycle) row(step string) {
	ch := l.e.Chain
	in := l.info()
	state := fmt.Sprintf("epoch %d, none", codec.MustDecodeUint32(in[contract.ResultEpoch]))
	if b := in[contract.ResultBalance]; b != nil {
		state = fmt.Sprintf("epoch %d, balance %d, paid %d, ordinal %d",
			codec.MustDecodeUint32(in[contract.ResultEpoch]), codec.MustDecodeUint64(b),
			codec.MustDecodeUint64(in[contract.ResultPaid]), codec.MustDecodeUint64(in[contract.ResultLastOrdinal]))
		if d := in[contract.ResultDeadline]; d != nil {
			state += fmt.Sprintf(", revoked (deadline in %d s)", codec.MustDecodeUint64(d)-uint64(l.e.Solo.GlobalTime().Unix()))
		}
	}
	fmt.Fprintf(l.out, "%s\t%d\t%d\t%d\t%s\t\n", step, ch.L2BaseTokens(l.pa), ch.L2BaseTokens(l.sa), ch.L2BaseTokens(l.e.Contract), state)
}
