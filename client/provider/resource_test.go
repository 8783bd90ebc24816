package provider_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/store"
)

// TestAcceptRefusesLongResource: a payment naming a resource longer than
// store.MaxResourceLen is refused as malformed, saying why, and nothing is
// stored; one at the limit is accepted.
func TestAcceptRefusesLongResource(t *testing.T) {
	h := newHarness(t)
	_, err := h.p.Accept(h.ctx, provider.Payment{Payer: h.payer, Payment: h.sign(1, 1, 1_000), Price: 1_000, Resource: strings.Repeat("r", store.MaxResourceLen+1)})
	rej, ok := provider.IsRejection(err)
	require.True(t, ok, "got %v, want a rejection", err)
	require.Equal(t, provider.ReasonMalformed, rej.Reason)
	require.ErrorIs(t, err, store.ErrResourceTooLong)
	_, stored := h.newest()
	require.False(t, stored, "a refused payment was stored")

	acc, err := h.p.Accept(h.ctx, provider.Payment{Payer: h.payer, Payment: h.sign(1, 1, 1_000), Price: 1_000, Resource: strings.Repeat("r", store.MaxResourceLen)})
	require.NoError(t, err)
	require.Len(t, acc.Receipt.Resource, store.MaxResourceLen)
}
