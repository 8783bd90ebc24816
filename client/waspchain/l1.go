package waspchain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	iotago "github.com/iotaledger/iota.go/v3"
	"github.com/iotaledger/iota.go/v3/nodeclient"
	"github.com/iotaledger/wasp/clients/apiclient"
	"github.com/iotaledger/wasp/packages/parameters"
)

// l1Mu serializes ensureL1: wasp keeps the L1 parameters (the bech32
// prefix among them, needed to print or parse any address or chain ID) in a
// process-wide variable that InitL1 sets without a lock.
var l1Mu sync.Mutex

// ensureL1 gives wasp the L1 parameters unless the process already has
// some (set by the program, by an in-process Solo chain, or by wasp's own
// default inside `go test`): from the L1 node at cfg.L1URL if set, else from
// the Wasp node's GET /v1/node/info.
func ensureL1(ctx context.Context, api *apiclient.APIClient, cfg Config) error {
	l1Mu.Lock()
	defer l1Mu.Unlock()
	if haveL1() {
		return nil
	}
	var p *parameters.L1Params
	var err error
	if cfg.L1URL != "" {
		p, err = l1FromL1Node(ctx, cfg)
	} else {
		p, err = l1FromWasp(ctx, api)
	}
	if err != nil {
		return err
	}
	parameters.InitL1(p)
	return nil
}

// l1FromL1Node reads the L1 parameters from an L1 node's public info route,
// as wasp's own l1connection does.
func l1FromL1Node(ctx context.Context, cfg Config) (*parameters.L1Params, error) {
	opts := []nodeclient.ClientOption{}
	if cfg.HTTPClient != nil {
		opts = append(opts, nodeclient.WithHTTPClient(cfg.HTTPClient))
	}
	info, err := nodeclient.New(strings.TrimSuffix(cfg.L1URL, "/"), opts...).Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the L1 parameters from the L1 node (GET %s%s): %w", cfg.L1URL, nodeclient.RouteInfo, err)
	}
	if info.BaseToken == nil || info.Protocol.Bech32HRP == "" {
		return nil, fmt.Errorf("the L1 node at %s sent no base token or bech32 prefix", cfg.L1URL)
	}
	return &parameters.L1Params{
		MaxPayloadSize: parameters.MaxPayloadSize,
		Protocol:       &info.Protocol,
		BaseToken:      (*parameters.BaseToken)(info.BaseToken),
	}, nil
}

func l1FromWasp(ctx context.Context, api *apiclient.APIClient) (*parameters.L1Params, error) {
	info, resp, err := api.NodeApi.GetInfo(ctx).Execute()
	if err != nil {
		err = callError(resp, err)
		if errors.Is(err, ErrUnauthorized) {
			return nil, fmt.Errorf("read the node's L1 parameters: GET /v1/node/info is an admin route: set a token, "+
				"or the L1 node's URL, whose info route needs none: %w: %w", ErrUnauthorized, err)
		}
		return nil, fmt.Errorf("read the node's L1 parameters (GET /v1/node/info): %w", err)
	}
	if info == nil {
		return nil, errors.New("read the node's L1 parameters: empty answer")
	}
	p, err := l1ParamsFromAPI(&info.L1Params)
	if err != nil {
		return nil, fmt.Errorf("the node's L1 parameters: %w", err)
	}
	return p, nil
}

func haveL1() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false // wasp panics "call InitL1() first"
		}
	}()
	return parameters.L1() != nil
}

// l1ParamsFromAPI converts the L1 parameters of GET /v1/node/info.
func l1ParamsFromAPI(a *apiclient.L1Params) (*parameters.L1Params, error) {
	pp := a.Protocol
	if pp.Bech32Hrp == "" {
		return nil, errors.New("no bech32 prefix")
	}
	if pp.Version < 0 || pp.Version > math.MaxUint8 ||
		pp.BelowMaxDepth > math.MaxUint8 ||
		pp.RentStructure.VByteFactorData < 0 || pp.RentStructure.VByteFactorData > math.MaxUint8 ||
		pp.RentStructure.VByteFactorKey < 0 || pp.RentStructure.VByteFactorKey > math.MaxUint8 ||
		a.MaxPayloadSize < 0 || a.BaseToken.Decimals < 0 {
		return nil, fmt.Errorf("a value is out of range: %+v", *a)
	}
	supply, err := iotago.DecodeUint64(pp.TokenSupply)
	if err != nil {
		return nil, fmt.Errorf("tokenSupply %q: %w", pp.TokenSupply, err)
	}
	return &parameters.L1Params{
		MaxPayloadSize: int(a.MaxPayloadSize),
		Protocol: &iotago.ProtocolParameters{
			Version:       byte(pp.Version),
			NetworkName:   pp.NetworkName,
			Bech32HRP:     iotago.NetworkPrefix(pp.Bech32Hrp),
			MinPoWScore:   pp.MinPowScore,
			BelowMaxDepth: uint8(pp.BelowMaxDepth),
			RentStructure: iotago.RentStructure{
				VByteCost:    pp.RentStructure.VByteCost,
				VBFactorData: iotago.VByteCostFactor(pp.RentStructure.VByteFactorData),
				VBFactorKey:  iotago.VByteCostFactor(pp.RentStructure.VByteFactorKey),
			},
			TokenSupply: supply,
		},
		BaseToken: &parameters.BaseToken{
			Name:            a.BaseToken.Name,
			TickerSymbol:    a.BaseToken.TickerSymbol,
			Unit:            a.BaseToken.Unit,
			Subunit:         a.BaseToken.Subunit,
			Decimals:        uint32(a.BaseToken.Decimals),
			UseMetricPrefix: a.BaseToken.UseMetricPrefix,
		},
	}, nil
}
