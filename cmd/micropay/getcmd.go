package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/waspchain"
)

// getFlags are the flags of `micropay get`.
type getFlags struct {
	maxPrice, maxTotal, output string
	allowPriceChange, repin    bool
}

func (a *app) getCommand() *cobra.Command {
	var f getFlags
	cmd := &cobra.Command{
		Use:   "get URL",
		Short: "Fetch a paywalled resource, paying 402 answers within your caps (like curl)",
		Long: `Fetch URL, paying a 402 answer with a micropay payment within --max-price and --max-total.

The first payment to an origin (scheme://host[:port]) pins it to the provider it paid, in
HOME/known_providers, like SSH's known_hosts. Afterwards get refuses, signing nothing, a 402 from
that origin naming another provider, and a 402 from another origin naming that provider (a site
relaying the provider's 402 would get what you pay for). --repin accepts URL's origin for the
provider its 402 names, once you have checked that the change is genuine. Your agent ID
(MICROPAY-PAYER) is sent only to pinned origins.

The price paid is pinned too: a later run that meets another price refuses it, signing nothing,
unless --allow-price-change accepts (and pins) the new one. With the provider and the price
pinned, get pays on its first request: one round trip per piece. A paid request that fails in
transit is sent once more with the same payment, which the provider charges at most once; a
piece the provider fails to serve after storing the payment is credited, not charged.`,
		GroupID: "consumer",
		// Checked before the node is asked (cobra checks Args first).
		Args: func(cmd *cobra.Command, args []string) error {
			if err := exactArgs(1)(cmd, args); err != nil {
				return err
			}
			_, err := httpURL("URL", args[0])
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.get(cmd, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.maxPrice, "max-price", "10_000", "most you pay for one piece, in base tokens")
	cmd.Flags().StringVar(&f.maxTotal, "max-total", "100_000", "most you pay in this run, in base tokens")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "write the body to this file instead of stdout")
	cmd.Flags().BoolVar(&f.allowPriceChange, "allow-price-change", false, "pay a price other than the one pinned for the origin (within --max-price), and pin it")
	cmd.Flags().BoolVar(&f.repin, "repin", false, "pin URL's origin to the provider its 402 names, replacing or adding to the pins in HOME/known_providers")
	return cmd
}

// get runs `micropay get`.
func (a *app) get(cmd *cobra.Command, rawURL string, f getFlags) error {
	price, err := parseAmount("--max-price", f.maxPrice)
	if err != nil {
		return err
	}
	total, err := parseAmount("--max-total", f.maxTotal)
	if err != nil {
		return err
	}
	u, err := httpURL("URL", rawURL)
	if err != nil {
		return err
	}
	var credited, retried bool
	opts := consumer.TransportOptions{MaxPrice: price, MaxTotal: total, AllowPriceChange: f.allowPriceChange,
		Observe: func(e consumer.Event) {
			credited = credited || e.Kind == consumer.EventCredited
			retried = retried || e.Kind == consumer.EventRetried
			if !a.json {
				fmt.Fprintln(os.Stderr, "micropay: "+e.String())
			}
		}}
	if f.repin {
		opts.RepinOrigin = consumer.Origin(u)
	}
	c, done, err := a.consumer(cmd.Context())
	if err != nil {
		return err
	}
	defer done()
	// Read the pins only now: the payer state's lock keeps another
	// micropay on this home from rewriting them until done.
	if opts.Pins, err = a.openPins(); err != nil {
		return err
	}
	tr, err := consumer.NewTransport(c.Payer, opts)
	if err != nil {
		return usageErrorf("%v", err)
	}
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		return usageErrorf("URL %q: %v", rawURL, err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return getHint(err, rawURL)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		err := fmt.Errorf("%s answered %s: %s", rawURL, resp.Status, body)
		if credited {
			return withHint(err, exitFailure, "the piece was credited, not charged: the provider takes it off your next payment")
		}
		return err
	}
	n, err := writeBody(resp.Body, f.output)
	if err != nil {
		return fmt.Errorf("read %s: %w", rawURL, err)
	}
	switch {
	case a.json && f.output == "":
		// the body is the output
	case a.json:
		a.printJSON(os.Stdout, map[string]any{"url": rawURL, "bytes": n, "paid": tr.Spent(), "file": f.output, "retried": retried})
	default:
		fmt.Fprintf(os.Stderr, "paid %s for %s (%d bytes)\n", tokens(tr.Spent()), rawURL, n)
	}
	return nil
}

// getHint adds what to do to an error of get's request to rawURL.
func getHint(err error, rawURL string) error {
	var changed *consumer.TermsChangedError
	switch {
	case errors.Is(err, consumer.ErrOutcomeUnknown):
		return withHint(err, exitUnreachable, "the provider may have accepted the payment (get sent it twice, the same payment, charged at most once). "+
			"A retry is free: run get again; it first asks the provider what it holds and what it credits, and pays nothing twice")
	case errors.As(err, &changed):
		return withHint(err, exitRefused, "nothing was paid; if you accept the new price, run get again with --allow-price-change (it pins the new price)")
	case errors.Is(err, consumer.ErrCapExceeded), errors.Is(err, consumer.ErrNoWarrant), errors.Is(err, consumer.ErrRejected),
		errors.Is(err, consumer.ErrPinMismatch), errors.Is(err, consumer.ErrStateMismatch), errors.Is(err, consumer.ErrNoOffer):
		return err
	case errors.Is(err, waspchain.ErrUnreachable):
		return withHint(err, exitUnreachable, "the node did not answer: is it running? (`micropay devnet` starts a local one; --node sets its URL)")
	case isNetError(err), errors.Is(err, context.DeadlineExceeded):
		return withHint(err, exitUnreachable, fmt.Sprintf("the provider at %s did not answer: is it running, and is the URL right? Nothing was paid for this request", rawURL))
	}
	return err
}

// writeBody copies body to the file output, or to stdout when output is
// empty, and returns how many bytes it wrote.
func writeBody(body io.Reader, output string) (int64, error) {
	if output == "" {
		return io.Copy(os.Stdout, body)
	}
	f, err := os.Create(output)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
