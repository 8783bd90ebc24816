package provider

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnsafeSettings is New's error for a Config under which the provider
// could acknowledge payments it can no longer settle; the error names the
// fields and why.
var ErrUnsafeSettings = errors.New("provider: unsafe settings")

// validate refuses settings that break the settlement margin's promise. A
// revocation is seen at the latest PollInterval after it lands (the
// settler's poll) and a payment is checked against warrant state up to
// InfoMaxAge old: if either is at or above Margin, a revoked warrant can be
// served, or left unsettled, until less than nothing is left of the margin,
// and the chain then refuses the settlement. Called after defaults are
// filled in.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrUnsafeSettings}, args...)...))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Margin", c.Margin}, {"PollInterval", c.PollInterval}, {"InfoMaxAge", c.InfoMaxAge}, {"RetryMin", c.RetryMin}, {"RetryMax", c.RetryMax}} {
		if d.v < 0 {
			bad("%s %s is negative", d.name, d.v)
		}
	}
	if c.PollInterval >= c.Margin {
		bad("PollInterval %s is not below Margin %s: a revocation could be noticed after deadline - margin, too late to settle; poll more often or raise the margin", c.PollInterval, c.Margin)
	}
	if c.InfoMaxAge >= c.Margin {
		bad("InfoMaxAge %s is not below Margin %s: a payment could be accepted on cached state that misses a revocation until it is too late to settle; shorten the cache age or raise the margin", c.InfoMaxAge, c.Margin)
	}
	if c.RetryMin > c.RetryMax {
		bad("RetryMin %s is above RetryMax %s", c.RetryMin, c.RetryMax)
	}
	return errors.Join(errs...)
}
