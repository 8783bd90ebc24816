package store_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/micropay/micropay/client/store"
	"github.com/micropay/micropay/contract/payment"
)

// A provider records each accepted payment, then exports the receipts for
// billing. A replayed payment is refused.
func Example() {
	ctx := context.Background()
	s := store.NewMemory() // store.Open(dir) for the durable store
	defer s.Close()

	w := store.WarrantID{Payer: "\x01\xaa", Provider: "\x01\xbb"}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for ordinal := uint64(1); ordinal <= 2; ordinal++ {
		r := store.Receipt{
			Warrant:    w,
			Payment:    payment.Payment{Epoch: 1, Ordinal: ordinal, Total: 100 * ordinal},
			Price:      100,
			Resource:   fmt.Sprintf("/weather/%d", ordinal),
			AcceptedAt: at.Add(time.Duration(ordinal) * time.Second),
		}
		if err := s.Append(ctx, r); err != nil {
			fmt.Println(err)
			return
		}
	}
	replay := store.Receipt{Warrant: w, Payment: payment.Payment{Epoch: 1, Ordinal: 2, Total: 200}}
	fmt.Println(s.Append(ctx, replay) != nil)

	newest, _, _ := s.Newest(ctx, w)
	fmt.Println("settle:", newest.Payment)
	if err := store.WriteCSV(ctx, s, store.ReceiptFilter{}, os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// true
	// settle: payment{epoch 1, ordinal 2, total 200}
	// payer,provider,epoch,ordinal,total,price,resource,accepted_at,signature,outcome,sold
	// 01aa,01bb,1,1,100,100,/weather/1,2025-01-02T03:04:06.000000000Z,00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000,served,100
	// 01aa,01bb,1,2,200,100,/weather/2,2025-01-02T03:04:07.000000000Z,00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000,served,100
}

// WriteJSONL writes one object per receipt, for billing systems that read
// JSON Lines.
func ExampleWriteJSONL() {
	ctx := context.Background()
	s := store.NewMemory()
	defer s.Close()
	r := store.Receipt{
		Warrant:    store.WarrantID{Payer: "\x01\xaa", Provider: "\x01\xbb"},
		Payment:    payment.Payment{Epoch: 3, Ordinal: 7, Total: 700},
		Price:      100,
		Resource:   "/weather?city=Zürich&days=3",
		AcceptedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
	}
	if err := s.Append(ctx, r); err != nil {
		fmt.Println(err)
		return
	}
	if err := store.WriteJSONL(ctx, s, store.ReceiptFilter{}, os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"payer":"01aa","provider":"01bb","epoch":3,"ordinal":7,"total":700,"price":100,"resource":"/weather?city=Zürich&days=3","accepted_at":"2025-01-02T03:04:05.000000006Z","signature":"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000","outcome":"served","sold":100}
}
