package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/hive.go/kvstore/mapdb"
	"github.com/iotaledger/hive.go/logger"
	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/packages/chain"
	"github.com/iotaledger/wasp/packages/chain/mempool"
	"github.com/iotaledger/wasp/packages/chain/statemanager/sm_gpa"
	"github.com/iotaledger/wasp/packages/chain/statemanager/sm_gpa/sm_gpa_utils"
	"github.com/iotaledger/wasp/packages/chain/statemanager/sm_snapshots"
	"github.com/iotaledger/wasp/packages/chainutil"
	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/collections"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/iotaledger/wasp/packages/metrics"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/peering"
	"github.com/iotaledger/wasp/packages/registry"
	"github.com/iotaledger/wasp/packages/shutdown"
	"github.com/iotaledger/wasp/packages/state"
	"github.com/iotaledger/wasp/packages/state/indexedstore"
	"github.com/iotaledger/wasp/packages/testutil"
	testparameters "github.com/iotaledger/wasp/packages/testutil/parameters"
	"github.com/iotaledger/wasp/packages/testutil/testchain"
	"github.com/iotaledger/wasp/packages/testutil/testlogger"
	"github.com/iotaledger/wasp/packages/testutil/testpeers"
	"github.com/iotaledger/wasp/packages/testutil/utxodb"
	"github.com/iotaledger/wasp/packages/transaction"
	"github.com/iotaledger/wasp/packages/vm/core/accounts"
	"github.com/iotaledger/wasp/packages/vm/core/coreprocessors"
	"github.com/iotaledger/wasp/packages/vm/core/root"
	"github.com/iotaledger/wasp/packages/vm/gas"
	"github.com/micropay/micropay/contract"
	"github.com/micropay/micropay/contract/payment"
)

// l1Sim is one committee node's connection to the simulated L1: what the
// node publishes is confirmed at once, and the chain's own outputs that are
// requests (a revoke's time-locked close) come back to it as on-ledger
// requests, as Hornet would deliver them. Milestones carry the committee's
// tangle time.
type l1Sim struct {
	t       *testing.T
	chainID isc.ChainID
	fanout  func(outs iotago.OutputSet) // hands request outputs to every node

	mu              sync.Mutex
	published       map[iotago.TransactionID]bool
	recvRequest     chain.RequestOutputHandler
	recvAliasOutput chain.AliasOutputHandler
	recvMilestone   chain.MilestoneHandler
	attached        chan struct{}
}

var _ chain.NodeConnection = (*l1Sim)(nil)

func (l *l1Sim) PublishTX(_ context.Context, chainID isc.ChainID, tx *iotago.Transaction, callback chain.TxPostHandler) error {
	id, err := tx.ID()
	require.NoError(l.t, err)
	l.mu.Lock()
	seen := l.published[id]
	l.published[id] = true
	l.mu.Unlock()
	if seen {
		return nil
	}
	callback(tx, true)
	anchor, ao, err := transaction.GetAnchorFromTransaction(tx)
	if err != nil {
		return err
	}
	l.recvAliasOutput(isc.NewOutputInfo(anchor.OutputID, ao, iotago.TransactionID{}))
	outs, err := tx.OutputsSet()
	require.NoError(l.t, err)
	l.fanout(outs)
	return nil
}

func (l *l1Sim) AttachChain(_ context.Context, _ isc.ChainID, recvRequest chain.RequestOutputHandler,
	recvAliasOutput chain.AliasOutputHandler, recvMilestone chain.MilestoneHandler, _ func(), _ func(),
) {
	l.recvRequest, l.recvAliasOutput, l.recvMilestone = recvRequest, recvAliasOutput, recvMilestone
	close(l.attached)
}

func (l *l1Sim) Run(context.Context) error                      { return nil }
func (l *l1Sim) WaitUntilInitiallySynced(context.Context) error { return nil }
func (l *l1Sim) GetBech32HRP() iotago.NetworkPrefix             { return testparameters.GetBech32HRP() }
func (l *l1Sim) GetL1Params() *parameters.L1Params              { return testparameters.GetL1ParamsForTesting() }
func (l *l1Sim) GetL1ProtocolParams() *iotago.ProtocolParameters {
	return testparameters.GetL1ProtocolParamsForTesting()
}
func (l *l1Sim) RefreshOnLedgerRequests(context.Context, isc.ChainID) {}

// committee is n Wasp chain nodes (packages/chain, the consensus, mempool
// and state manager a real node runs) of one chain, with micropay among
// their processors, over an in-memory peering network and a simulated L1.
type committee struct {
	t        *testing.T
	log      *logger.Logger
	utxo     *utxodb.UtxoDB
	owner    *cryptolib.KeyPair
	ledger   *testchain.TestChainLedger
	chainID  isc.ChainID
	origin   *iotago.Transaction
	nodes    []chain.Chain
	conns    []*l1Sim
	stops    []context.CancelFunc
	tangle   atomic.Int64 // added to the wall clock in milestones
	shutdown func()

	// delivered receives the ID of every request the chain sent itself.
	delivered chan isc.RequestID
}

// newCommittee starts n nodes tolerating f faults (quorum n-f).
func newCommittee(t *testing.T, n, f int) *committee {
	c := &committee{t: t, log: testlogger.NewLogger(t), delivered: make(chan isc.RequestID, 16)}
	c.utxo = utxodb.New(utxodb.DefaultInitParams())
	c.owner = cryptolib.NewKeyPair()
	_, err := c.utxo.GetFundsFromFaucet(c.owner.Address())
	require.NoError(t, err)
	urls, identities := testpeers.SetupKeys(uint16(n))
	pubKeys := make([]*cryptolib.PublicKey, n)
	for i := range identities {
		pubKeys[i] = identities[i].GetPublicKey()
	}
	network := testutil.NewPeeringNetwork(urls, identities, 10000, testutil.NewPeeringNetReliable(c.log),
		testlogger.WithLevel(c.log, logger.LevelWarn, false))
	providers := network.NetworkProviders()
	cmtAddress, dkShares := testpeers.SetupDkgTrivial(t, n, f, identities, nil)
	c.ledger = testchain.NewTestChainLedger(t, c.utxo, c.owner)
	c.origin, _, c.chainID = c.ledger.MakeTxChainOrigin(cmtAddress)
	ctx, cancel := context.WithCancel(context.Background())
	c.shutdown = func() { cancel(); network.Close() }
	t.Cleanup(c.shutdown)
	for i := range identities {
		nodeCtx, stop := context.WithCancel(ctx)
		conn := &l1Sim{t: t, chainID: c.chainID, fanout: c.deliverRequests, published: map[iotago.TransactionID]bool{}, attached: make(chan struct{})}
		node, err := newNode(nodeCtx, c.log.Named(fmt.Sprintf("N#%d", i)), c.chainID, conn, identities[i], dkShares[i], providers[i])
		require.NoError(t, err)
		node.ServersUpdated(pubKeys)
		c.nodes, c.conns, c.stops = append(c.nodes, node), append(c.conns, conn), append(c.stops, stop)
	}
	c.start(ctx)
	return c
}

// newNode is chain.New as a Wasp node calls it, with micropay's processors.
func newNode(ctx context.Context, log *logger.Logger, chainID isc.ChainID, conn chain.NodeConnection,
	identity *cryptolib.KeyPair, dkShares registry.DKShareRegistryProvider, net peering.NetworkProvider,
) (chain.Chain, error) {
	processors := coreprocessors.NewConfigWithCoreContracts().WithNativeContracts(nativeContracts...)
	return chain.New(ctx, log, chainID,
		indexedstore.NewFake(state.NewStoreWithUniqueWriteMutex(mapdb.NewMapDB())),
		conn, identity, processors, dkShares, testutil.NewConsensusStateRegistry(), false,
		sm_gpa_utils.NewMockedTestBlockWAL(), sm_snapshots.NewEmptySnapshotManager(), chain.NewEmptyChainListener(),
		[]*cryptolib.PublicKey{}, net,
		metrics.NewChainMetricsProvider().GetChainMetrics(isc.EmptyChainID()),
		shutdown.NewCoordinator("test", log), nil, nil, true, -1, 1,
		10*time.Millisecond, 10*time.Second, accounts.CommonAccount(), sm_gpa.NewStateManagerParameters(),
		mempool.Settings{
			TTL: 24 * time.Hour, MaxOffledgerInPool: 1000, MaxOnledgerInPool: 1000, MaxTimedInPool: 1000,
			MaxOnledgerToPropose: 1000, MaxOffledgerToPropose: 1000,
		},
		time.Second,
	)
}

// start feeds milestones carrying the tangle time (the wall clock plus
// what advance added) and hands every node the chain's origin output.
func (c *committee) start(ctx context.Context) {
	for _, conn := range c.conns {
		<-conn.attached
	}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := time.Now().Add(time.Duration(c.tangle.Load()))
			for i, conn := range c.conns {
				if c.live(i) {
					conn.recvMilestone(now)
				}
			}
		}
	}()
	anchor, ao, err := transaction.GetAnchorFromTransaction(c.origin)
	require.NoError(c.t, err)
	for _, conn := range c.conns {
		conn.recvAliasOutput(isc.NewOutputInfo(anchor.OutputID, ao, iotago.TransactionID{}))
	}
}

// advance moves the tangle time, and so the chain's, on by d.
func (c *committee) advance(d time.Duration) { c.tangle.Add(int64(d)) }

func (c *committee) live(i int) bool { return c.stops[i] != nil }

// stop stops node i, as a killed process.
func (c *committee) stop(i int) {
	c.stops[i]()
	c.stops[i] = nil
}

// deliverRequests hands the outputs of outs that are requests to the chain
// (on its alias address, not its own alias output) to every live node.
func (c *committee) deliverRequests(outs iotago.OutputSet) {
	for id, out := range outs {
		if a, ok := out.(*iotago.AliasOutput); ok && (a.AliasID == c.chainID.AsAliasID() || a.AliasID.Empty()) {
			continue
		}
		addr := out.UnlockConditionSet().Address()
		if addr == nil || !addr.Address.Equal(c.chainID.AsAddress()) {
			continue
		}
		select {
		case c.delivered <- isc.RequestID(id):
		default:
		}
		for i, conn := range c.conns {
			if c.live(i) {
				conn.recvRequest(isc.NewOutputInfo(id, out, iotago.TransactionID{}))
			}
		}
	}
}

// onLedger hands reqs, requests of transactions added to the simulated L1,
// to every live node and waits until each is processed without error.
func (c *committee) onLedger(ctx context.Context, reqs []isc.Request) {
	for _, r := range reqs {
		o := r.(isc.OnLedgerRequest)
		for i, conn := range c.conns {
			if c.live(i) {
				conn.recvRequest(isc.NewOutputInfo(o.ID().OutputID(), o.Output(), iotago.TransactionID{}))
			}
		}
	}
	for _, r := range reqs {
		c.await(ctx, r.ID())
	}
}

// offLedger signs a request to micropay with key and nonce, gives it to
// the first live node and returns its receipt's error, nil when it ran.
func (c *committee) offLedger(ctx context.Context, key *cryptolib.KeyPair, nonce uint64, entry string, params dict.Dict, allowance uint64) *isc.UnresolvedVMError {
	req := isc.NewOffLedgerRequest(c.chainID, contract.Contract.Hname(), isc.Hn(entry), params, nonce, 1_000_000)
	if allowance > 0 {
		req.WithAllowance(isc.NewAssetsBaseTokens(allowance))
	}
	signed := req.Sign(key)
	for i, node := range c.nodes {
		if c.live(i) {
			require.NoError(c.t, node.ReceiveOffLedgerRequest(signed, key.GetPublicKey()))
			break
		}
	}
	return c.await(ctx, signed.ID())
}

// await waits until every live node has request id processed and
// confirmed, and returns its VM error.
func (c *committee) await(ctx context.Context, id isc.RequestID) *isc.UnresolvedVMError {
	var vmErr *isc.UnresolvedVMError
	for i, node := range c.nodes {
		if !c.live(i) {
			continue
		}
		for _, confirmed := range []bool{false, true} {
			select {
			case rec := <-node.AwaitRequestProcessed(ctx, id, confirmed):
				vmErr = rec.Error
			case <-ctx.Done():
				c.t.Fatalf("request %s not processed on node %d: %v", id, i, ctx.Err())
			}
		}
	}
	return vmErr
}

// view calls a view on the latest state of a live node.
func (c *committee) view(contractName, name string, params dict.Dict) dict.Dict {
	for i, node := range c.nodes {
		if !c.live(i) {
			continue
		}
		st, err := node.LatestState(chain.ActiveOrCommittedState)
		require.NoError(c.t, err)
		ret, err := chainutil.CallView(st, node, isc.Hn(contractName), isc.Hn(name), params)
		require.NoError(c.t, err)
		return ret
	}
	c.t.Fatal("no live node")
	return nil
}

// l2 is the base tokens of an L2 account on a live node's latest state.
func (c *committee) l2(agent isc.AgentID) uint64 {
	ret := c.view(accounts.Contract.Name, accounts.ViewBalanceBaseToken.Name, dict.Dict{accounts.ParamAgentID: codec.EncodeAgentID(agent)})
	return codec.MustDecodeUint64(ret[accounts.ParamBalance], 0)
}

// deployMicropay deploys the contract as `wasp-cli chain deploy-contract
// native micropay micropay <hash>` does: an on-ledger root.deployContract
// from the chain owner.
func (c *committee) deployMicropay(ctx context.Context) {
	c.onLedger(ctx, c.request(c.owner, &isc.RequestParameters{
		TargetAddress: c.chainID.AsAddress(),
		Assets:        isc.NewAssetsBaseTokens(2_000_000),
		Metadata: &isc.SendMetadata{
			TargetContract: root.Contract.Hname(),
			EntryPoint:     root.FuncDeployContract.Hname(),
			Params: dict.Dict{
				root.ParamProgramHash: codec.EncodeHashValue(contract.Contract.ProgramHash),
				root.ParamName:        codec.EncodeString(contract.Contract.Name),
			},
			GasBudget: 2 * gas.LimitsDefault.MinGasPerRequest,
		},
	}))
}

// request puts a transaction from key carrying one request on the
// simulated L1 and returns the request.
func (c *committee) request(key *cryptolib.KeyPair, params *isc.RequestParameters) []isc.Request {
	outs, ids := c.utxo.GetUnspentOutputs(key.Address())
	tx, err := transaction.NewRequestTransaction(transaction.NewRequestTransactionParams{
		SenderKeyPair: key, SenderAddress: key.Address(), UnspentOutputs: outs, UnspentOutputIDs: ids, Request: params,
	})
	require.NoError(c.t, err)
	require.NoError(c.t, c.utxo.AddToLedger(tx))
	set, err := tx.OutputsSet()
	require.NoError(c.t, err)
	var reqs []isc.Request
	for id, out := range set {
		if addr := out.UnlockConditionSet().Address(); addr != nil && addr.Address.Equal(c.chainID.AsAddress()) {
			r, err := isc.OnLedgerFromUTXO(out, id)
			require.NoError(c.t, err)
			reqs = append(reqs, r)
		}
	}
	return reqs
}

// fundedKey is a new key with 100 M base tokens deposited to its L2
// account from L1.
func (c *committee) fundedKey(ctx context.Context) *cryptolib.KeyPair {
	key := cryptolib.NewKeyPair()
	_, err := c.utxo.GetFundsFromFaucet(key.Address())
	require.NoError(c.t, err)
	c.onLedger(ctx, c.ledger.MakeTxAccountsDeposit(key))
	return key
}

// TestCommitteeRunsTheWarrantLifecycle runs one warrant's lifecycle on a
// committee of four real Wasp chain nodes (consensus, mempool, state
// manager; quorum 3) with micropay among their processors: the contract is
// deployed as wasp-cli does, funds come from L1, one node is stopped
// mid-lifecycle, and the scheduled close, a time-locked L1 output the chain
// sends itself, comes back through the simulated L1 and refunds the payer
// once the tangle time passes the deadline.
func TestCommitteeRunsTheWarrantLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four chain nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newCommittee(t, 4, 1)
	c.deployMicropay(ctx)
	payer, provider := c.fundedKey(ctx), c.fundedKey(ctx)
	pa, sa := isc.NewAgentID(payer.Address()), isc.NewAgentID(provider.Address())

	require.Nil(t, c.offLedger(ctx, payer, 0, contract.FuncAddWarrant.Name, dict.Dict{
		contract.ParamProvider:  codec.EncodeAgentID(sa),
		contract.ParamPublicKey: payer.GetPublicKey().AsBytes(),
	}, 2_000_000))
	w := payment.Warrant{ChainID: c.chainID, Contract: uint32(contract.Contract.Hname()), Payer: pa.Bytes(), Provider: sa.Bytes()}
	settle := func(nonce, ordinal, total uint64) *isc.UnresolvedVMError {
		p := payment.Sign(payer.GetPrivateKey().AsStdKey(), w, 1, ordinal, total)
		params := dict.Dict{contract.ParamPayer: codec.EncodeAgentID(pa)}
		collections.NewArray(params, contract.ParamPayments).Push(p.Bytes())
		return c.offLedger(ctx, provider, nonce, contract.FuncSettle.Name, params, 0)
	}
	require.Nil(t, settle(0, 1, 300_000))

	c.stop(3) // one of four: the quorum of three carries on
	warrant := dict.Dict{contract.ParamPayer: codec.EncodeAgentID(pa), contract.ParamProvider: codec.EncodeAgentID(sa)}
	deposit := c.view(contract.Contract.Name, contract.ViewGetRevokeDeposit.Name, warrant)
	need := codec.MustDecodeUint64(deposit[contract.ResultRevokeDeposit])
	fee := codec.MustDecodeUint64(deposit[contract.ResultCloseFee])
	require.Nil(t, c.offLedger(ctx, payer, 1, contract.FuncRevokeWarrant.Name, dict.Dict{contract.ParamProvider: codec.EncodeAgentID(sa)}, need))
	var closeID isc.RequestID
	select {
	case closeID = <-c.delivered:
	case <-ctx.Done():
		t.Fatal("the revoke sent no scheduled close")
	}
	require.Nil(t, settle(1, 2, 500_000), "the provider settles before the deadline")

	before := c.l2(pa)
	info := c.view(contract.Contract.Name, contract.ViewGetWarrantInfo.Name, warrant)
	require.NotNil(t, info[contract.ResultDeadline], "revoked")
	c.advance(time.Duration(codec.MustDecodeUint64(info[contract.ResultCloseTimeout])+60) * time.Second)
	require.Nil(t, c.await(ctx, closeID), "the scheduled close ran")

	require.Nil(t, c.view(contract.Contract.Name, contract.ViewGetWarrantInfo.Name, warrant)[contract.ResultBalance], "closed")
	require.Equal(t, before+(2_000_000-500_000)+need-fee, c.l2(pa), "the rest and the deposit less the close's fee")
}
