package solochain

import (
	"context"
	"fmt"

	"github.com/iotaledger/wasp/packages/kv/dict"
	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/contract"
)

var _ chain.ViewCaller = (*Embedded)(nil)

// CallView calls a view of the micropay contract.
func (e *Embedded) CallView(ctx context.Context, view string, params dict.Dict) (dict.Dict, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ret dict.Dict
	var viewErr error
	if err := Do(func() { ret, viewErr = e.Chain.CallView(contract.Contract.Name, view, params) }); err != nil {
		return nil, fmt.Errorf("%s: %w", view, err)
	}
	if viewErr != nil {
		return nil, fmt.Errorf("%s: %w", view, viewErr)
	}
	return ret, nil
}
