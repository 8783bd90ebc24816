package provider_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotaledger/wasp/packages/cryptolib"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/client/solochain"
	"github.com/micropay/micropay/client/store"
)

// TestNewRefusesUnsafeSettings: a poll interval or a cache age at or above
// the settlement margin can let a revocation go unseen until the deadline
// minus the margin has passed, so payments would be acknowledged that can
// no longer be settled. New refuses such settings, naming the fields.
func TestNewRefusesUnsafeSettings(t *testing.T) {
	e, err := solochain.New(solochain.Options{Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	const margin = 10 * time.Minute
	cases := []struct {
		name  string
		set   func(*provider.Config)
		field string // "" for a safe configuration
	}{
		{"defaults", func(*provider.Config) {}, ""},
		{"just below", func(c *provider.Config) { c.PollInterval, c.InfoMaxAge = margin-time.Second, margin-time.Second }, ""},
		{"poll at margin", func(c *provider.Config) { c.PollInterval = margin }, "PollInterval"},
		{"poll above margin", func(c *provider.Config) { c.PollInterval = time.Hour }, "PollInterval"},
		{"cache age at margin", func(c *provider.Config) { c.InfoMaxAge = margin }, "InfoMaxAge"},
		{"cache age above margin", func(c *provider.Config) { c.PollInterval, c.InfoMaxAge = time.Minute, time.Hour }, "InfoMaxAge"},
		{"margin below the default poll", func(c *provider.Config) { c.Margin = 20 * time.Second }, "PollInterval"},
		{"negative margin", func(c *provider.Config) { c.Margin = -time.Minute }, "Margin"},
		{"negative poll", func(c *provider.Config) { c.PollInterval = -time.Second }, "PollInterval"},
		{"retry bounds reversed", func(c *provider.Config) { c.RetryMin, c.RetryMax = time.Minute, time.Second }, "RetryMin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := provider.Config{Chain: e, Key: cryptolib.NewKeyPair(), Store: store.NewMemory(), Margin: margin}
			c.set(&cfg)
			_, err := provider.New(context.Background(), cfg)
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, provider.ErrUnsafeSettings)
			require.ErrorContains(t, err, c.field)
		})
	}
}
