package main

import (
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/micropay/micropay/client/consumer"
)

func (a *app) getCommand() *cobra.Command {
	var maxPrice, maxTotal, output string
	var allowPriceChange bool
	cmd := &cobra.Command{
		Use:     "get URL",
		Short:   "Fetch a paywalled resource, paying 402 answers within your caps (like curl)",
		GroupID: "consumer",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			price, err := parseAmount("--max-price", maxPrice)
			if err != nil {
				return err
			}
			total, err := parseAmount("--max-total", maxTotal)
			if err != nil {
				return err
			}
			c, done, err := a.consumer(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			tr, err := consumer.NewTransport(c.Payer, consumer.TransportOptions{MaxPrice: price, MaxTotal: total, AllowPriceChange: allowPriceChange})
			if err != nil {
				return usageErrorf("%v", err)
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, args[0], nil)
			if err != nil {
				return usageErrorf("URL %q: %v", args[0], err)
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode >= 300 {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
				return fmt.Errorf("%s answered %s: %s", args[0], resp.Status, body)
			}
			var w io.Writer = os.Stdout
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			n, err := io.Copy(w, resp.Body)
			if err != nil {
				return fmt.Errorf("read %s: %w", args[0], err)
			}
			if a.json && output == "" {
				return nil // the body is the output
			}
			if a.json {
				a.printJSON(os.Stdout, map[string]any{"url": args[0], "bytes": n, "paid": tr.Spent(), "file": output})
			} else {
				fmt.Fprintf(os.Stderr, "paid %s for %s (%d bytes)\n", tokens(tr.Spent()), args[0], n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&maxPrice, "max-price", "10_000", "most you pay for one piece, in base tokens")
	cmd.Flags().StringVar(&maxTotal, "max-total", "100_000", "most you pay in this run, in base tokens")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the body to this file instead of stdout")
	cmd.Flags().BoolVar(&allowPriceChange, "allow-price-change", false, "keep paying if the provider changes its price (within --max-price)")
	return cmd
}
