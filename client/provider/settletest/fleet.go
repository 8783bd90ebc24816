// Package settletest opens fleets of warrants for the settler's
// benchmarks: thousands of payers of one provider, opened straight on an
// embedded chain (or a devnet's) in blocks of many requests, since a Solo
// block checks the whole account ledger and one request a block would take
// hours at 100,000 warrants.
package settletest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/vm/core/accounts"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/contract/payment"
)

// Amounts of a fleet: what each payer is given and locks in its warrant.
const (
	Funding = 1_100_000
	Locked  = 1_000_000 // the contract's least
	// BlockRequests is how many set-up requests go in one block.
	BlockRequests = 1_000
)

// SizeEnv names the environment variable that sizes the settler's
// benchmarks: the number of warrants of their fleet.
const SizeEnv = "MICROPAY_BENCH_WARRANTS"

// Size returns the fleet size SizeEnv asks for, def when it is unset.
func Size(def int) (int, error) {
	s := os.Getenv(SizeEnv)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive number of warrants", SizeEnv, s)
	}
	return n, nil
}

// Fleet is payers with a warrant each for one provider, and the newest
// total each has paid.
type Fleet struct {
	Keys     []*cryptolib.KeyPair
	Payers   []isc.AgentID
	Totals   []uint64
	provider isc.AgentID
	chainID  chain.Chain // names the chain the payments are signed for
}

// Open gives n new payers their funds from a bank and opens their
// warrants for provider, keys registered, with closeTimeout seconds (0: the
// contract's default), straight on e, BlockRequests requests a block. lock,
// if not nil, is held around each block (a devnet's, whose own blocks take
// it).
func Open(ctx context.Context, e *solochain.Embedded, lock sync.Locker, provider isc.AgentID, n int, closeTimeout uint64) (*Fleet, error) {
	bank := cryptolib.NewKeyPair()
	for left := uint64(n)*(Funding+10_000) + 10_000_000; left > 0; {
		chunk := min(left, 900_000_000)
		if err := e.Fund(ctx, chain.AgentOf(bank), chunk); err != nil {
			return nil, fmt.Errorf("fund the bank: %w", err)
		}
		left -= chunk
	}
	f := &Fleet{provider: provider, chainID: e}
	var reqs []solochain.BatchRequest
	for range n {
		key := cryptolib.NewKeyPair()
		a := chain.AgentOf(key)
		reqs = append(reqs, solochain.BatchRequest{Signer: bank, Contract: accounts.Contract.Name, NoEvents: true, Request: chain.Request{
			Entry: accounts.FuncTransferAllowanceTo.Name, Params: dict.Dict{accounts.ParamAgentID: codec.EncodeAgentID(a)}, Allowance: Funding,
		}})
		col := &solochain.Collector{Chain: e}
		if _, err := chain.AddWarrant(ctx, col, key, chain.AddWarrantRequest{Provider: provider, Amount: Locked, CloseTimeout: closeTimeout, RegisterKey: true}); err != nil {
			return nil, err
		}
		reqs = append(reqs, col.Items...)
		f.Keys, f.Payers, f.Totals = append(f.Keys, key), append(f.Payers, a), append(f.Totals, 0)
	}
	for lo := 0; lo < len(reqs); lo += BlockRequests {
		if lock != nil {
			lock.Lock()
		}
		outs := e.PostBatch(ctx, reqs[lo:min(lo+BlockRequests, len(reqs))])
		if lock != nil {
			lock.Unlock()
		}
		for i, o := range outs {
			if o.Err != nil {
				return nil, fmt.Errorf("set-up request %d: %w", lo+i, o.Err)
			}
		}
	}
	return f, nil
}

// Pay has every payer pay its next piece (ordinal, in epoch 1) at a price of
// its own, accepted by p, 32 payers at a time.
func (f *Fleet) Pay(ctx context.Context, p *provider.Provider, ordinal uint64) error {
	var next atomic.Int64
	errs := make([]error, 32)
	var wg sync.WaitGroup
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(f.Keys) && errs[g] == nil; i = int(next.Add(1)) - 1 {
				price := uint64(100 + i%1_000)
				f.Totals[i] += price
				w := chain.PaymentWarrant(f.chainID, f.Payers[i], f.provider)
				pm := payment.Sign(f.Keys[i].GetPrivateKey().AsStdKey(), w, 1, ordinal, f.Totals[i])
				if _, err := p.Accept(ctx, provider.Payment{Payer: f.Payers[i], Payment: pm, Price: price, Resource: "/piece"}); err != nil {
					errs[g] = fmt.Errorf("payer %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CheckPaid returns an error naming the first warrant the chain did not
// pay its newest total.
func (f *Fleet) CheckPaid(ctx context.Context, c chain.Chain) error {
	for i, a := range f.Payers {
		info, err := c.WarrantInfo(ctx, a, f.provider)
		if err != nil {
			return err
		}
		if info.Paid != f.Totals[i] {
			return fmt.Errorf("warrant %d: paid %d on chain, want %d", i, info.Paid, f.Totals[i])
		}
	}
	return nil
}
