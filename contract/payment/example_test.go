package payment_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/micropay/micropay/contract/payment"
)

// The payer signs cumulative payments and sends their 85-byte wire form; the
// provider decodes them and the contract settles them against the warrant's
// ledger. Here the balance does not cover the newest payment, so the rest is
// reported as shortfall, claimable after a top-up.
func Example() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	w := payment.Warrant{
		Contract: 0x6d696370,
		Payer:    append([]byte{0x01, 0x00}, bytes.Repeat([]byte{0xaa}, 32)...),
		Provider: append([]byte{0x01, 0x00}, bytes.Repeat([]byte{0xbb}, 32)...),
	}

	// Payer: three pieces bought, 100 each, in epoch 1 of the warrant.
	var wire [][]byte
	for ordinal := uint64(1); ordinal <= 3; ordinal++ {
		p := payment.Sign(key, w, 1, ordinal, 100*ordinal)
		wire = append(wire, p.Bytes())
	}
	fmt.Println(len(wire[2]), "bytes on the wire")

	// Provider: decode what arrived.
	var batch []payment.Payment
	for _, b := range wire {
		p, err := payment.Decode(b)
		if err != nil {
			fmt.Println(err)
			return
		}
		batch = append(batch, p)
	}
	fmt.Println(batch[2])

	// Contract: ordinal 1 is already settled, 150 is left in the warrant.
	ledger := payment.Ledger{Epoch: 1, LastOrdinal: 1, Paid: 100, Balance: 150}
	sig := payment.Signed{Warrant: w, PublicKey: key.Public().(ed25519.PublicKey)}
	out, err := payment.Settle(ledger, batch, sig)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, it := range out.Items {
		fmt.Printf("payment %d: skipped %t, paid %d, shortfall %d\n", i+1, it.Skipped, it.Paid, it.Shortfall)
	}
	fmt.Printf("paid %d, shortfall %d\n", out.Paid, out.Shortfall)
	fmt.Printf("ledger after: %+v\n", out.After)

	// A forged total fails the whole batch, naming the payment and the rule.
	batch[2].Total = 1000
	_, err = payment.Settle(ledger, batch, sig)
	fmt.Println(err)

	// Output:
	// 85 bytes on the wire
	// payment{epoch 1, ordinal 3, total 300}
	// payment 1: skipped true, paid 0, shortfall 0
	// payment 2: skipped false, paid 100, shortfall 0
	// payment 3: skipped false, paid 50, shortfall 50
	// paid 150, shortfall 50
	// ledger after: {Epoch:1 LastOrdinal:3 Paid:250 Balance:0}
	// payment 3 (ordinal 3): signature is not the payer's over this payment
}

// A provider checks each payment before serving the piece it pays for.
func ExampleAccept() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	w := payment.Warrant{Contract: 0x6d696370, Payer: []byte{0x01, 0xaa}, Provider: []byte{0x01, 0xbb}}
	sig := payment.Signed{Warrant: w, PublicKey: key.Public().(ed25519.PublicKey)}
	in := payment.Intake{Epoch: 1, LastOrdinal: 4, LastTotal: 400, Settled: 100, Balance: 1000, Price: 100}

	increment, err := payment.Accept(in, payment.Sign(key, w, 1, 5, 500), sig)
	fmt.Println(increment, err)

	_, err = payment.Accept(in, payment.Sign(key, w, 1, 5, 450), sig)
	fmt.Println(err)

	// Output:
	// 100 <nil>
	// payment (ordinal 5): increment 50 does not cover the price 100
}
