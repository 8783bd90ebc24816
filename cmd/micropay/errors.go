package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/provider"
)

// Exit codes. Each kind of failure has its own, so scripts can react.
const (
	exitOK          = 0
	exitFailure     = 1 // anything not listed below
	exitUsage       = 2 // bad flags, arguments or config
	exitUnreachable = 3 // the node or provider did not answer, or the outcome is unknown
	exitRejected    = 4 // the contract rejected the request (nothing moved but gas)
	exitRefused     = 5 // a provider refused a payment, or a spending cap or pinned terms stopped it
	exitNotFound    = 6 // no such warrant, key file or payer
	exitKey         = 7 // the key file is unsafe or malformed
)

// usageError is a mistake in how micropay was called.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// hinted adds what to do about an error.
type hinted struct {
	err  error
	hint string
	code int
}

func (h *hinted) Error() string { return h.err.Error() + "\n  " + h.hint }
func (h *hinted) Unwrap() error { return h.err }

func withHint(err error, code int, hint string) error {
	return &hinted{err: err, hint: hint, code: code}
}

// classify maps an error to its exit code and message.
func classify(err error) (int, string) {
	var h *hinted
	if errors.As(err, &h) {
		return h.code, err.Error()
	}
	var u *usageError
	switch {
	case errors.As(err, &u), strings.HasPrefix(err.Error(), "unknown command"):
		return exitUsage, err.Error() + "\n  see `micropay --help`"
	case errors.Is(err, consumer.ErrKeyFilePermissions), errors.Is(err, consumer.ErrKeyFileMalformed):
		return exitKey, err.Error()
	case errors.Is(err, os.ErrNotExist):
		return exitNotFound, err.Error()
	case chain.IsRejected(err):
		return exitRejected, err.Error()
	case errors.Is(err, consumer.ErrNoWarrant):
		return exitNotFound, err.Error() + "\n  open one with `micropay warrant add PROVIDER AMOUNT`"
	case errors.Is(err, consumer.ErrCapExceeded):
		return exitRefused, err.Error() + "\n  raise --max-price / --max-total if you mean to pay more"
	case errors.Is(err, consumer.ErrTermsChanged), errors.Is(err, consumer.ErrRejected), errors.Is(err, consumer.ErrNoOffer),
		errors.Is(err, consumer.ErrPinMismatch), errors.Is(err, consumer.ErrStateMismatch):
		return exitRefused, err.Error()
	case isRejection(err):
		return exitRefused, err.Error()
	case errors.Is(err, chain.ErrUnknownOutcome):
		return exitUnreachable, err.Error() + "\n  the request may have landed: check with `micropay warrant info` before sending it again"
	case errors.Is(err, context.DeadlineExceeded), isNetError(err):
		return exitUnreachable, err.Error() + "\n  is the node running? (`micropay devnet` starts a local one; --node sets its URL)"
	}
	return exitFailure, err.Error()
}

func isRejection(err error) bool {
	_, ok := provider.IsRejection(err)
	return ok
}

// exactArgs, noArgs and maxArgs are cobra's argument checks with usage
// errors, so a wrong call exits with exitUsage.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %d argument(s), got %d: %s", cmd.CommandPath(), n, len(args), cmd.UseLine())
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error { return exactArgs(0)(cmd, args) }

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageErrorf("%s takes at most %d argument(s), got %d: %s", cmd.CommandPath(), n, len(args), cmd.UseLine())
		}
		return nil
	}
}
