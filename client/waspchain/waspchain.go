package waspchain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/wasp/clients/apiclient"
	"github.com/iotaledger/wasp/clients/apiextensions"
	"github.com/iotaledger/wasp/clients/chainclient"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/kv/codec"
	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

// DefaultReceiptTimeout is how long Post waits for a receipt unless
// Config.ReceiptTimeout says otherwise.
const DefaultReceiptTimeout = time.Minute

// Config configures a Chain.
type Config struct {
	// URL is the base of the node's web API, e.g. "http://localhost:9090"
	// (the routes start with /v1).
	URL string
	// Nodes are further nodes of the same chain (web API base URLs), used in
	// turn, after URL, when a node cannot be reached or drops a call.
	Nodes []string
	// ChainID is the chain's ID in bech32. Empty: the node's only chain,
	// read from GET /v1/chains (an admin route on a real node: see Token).
	ChainID string
	// L1URL, if set, is the base URL of an L1 node's core API (Hornet's
	// public GET /api/core/v2/info gives the L1 parameters without a token);
	// empty: the L1 parameters come from the Wasp node's GET /v1/node/info,
	// an admin route that needs Token on a node with JWT authentication.
	L1URL string
	// HTTPClient makes the calls; nil means http.DefaultClient. A Timeout on
	// it must exceed the node's wait for a receipt (30 s on a real node).
	HTTPClient *http.Client
	// Token, if set, is sent as "Authorization: Bearer <Token>" to the node
	// at URL, with its admin routes only (the L1 parameters from GET
	// /v1/node/info, the chain from GET /v1/chains), for a node whose admin
	// routes require JWT authentication (wasp's default). It is never sent
	// to Nodes, which may be other operators' nodes: with Nodes, set
	// ChainID and L1URL so that a failover at connect needs no admin route.
	// The routes Post, the views, Now, L2Balance and the event feed use
	// are public.
	Token string
	// ReceiptTimeout bounds how long Post waits for the receipt of a request
	// the node accepted; 0 means DefaultReceiptTimeout.
	ReceiptTimeout time.Duration
	// FeedCheck is how often Follow compares its subscription with the
	// node's latest block (one GET of the latest block's info); 0 means
	// DefaultFeedCheck.
	FeedCheck time.Duration
}

// Chain is a chain.Chain on one or more Wasp nodes of a chain. It is safe
// for concurrent use.
type Chain struct {
	api     *apiclient.APIClient // the first node's
	nodes   []*node
	cur     atomic.Int32 // index in nodes of the node calls go to first
	id      isc.ChainID
	timeout time.Duration
	check   time.Duration // Config.FeedCheck

	mu      sync.Mutex
	signers map[string]*signer // by public key; never shrinks
}

// node is one Wasp node's web API.
type node struct {
	url   string
	api   *apiclient.APIClient // public routes: no token
	admin *apiclient.APIClient // admin routes: with Config.Token on the first node
	views *chainclient.Client
}

var (
	_ chain.Chain      = (*Chain)(nil)
	_ chain.ViewCaller = (*Chain)(nil)
)

// New connects to the node at cfg.URL and checks that it runs the chain.
// When cfg.Nodes are given, a node that cannot be reached is skipped.
func New(ctx context.Context, cfg Config) (*Chain, error) {
	c := &Chain{timeout: cfg.ReceiptTimeout, signers: map[string]*signer{}}
	if c.timeout <= 0 {
		c.timeout = DefaultReceiptTimeout
	}
	if c.check = cfg.FeedCheck; c.check <= 0 {
		c.check = DefaultFeedCheck
	}
	for i, u := range append([]string{cfg.URL}, cfg.Nodes...) {
		api, err := newAPI(u, cfg, "")
		if err != nil {
			return nil, err
		}
		admin := api
		if i == 0 && cfg.Token != "" {
			if admin, err = newAPI(u, cfg, cfg.Token); err != nil {
				return nil, err
			}
		}
		c.nodes = append(c.nodes, &node{url: u, api: api, admin: admin})
	}
	c.api = c.nodes[0].api
	err := c.each(ctx, func(n *node) error {
		if err := ensureL1(ctx, n.admin, cfg); err != nil {
			return err
		}
		return c.readChainID(ctx, n, cfg.ChainID)
	})
	if errors.Is(err, ErrUnreachable) {
		return nil, err // says "waspchain:" already
	}
	if err != nil {
		return nil, fmt.Errorf("waspchain: %w", err)
	}
	for _, n := range c.nodes {
		n.views = chainclient.New(nil, n.api, c.id, nil)
	}
	return c, nil
}

// newAPI is a web API client of the node at u, sending token (if not
// empty) with every call.
func newAPI(u string, cfg Config, token string) (*apiclient.APIClient, error) {
	if _, err := apiextensions.ValidateAbsoluteURL(u); err != nil {
		return nil, fmt.Errorf("waspchain: node %q: %w", u, err)
	}
	conf := apiclient.NewConfiguration()
	conf.Servers[0].URL = strings.TrimSuffix(u, "/")
	conf.HTTPClient = cfg.HTTPClient
	conf.UserAgent = "micropay-waspchain"
	if token != "" {
		conf.AddDefaultHeader("Authorization", "Bearer "+token)
	}
	return apiclient.NewAPIClient(conf), nil
}

// readChainID sets c.id from want, checking that n runs it, or from n's
// only chain when want is empty.
func (c *Chain) readChainID(ctx context.Context, n *node, want string) error {
	var err error
	if want == "" {
		c.id, err = onlyChain(ctx, n.admin)
	} else if c.id, err = isc.ChainIDFromString(want); err == nil {
		err = checkChain(ctx, n.api, c.id)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", n.url, err)
	}
	return nil
}

func onlyChain(ctx context.Context, api *apiclient.APIClient) (isc.ChainID, error) {
	list, resp, err := api.ChainsApi.GetChains(ctx).Execute()
	if err != nil {
		return isc.ChainID{}, fmt.Errorf("list chains (set ChainID, or Token if the route needs it): %w", callError(resp, err))
	}
	if len(list) != 1 {
		return isc.ChainID{}, fmt.Errorf("the node runs %d chains: set ChainID", len(list))
	}
	return isc.ChainIDFromString(list[0].ChainID)
}

func checkChain(ctx context.Context, api *apiclient.APIClient, id isc.ChainID) error {
	_, resp, err := api.ChainsApi.GetChainInfo(ctx, id.String()).Execute()
	if err != nil {
		return fmt.Errorf("chain %s: %w", id, callError(resp, err))
	}
	return nil
}

// ID returns the chain's ID.
func (c *Chain) ID() isc.ChainID { return c.id }

// WarrantInfo calls getWarrantInfo.
func (c *Chain) WarrantInfo(ctx context.Context, payer, provider isc.AgentID) (chain.WarrantInfo, error) {
	ret, err := c.CallView(ctx, contract.ViewGetWarrantInfo.Name, chain.WarrantInfoParams(payer, provider))
	if err != nil {
		return chain.WarrantInfo{}, err
	}
	return chain.DecodeWarrantInfo(ret)
}

// PublicKey calls getPublicKey; nil when payer registered no key.
func (c *Chain) PublicKey(ctx context.Context, payer isc.AgentID) ([]byte, error) {
	ret, err := c.CallView(ctx, contract.ViewGetPublicKey.Name, dict.Dict{
		contract.ParamPayer: codec.EncodeAgentID(payer),
	})
	if err != nil {
		return nil, err
	}
	return ret[contract.ParamPublicKey], nil
}

// CallView calls a view of the micropay contract.
func (c *Chain) CallView(ctx context.Context, view string, args dict.Dict) (dict.Dict, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ret dict.Dict
	err := c.each(ctx, func(n *node) error {
		var err error
		ret, err = n.views.CallView(ctx, contract.Contract.Hname(), view, args)
		return callError(nil, err)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", view, err)
	}
	return ret, nil
}

// Now returns the time the next block will carry (chain.Chain.Now): the
// later of the latest block's timestamp and the local clock, since an idle
// chain's latest block stands still while a node's next block carries its
// consensus time, close to the wall clock (see the package documentation).
func (c *Chain) Now(ctx context.Context) (time.Time, error) {
	info, err := c.latestBlock(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return chain.NextBlockTime(info.Timestamp, time.Now()), nil
}

// latestBlock reads the info of the chain's latest block.
func (c *Chain) latestBlock(ctx context.Context) (*apiclient.BlockInfoResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var info *apiclient.BlockInfoResponse
	err := c.each(ctx, func(n *node) error {
		var resp *http.Response
		var err error
		info, resp, err = n.api.CorecontractsApi.BlocklogGetLatestBlockInfo(ctx, c.id.String()).Execute()
		return callError(resp, err)
	})
	if err != nil {
		return nil, fmt.Errorf("latest block: %w", err)
	}
	if info == nil || info.Timestamp.IsZero() {
		return nil, errors.New("latest block: the node sent no timestamp")
	}
	return info, nil
}

// L2Balance returns the base tokens of an L2 account.
func (c *Chain) L2Balance(ctx context.Context, agent isc.AgentID) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var assets *apiclient.AssetsResponse
	err := c.each(ctx, func(n *node) error {
		var resp *http.Response
		var err error
		assets, resp, err = n.api.CorecontractsApi.AccountsGetAccountBalance(ctx, c.id.String(), agent.String()).Execute()
		return callError(resp, err)
	})
	if err != nil {
		return 0, fmt.Errorf("balance of %s: %w", agent, err)
	}
	if assets == nil {
		return 0, fmt.Errorf("balance of %s: empty answer", agent)
	}
	bal, err := iotago.DecodeUint64(assets.BaseTokens)
	if err != nil {
		return 0, fmt.Errorf("balance of %s: base tokens %q: %w", agent, assets.BaseTokens, err)
	}
	return bal, nil
}
