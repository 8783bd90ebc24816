package waspchain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// ErrUnreachable wraps the error of a call that no node answered: none
// could be reached, or each dropped the call before answering.
var ErrUnreachable = errors.New("waspchain: node unreachable")

// ErrUnauthorized is matched (errors.Is) by an *APIError with status 401:
// the node requires a JWT (Config.Token) and got none, or a bad one.
var ErrUnauthorized = errors.New("waspchain: the node requires a valid token (JWT)")

// Is makes a 401 answer match ErrUnauthorized.
func (e *APIError) Is(target error) bool {
	return target == ErrUnauthorized && e.StatusCode == http.StatusUnauthorized
}

// each runs f against the node calls go to first and, while a node gives
// no answer (see noAnswer), against the next ones, each once. The node that
// answered, even with an error, is the one calls go to first from then on.
// f must return errors passed through callError.
func (c *Chain) each(ctx context.Context, f func(n *node) error) error {
	start := int(c.cur.Load())
	errs := make([]error, 0, len(c.nodes))
	for i := range c.nodes {
		k := (start + i) % len(c.nodes)
		err := f(c.nodes[k])
		if ctx.Err() != nil && err != nil {
			return err
		}
		if !noAnswer(err) {
			c.cur.Store(int32(k))
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.nodes[k].url, err))
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
}

// noAnswer reports whether err says the node did not answer: the HTTP
// exchange failed (no connection, connection dropped, client timeout), as
// opposed to an answer with an error status or a body that did not decode.
func noAnswer(err error) bool {
	var ue *url.Error
	return err != nil && errors.As(err, &ue)
}

// next moves calls on from n, which gave no answer, to the node after it,
// unless another call already moved them.
func (c *Chain) next(n *node) {
	for k, m := range c.nodes {
		if m == n {
			c.cur.CompareAndSwap(int32(k), int32((k+1)%len(c.nodes)))
			return
		}
	}
}
