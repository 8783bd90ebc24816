package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
	"github.com/micropay/micropay/client/solochain"
)

// A consumer pays a paywalled HTTP service automatically: the Transport
// answers each 402 with a signed payment, within a per-piece and a total
// cap.
func ExampleTransport() {
	ctx := context.Background()
	// The chain: here an embedded one, with the consumer's account funded.
	c, err := solochain.New(solochain.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	dir, err := os.MkdirTemp("", "micropay-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The consumer's key, in a file of its own, and its payer state.
	key, err := consumer.CreateKeyFile(filepath.Join(dir, "consumer.key"))
	if err != nil {
		log.Fatal(err)
	}
	states, err := consumer.OpenPayerState(filepath.Join(dir, "payer"))
	if err != nil {
		log.Fatal(err)
	}
	defer states.Close()
	me := &consumer.Consumer{Chain: c, Key: key, Payer: consumer.NewPayer(c, key, states)}
	if err := c.Fund(ctx, me.Agent(), 5_000_000); err != nil {
		log.Fatal(err)
	}

	// A provider selling articles at 1,000 base tokens each (a stand-in
	// for client/provider's paywall).
	providerKey := keyFor("example provider")
	shop := httptest.NewServer(newTestProvider(c, providerKey, 1_000))
	defer shop.Close()

	// Lock funds for the provider, then read through the paying client.
	if _, err := me.AddWarrant(ctx, chain.AgentOf(providerKey), 1_000_000, 0); err != nil {
		log.Fatal(err)
	}
	tr, err := consumer.NewTransport(me.Payer, consumer.TransportOptions{MaxPrice: 1_000, MaxTotal: 2_000})
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	for _, article := range []string{"/a", "/b", "/c"} {
		resp, err := client.Get(shop.URL + article)
		if errors.Is(err, consumer.ErrCapExceeded) {
			fmt.Println(article, "not bought: total cap reached")
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(article, resp.Status, string(body))
	}
	fmt.Println("spent", tr.Spent())
	// Output:
	// /a 200 OK piece 1
	// /b 200 OK piece 2
	// /c not bought: total cap reached
	// spent 2000
}
