package waspchain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
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
	// ChainID is the chain's ID in bech32. Empty: the node's only chain,
	// read from GET /v1/chains (an admin route on a real node: see Token).
	ChainID string
	// HTTPClient makes the calls; nil means http.DefaultClient. A Timeout on
	// it must exceed the node's wait for a receipt (30 s on a real node).
	HTTPClient *http.Client
	// Token, if set, is sent as "Authorization: Bearer <Token>" with every
	// call, for a node whose admin routes require JWT authentication.
	Token string
	// ReceiptTimeout bounds how long Post waits for the receipt of a request
	// the node accepted; 0 means DefaultReceiptTimeout.
	ReceiptTimeout time.Duration
}

// Chain is a chain.Chain on a Wasp node. It is safe for concurrent use.
type Chain struct {
	api     *apiclient.APIClient
	views   *chainclient.Client
	id      isc.ChainID
	timeout time.Duration

	mu      sync.Mutex
	signers map[string]*signer // by public key; never shrinks
}

var _ chain.Chain = (*Chain)(nil)

// New connects to the node at cfg.URL and checks that it runs the chain.
func New(ctx context.Context, cfg Config) (*Chain, error) {
	if _, err := apiextensions.ValidateAbsoluteURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("waspchain: %w", err)
	}
	conf := apiclient.NewConfiguration()
	conf.Servers[0].URL = strings.TrimSuffix(cfg.URL, "/")
	conf.HTTPClient = cfg.HTTPClient
	conf.UserAgent = "micropay-waspchain"
	if cfg.Token != "" {
		conf.AddDefaultHeader("Authorization", "Bearer "+cfg.Token)
	}
	api := apiclient.NewAPIClient(conf)
	if err := ensureL1(ctx, api); err != nil {
		return nil, fmt.Errorf("waspchain: %w", err)
	}
	c := &Chain{api: api, timeout: cfg.ReceiptTimeout, signers: map[string]*signer{}}
	if c.timeout <= 0 {
		c.timeout = DefaultReceiptTimeout
	}
	var err error
	if cfg.ChainID == "" {
		c.id, err = onlyChain(ctx, api)
	} else {
		c.id, err = isc.ChainIDFromString(cfg.ChainID)
		if err == nil {
			err = checkChain(ctx, api, c.id)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("waspchain: %s: %w", cfg.URL, err)
	}
	c.views = chainclient.New(nil, api, c.id, nil)
	return c, nil
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
	ret, err := c.callView(ctx, contract.ViewGetWarrantInfo.Name, chain.WarrantInfoParams(payer, provider))
	if err != nil {
		return chain.WarrantInfo{}, err
	}
	return chain.DecodeWarrantInfo(ret)
}

// PublicKey calls getPublicKey; nil when payer registered no key.
func (c *Chain) PublicKey(ctx context.Context, payer isc.AgentID) ([]byte, error) {
	ret, err := c.callView(ctx, contract.ViewGetPublicKey.Name, dict.Dict{
		contract.ParamPayer: codec.EncodeAgentID(payer),
	})
	if err != nil {
		return nil, err
	}
	return ret[contract.ParamPublicKey], nil
}

func (c *Chain) callView(ctx context.Context, view string, args dict.Dict) (dict.Dict, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ret, err := c.views.CallView(ctx, contract.Contract.Hname(), view, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", view, callError(nil, err))
	}
	return ret, nil
}

// Now returns the timestamp of the chain's latest block: on an idle chain
// it lags behind the time the next request would run at (see the package
// documentation).
func (c *Chain) Now(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	info, resp, err := c.api.CorecontractsApi.BlocklogGetLatestBlockInfo(ctx, c.id.String()).Execute()
	if err != nil {
		return time.Time{}, fmt.Errorf("latest block: %w", callError(resp, err))
	}
	if info == nil || info.Timestamp.IsZero() {
		return time.Time{}, errors.New("latest block: the node sent no timestamp")
	}
	return info.Timestamp, nil
}

// L2Balance returns the base tokens of an L2 account.
func (c *Chain) L2Balance(ctx context.Context, agent isc.AgentID) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	assets, resp, err := c.api.CorecontractsApi.AccountsGetAccountBalance(ctx, c.id.String(), agent.String()).Execute()
	if err != nil {
		return 0, fmt.Errorf("balance of %s: %w", agent, callError(resp, err))
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
