package payment_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/contract/payment"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized tests; 0 picks one from the clock")

// newRand returns a seeded generator and logs the seed, so a failure can be
// replayed with -seed.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// badSig returns p with one bit of its signature flipped.
func badSig(p payment.Payment) payment.Payment {
	p.Signature[0] ^= 1
	return p
}

// requireRule checks that err is exactly the rule error want, with the message
// msg, and that it is one callers can match with errors.Is and errors.As.
func requireRule(t *testing.T, err error, want *payment.RuleError, msg string) {
	t.Helper()
	require.ErrorIs(t, err, payment.ErrRule)
	var re *payment.RuleError
	require.ErrorAs(t, err, &re)
	require.Equal(t, want, re)
	require.EqualError(t, err, msg)
}

const maxU64 = math.MaxUint64

func TestSettleRejects(t *testing.T) {
	// Ledger of epoch 3 with ordinals up to 5 settled and 300 paid.
	ledger := payment.Ledger{Epoch: 3, LastOrdinal: 5, Paid: 300, Balance: 10_000}
	w := testWarrant()
	otherProvider := w
	otherProvider.Provider = agentID(0xc1)

	cases := []struct {
		name  string
		batch []payment.Payment
		err   *payment.RuleError
		msg   string
	}{
		{
			name:  "wrong epoch",
			batch: []payment.Payment{signed(3, 6, 600), signed(4, 7, 700)},
			err:   &payment.RuleError{Reason: payment.ReasonWrongEpoch, Index: 2, Ordinal: 7, Got: 4, Want: 3},
			msg:   "payment 2 (ordinal 7): epoch 4 is not the warrant's current epoch 3",
		},
		{
			name:  "older epoch",
			batch: []payment.Payment{signed(2, 6, 600)},
			err:   &payment.RuleError{Reason: payment.ReasonWrongEpoch, Index: 1, Ordinal: 6, Got: 2, Want: 3},
			msg:   "payment 1 (ordinal 6): epoch 2 is not the warrant's current epoch 3",
		},
		{
			// The epoch is checked before the stale skip: an ordinal only
			// means something within its own epoch.
			name:  "wrong epoch on a stale ordinal",
			batch: []payment.Payment{signed(2, 4, 200)},
			err:   &payment.RuleError{Reason: payment.ReasonWrongEpoch, Index: 1, Ordinal: 4, Got: 2, Want: 3},
			msg:   "payment 1 (ordinal 4): epoch 2 is not the warrant's current epoch 3",
		},
		{
			name:  "repeated ordinal",
			batch: []payment.Payment{signed(3, 7, 600), signed(3, 7, 700)},
			err:   &payment.RuleError{Reason: payment.ReasonNotIncreasing, Index: 2, Ordinal: 7, Got: 7, Want: 7},
			msg:   "payment 2 (ordinal 7): ordinal 7 is not above 7",
		},
		{
			name:  "decreasing ordinal above the settled one",
			batch: []payment.Payment{signed(3, 6, 400), signed(3, 9, 600), signed(3, 8, 700)},
			err:   &payment.RuleError{Reason: payment.ReasonNotIncreasing, Index: 3, Ordinal: 8, Got: 8, Want: 9},
			msg:   "payment 3 (ordinal 8): ordinal 8 is not above 9",
		},
		{
			name:  "total below what the ledger paid",
			batch: []payment.Payment{signed(3, 6, 299)},
			err:   &payment.RuleError{Reason: payment.ReasonBelowPaid, Index: 1, Ordinal: 6, Got: 299, Want: 300},
			msg:   "payment 1 (ordinal 6): total 299 is below the 300 already paid",
		},
		{
			name:  "total below what the batch paid",
			batch: []payment.Payment{signed(3, 6, 500), signed(3, 7, 400)},
			err:   &payment.RuleError{Reason: payment.ReasonBelowPaid, Index: 2, Ordinal: 7, Got: 400, Want: 500},
			msg:   "payment 2 (ordinal 7): total 400 is below the 500 already paid",
		},
		{
			name:  "bad signature",
			batch: []payment.Payment{signed(3, 6, 600), badSig(signed(3, 7, 700))},
			err:   &payment.RuleError{Reason: payment.ReasonBadSignature, Index: 2, Ordinal: 7},
			msg:   "payment 2 (ordinal 7): signature is not the payer's over this payment",
		},
		{
			name:  "signed by another key",
			batch: []payment.Payment{payment.Sign(otherKey(), w, 3, 6, 600)},
			err:   &payment.RuleError{Reason: payment.ReasonBadSignature, Index: 1, Ordinal: 6},
			msg:   "payment 1 (ordinal 6): signature is not the payer's over this payment",
		},
		{
			name:  "signed for another provider",
			batch: []payment.Payment{payment.Sign(testKey(), otherProvider, 3, 6, 600)},
			err:   &payment.RuleError{Reason: payment.ReasonBadSignature, Index: 1, Ordinal: 6},
			msg:   "payment 1 (ordinal 6): signature is not the payer's over this payment",
		},
		{
			name:  "total raised after signing",
			batch: []payment.Payment{{Epoch: 3, Ordinal: 6, Total: 601, Signature: signed(3, 6, 600).Signature}},
			err:   &payment.RuleError{Reason: payment.ReasonBadSignature, Index: 1, Ordinal: 6},
			msg:   "payment 1 (ordinal 6): signature is not the payer's over this payment",
		},

		// A payment that breaks several rules reports the first in the
		// documented order: epoch, ordinal, total, signature.
		{
			name:  "wrong epoch before bad signature",
			batch: []payment.Payment{badSig(signed(4, 6, 100))},
			err:   &payment.RuleError{Reason: payment.ReasonWrongEpoch, Index: 1, Ordinal: 6, Got: 4, Want: 3},
			msg:   "payment 1 (ordinal 6): epoch 4 is not the warrant's current epoch 3",
		},
		{
			name:  "ordinal before total and signature",
			batch: []payment.Payment{signed(3, 8, 600), badSig(signed(3, 7, 100))},
			err:   &payment.RuleError{Reason: payment.ReasonNotIncreasing, Index: 2, Ordinal: 7, Got: 7, Want: 8},
			msg:   "payment 2 (ordinal 7): ordinal 7 is not above 8",
		},
		{
			name:  "total before signature",
			batch: []payment.Payment{badSig(signed(3, 6, 100))},
			err:   &payment.RuleError{Reason: payment.ReasonBelowPaid, Index: 1, Ordinal: 6, Got: 100, Want: 300},
			msg:   "payment 1 (ordinal 6): total 100 is below the 300 already paid",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := payment.Settle(ledger, c.batch, testSigned())
			requireRule(t, err, c.err, c.msg)
			require.Zero(t, out, "a rejected batch settles nothing")
			_, ok := err.(*payment.RuleError)
			require.True(t, ok, "the contract type-asserts the error unwrapped")
		})
	}
}

// outcome is an Item without its payment, to keep the tables short.
type outcome struct {
	Skipped         bool
	Paid, Shortfall uint64
}

var skipped = outcome{Skipped: true}

func paid(amount uint64) outcome { return outcome{Paid: amount} }

func capped(amount, shortfall uint64) outcome { return outcome{Paid: amount, Shortfall: shortfall} }

func TestSettleAccepts(t *testing.T) {
	ledger := payment.Ledger{Epoch: 3, LastOrdinal: 5, Paid: 300, Balance: 1000}
	withBalance := func(b uint64) payment.Ledger {
		l := ledger
		l.Balance = b
		return l
	}

	cases := []struct {
		name      string
		ledger    payment.Ledger
		batch     []payment.Payment
		items     []outcome
		shortfall uint64
		after     payment.Ledger
	}{
		{
			name:   "one payment",
			ledger: ledger,
			batch:  []payment.Payment{signed(3, 6, 500)},
			items:  []outcome{paid(200)},
			after:  payment.Ledger{Epoch: 3, LastOrdinal: 6, Paid: 500, Balance: 800},
		},
		{
			name:   "itemized with gaps in the ordinals",
			ledger: ledger,
			batch:  []payment.Payment{signed(3, 6, 400), signed(3, 7, 450), signed(3, 9, 700)},
			items:  []outcome{paid(100), paid(50), paid(250)},
			after:  payment.Ledger{Epoch: 3, LastOrdinal: 9, Paid: 700, Balance: 600},
		},
		{
			name:   "stale ordinals are skipped",
			ledger: ledger,
			batch:  []payment.Payment{signed(3, 4, 200), signed(3, 5, 300), signed(3, 6, 350)},
			items:  []outcome{skipped, skipped, paid(50)},
			after:  payment.Ledger{Epoch: 3, LastOrdinal: 6, Paid: 350, Balance: 950},
		},
		{
			// Staleness is judged against the ledger as the batch found it.
			name:   "stale ordinal after a newer one is skipped",
			ledger: ledger,
			batch:  []payment.Payment{signed(3, 7, 400), signed(3, 5, 300)},
			items:  []outcome{paid(100), skipped},
			after:  payment.Ledger{Epoch: 3, LastOrdinal: 7, Paid: 400, Balance: 900},
		},
		{
			name:   "stale ordinal is skipped without checking its total or signature",
			ledger: ledger,
			batch:  []payment.Payment{badSig(signed(3, 5, 1)), signed(3, 6, 400)},
			items:  []outcome{skipped, paid(100)},
			after:  payment.Ledger{Epoch: 3, LastOrdinal: 6, Paid: 400, Balance: 900},
		},
		{
			name:   "all stale changes nothing",
			ledger: ledger,
			batch:  []payment.Payment{signed(3, 1, 10), signed(3, 5, 300)},
			items:  []outcome{skipped, skipped},
			after:  ledger,
		},
		{
			name:   "empty batch changes nothing",
			ledger: ledger,
			items:  []outcome{},
			after:  ledger,
		},
		{
			name:   "total equal to paid pays nothing but settles the ordinal",
			ledger: ledger,
			batch:  []payment.Payment{signed(3, 6, 300)},
			items:  []outcome{paid(0)},
			after:  payment.Ledger{Epoch: 3, LastOrdinal: 6, Paid: 300, Balance: 1000},
		},
		{
			name:      "capped by the balance",
			ledger:    withBalance(100),
			batch:     []payment.Payment{signed(3, 6, 500)},
			items:     []outcome{capped(100, 100)},
			shortfall: 100,
			after:     payment.Ledger{Epoch: 3, LastOrdinal: 6, Paid: 400, Balance: 0},
		},
		{
			name:      "empty balance pays nothing and reports the whole due",
			ledger:    withBalance(0),
			batch:     []payment.Payment{signed(3, 6, 500)},
			items:     []outcome{capped(0, 200)},
			shortfall: 200,
			after:     payment.Ledger{Epoch: 3, LastOrdinal: 6, Paid: 300, Balance: 0},
		},
		{
			// The batch's shortfall is the last settled payment's: it alone
			// says what stays claimable. Skipped payments do not count.
			name:      "shortfall of the last settled payment",
			ledger:    withBalance(100),
			batch:     []payment.Payment{signed(3, 6, 350), signed(3, 7, 500), signed(3, 4, 1)},
			items:     []outcome{paid(50), capped(50, 100), skipped},
			shortfall: 100,
			after:     payment.Ledger{Epoch: 3, LastOrdinal: 7, Paid: 400, Balance: 0},
		},
		{
			// A payment with a total lower than an earlier one of the batch
			// is accepted when the earlier one was capped: the floor is what
			// was actually paid.
			name:      "lower total after a capped payment",
			ledger:    withBalance(100),
			batch:     []payment.Payment{signed(3, 6, 600), signed(3, 7, 400)},
			items:     []outcome{capped(100, 200), capped(0, 0)},
			shortfall: 0,
			after:     payment.Ledger{Epoch: 3, LastOrdinal: 7, Paid: 400, Balance: 0},
		},
		{
			name:   "totals and ordinals near 2^64",
			ledger: payment.Ledger{Epoch: 3, LastOrdinal: maxU64 - 3, Paid: maxU64 - 1000, Balance: maxU64},
			batch: []payment.Payment{
				signed(3, maxU64-2, maxU64-500), signed(3, maxU64-1, maxU64-1), signed(3, maxU64, maxU64),
			},
			items: []outcome{paid(500), paid(499), paid(1)},
			after: payment.Ledger{Epoch: 3, LastOrdinal: maxU64, Paid: maxU64, Balance: maxU64 - 1000},
		},
		{
			name:      "a 2^64-1 total against a small balance",
			ledger:    payment.Ledger{Epoch: 3, Balance: 10},
			batch:     []payment.Payment{signed(3, maxU64, maxU64)},
			items:     []outcome{capped(10, maxU64-10)},
			shortfall: maxU64 - 10,
			after:     payment.Ledger{Epoch: 3, LastOrdinal: maxU64, Paid: 10, Balance: 0},
		},
		{
			name:   "ledger at the last ordinal skips everything",
			ledger: payment.Ledger{Epoch: 3, LastOrdinal: maxU64, Paid: 5, Balance: 5},
			batch:  []payment.Payment{signed(3, maxU64, maxU64)},
			items:  []outcome{skipped},
			after:  payment.Ledger{Epoch: 3, LastOrdinal: maxU64, Paid: 5, Balance: 5},
		},
		{
			name:   "epoch 2^32-1",
			ledger: payment.Ledger{Epoch: math.MaxUint32, Balance: 10},
			batch:  []payment.Payment{signed(math.MaxUint32, 1, 10)},
			items:  []outcome{paid(10)},
			after:  payment.Ledger{Epoch: math.MaxUint32, LastOrdinal: 1, Paid: 10, Balance: 0},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := payment.Settle(c.ledger, c.batch, testSigned())
			require.NoError(t, err)
			require.Len(t, out.Items, len(c.batch))
			got := make([]outcome, len(out.Items))
			var sum uint64
			for i, it := range out.Items {
				require.Equal(t, c.batch[i], it.Payment, "item %d", i+1)
				got[i] = outcome{Skipped: it.Skipped, Paid: it.Paid, Shortfall: it.Shortfall}
				sum += it.Paid
			}
			require.Equal(t, c.items, got)
			require.Equal(t, sum, out.Paid, "Paid is the sum of the items'")
			require.Equal(t, c.shortfall, out.Shortfall)
			require.Equal(t, c.after, out.After)
		})
	}
}

func TestSettleRetryPaysNothing(t *testing.T) {
	ledger := payment.Ledger{Epoch: 1, Balance: 1000}
	batch := []payment.Payment{signed(1, 1, 100), signed(1, 2, 250), signed(1, 3, 400)}

	first, err := payment.Settle(ledger, batch, testSigned())
	require.NoError(t, err)
	require.EqualValues(t, 400, first.Paid)

	retry, err := payment.Settle(first.After, batch, testSigned())
	require.NoError(t, err, "a retried batch succeeds")
	require.Zero(t, retry.Paid)
	require.Zero(t, retry.Shortfall)
	require.Equal(t, first.After, retry.After)
	for i, it := range retry.Items {
		require.True(t, it.Skipped, "item %d", i+1)
	}
}

// TestSettleTopUp follows a capped payment: its shortfall stays claimable,
// but only by a newer payment once the warrant is topped up, since the
// capped payment's own ordinal is now settled.
func TestSettleTopUp(t *testing.T) {
	ledger := payment.Ledger{Epoch: 1, Balance: 100}

	out, err := payment.Settle(ledger, []payment.Payment{signed(1, 1, 250)}, testSigned())
	require.NoError(t, err)
	require.EqualValues(t, 100, out.Paid)
	require.EqualValues(t, 150, out.Shortfall)
	require.Equal(t, payment.Ledger{Epoch: 1, LastOrdinal: 1, Paid: 100, Balance: 0}, out.After)

	toppedUp := out.After
	toppedUp.Balance += 1000

	again, err := payment.Settle(toppedUp, []payment.Payment{signed(1, 1, 250)}, testSigned())
	require.NoError(t, err)
	require.Zero(t, again.Paid, "the capped payment itself is stale now")
	require.True(t, again.Items[0].Skipped)

	// The payer's next payment, even one that adds nothing, claims the rest.
	rest, err := payment.Settle(toppedUp, []payment.Payment{signed(1, 2, 250)}, testSigned())
	require.NoError(t, err)
	require.EqualValues(t, 150, rest.Paid)
	require.Zero(t, rest.Shortfall)
	require.Equal(t, payment.Ledger{Epoch: 1, LastOrdinal: 2, Paid: 250, Balance: 850}, rest.After)
}

// TestSettleItemizedEqualsNewest checks the property the protocol rests on:
// settling 100 itemized payments leaves the ledger as settling only the last
// one does, whether or not the balance covers them.
func TestSettleItemizedEqualsNewest(t *testing.T) {
	rng := newRand(t)
	batch := make([]payment.Payment, 100)
	ordinal, total := rng.Uint64N(10), uint64(0)
	for i := range batch {
		ordinal += 1 + rng.Uint64N(3)
		total += rng.Uint64N(1000) // an increment may be 0
		batch[i] = signed(2, ordinal, total)
	}
	last := batch[len(batch)-1]

	for _, balance := range []uint64{0, 1, last.Total / 2, last.Total, last.Total + 1, maxU64} {
		t.Run(fmt.Sprintf("balance %d", balance), func(t *testing.T) {
			ledger := payment.Ledger{Epoch: 2, Balance: balance}
			all, err := payment.Settle(ledger, batch, testSigned())
			require.NoError(t, err)
			newest, err := payment.Settle(ledger, batch[len(batch)-1:], testSigned())
			require.NoError(t, err)

			require.Equal(t, newest.After, all.After)
			require.Equal(t, newest.Paid, all.Paid)
			require.Equal(t, newest.Shortfall, all.Shortfall)
			require.Equal(t, min(last.Total, balance), all.Paid)
		})
	}
}

// TestSettleVerifiesOnlyNewPayments checks that stale payments cost no
// signature check and every other one costs exactly one, with the verifier
// the caller passed.
func TestSettleVerifiesOnlyNewPayments(t *testing.T) {
	var verified []uint64
	sig := testSigned()
	sig.Verify = func(msg, pub, s []byte) bool {
		verified = append(verified, binary.LittleEndian.Uint64(msg[len(msg)-16:]))
		return payment.VerifyEd25519(msg, pub, s)
	}
	ledger := payment.Ledger{Epoch: 1, LastOrdinal: 2, Balance: 1000}
	batch := []payment.Payment{signed(1, 1, 10), signed(1, 2, 20), signed(1, 3, 30), signed(1, 1, 10), signed(1, 5, 50)}

	_, err := payment.Settle(ledger, batch, sig)
	require.NoError(t, err)
	require.Equal(t, []uint64{3, 5}, verified, "ordinals verified")
}

func TestAccept(t *testing.T) {
	// The provider accepted up to ordinal 10 for 1000 in all, 600 of which
	// are settled on chain; the warrant holds 1000 more; a piece costs 50.
	const now = 1_700_000_000
	base := payment.Intake{
		Epoch: 2, LastOrdinal: 10, LastTotal: 1000, Settled: 600, Balance: 1000, Price: 50,
		Now: now, Margin: 60,
	}
	with := func(edit func(in *payment.Intake)) payment.Intake {
		in := base
		edit(&in)
		return in
	}
	revoked := func(deadline, margin uint64) payment.Intake {
		return with(func(in *payment.Intake) { in.Deadline, in.Margin = deadline, margin })
	}
	w := testWarrant()

	rejects := []struct {
		name string
		in   payment.Intake
		p    payment.Payment
		err  *payment.RuleError
		msg  string
	}{
		{
			name: "wrong epoch",
			in:   base, p: signed(3, 11, 1050),
			err: &payment.RuleError{Reason: payment.ReasonWrongEpoch, Ordinal: 11, Got: 3, Want: 2},
			msg: "payment (ordinal 11): epoch 3 is not the warrant's current epoch 2",
		},
		{
			name: "repeated ordinal",
			in:   base, p: signed(2, 10, 1050),
			err: &payment.RuleError{Reason: payment.ReasonNotIncreasing, Ordinal: 10, Got: 10, Want: 10},
			msg: "payment (ordinal 10): ordinal 10 is not above 10",
		},
		{
			name: "older ordinal",
			in:   base, p: signed(2, 9, 1050),
			err: &payment.RuleError{Reason: payment.ReasonNotIncreasing, Ordinal: 9, Got: 9, Want: 10},
			msg: "payment (ordinal 9): ordinal 9 is not above 10",
		},
		{
			name: "total below the last accepted",
			in:   base, p: signed(2, 11, 999),
			err: &payment.RuleError{Reason: payment.ReasonBelowPaid, Ordinal: 11, Got: 999, Want: 1000},
			msg: "payment (ordinal 11): total 999 is below the 1000 already paid",
		},
		{
			name: "total below what is settled on chain",
			in:   with(func(in *payment.Intake) { in.Settled = 1200 }), p: signed(2, 11, 1100),
			err: &payment.RuleError{Reason: payment.ReasonBelowPaid, Ordinal: 11, Got: 1100, Want: 1200},
			msg: "payment (ordinal 11): total 1100 is below the 1200 already paid",
		},
		{
			name: "increment below the price",
			in:   base, p: signed(2, 11, 1049),
			err: &payment.RuleError{Reason: payment.ReasonUnderpaid, Ordinal: 11, Got: 49, Want: 50},
			msg: "payment (ordinal 11): increment 49 does not cover the price 50",
		},
		{
			name: "no increment",
			in:   base, p: signed(2, 11, 1000),
			err: &payment.RuleError{Reason: payment.ReasonUnderpaid, Ordinal: 11, Got: 0, Want: 50},
			msg: "payment (ordinal 11): increment 0 does not cover the price 50",
		},
		{
			name: "owes more than the balance",
			in:   base, p: signed(2, 11, 1601),
			err: &payment.RuleError{Reason: payment.ReasonOverBalance, Ordinal: 11, Got: 1001, Want: 1000},
			msg: "payment (ordinal 11): owes 1001 but the warrant's balance is only 1000",
		},
		{
			name: "revoked: now + margin == deadline",
			in:   revoked(now+60, 60), p: signed(2, 11, 1050),
			err: &payment.RuleError{Reason: payment.ReasonRevoked, Ordinal: 11, Got: now, Want: now + 60},
			msg: "payment (ordinal 11): warrant is revoked: chain time 1700000000 is within the settlement margin of the deadline 1700000060",
		},
		{
			name: "revoked: now == deadline",
			in:   revoked(now, 60), p: signed(2, 11, 1050),
			err: &payment.RuleError{Reason: payment.ReasonRevoked, Ordinal: 11, Got: now, Want: now},
			msg: "payment (ordinal 11): warrant is revoked: chain time 1700000000 is within the settlement margin of the deadline 1700000000",
		},
		{
			name: "revoked: past the deadline",
			in:   revoked(now-1, 60), p: signed(2, 11, 1050),
			err: &payment.RuleError{Reason: payment.ReasonRevoked, Ordinal: 11, Got: now, Want: now - 1},
			msg: "payment (ordinal 11): warrant is revoked: chain time 1700000000 is within the settlement margin of the deadline 1699999999",
		},
		{
			name: "revoked: no margin, now == deadline",
			in:   revoked(now, 0), p: signed(2, 11, 1050),
			err: &payment.RuleError{Reason: payment.ReasonRevoked, Ordinal: 11, Got: now, Want: now},
			msg: "payment (ordinal 11): warrant is revoked: chain time 1700000000 is within the settlement margin of the deadline 1700000000",
		},
		{
			name: "revoked: now + margin overflows",
			in: with(func(in *payment.Intake) {
				in.Now, in.Deadline, in.Margin = maxU64-1, maxU64, maxU64
			}),
			p:   signed(2, 11, 1050),
			err: &payment.RuleError{Reason: payment.ReasonRevoked, Ordinal: 11, Got: maxU64 - 1, Want: maxU64},
			msg: "payment (ordinal 11): warrant is revoked: chain time 18446744073709551614 is within the settlement margin of the deadline 18446744073709551615",
		},
		{
			name: "bad signature",
			in:   base, p: badSig(signed(2, 11, 1050)),
			err: &payment.RuleError{Reason: payment.ReasonBadSignature, Ordinal: 11},
			msg: "payment (ordinal 11): signature is not the payer's over this payment",
		},
		{
			name: "total raised after signing",
			in:   base, p: payment.Payment{Epoch: 2, Ordinal: 11, Total: 1100, Signature: signed(2, 11, 1050).Signature},
			err: &payment.RuleError{Reason: payment.ReasonBadSignature, Ordinal: 11},
			msg: "payment (ordinal 11): signature is not the payer's over this payment",
		},
		{
			name: "signed by another key",
			in:   base, p: payment.Sign(otherKey(), w, 2, 11, 1050),
			err: &payment.RuleError{Reason: payment.ReasonBadSignature, Ordinal: 11},
			msg: "payment (ordinal 11): signature is not the payer's over this payment",
		},

		// The first broken rule in the documented order is reported.
		{
			name: "wrong epoch before everything",
			in:   revoked(now, 60), p: badSig(signed(1, 9, 5000)),
			err: &payment.RuleError{Reason: payment.ReasonWrongEpoch, Ordinal: 9, Got: 1, Want: 2},
			msg: "payment (ordinal 9): epoch 1 is not the warrant's current epoch 2",
		},
		{
			name: "underpaid before revoked and bad signature",
			in:   revoked(now, 60), p: badSig(signed(2, 11, 1010)),
			err: &payment.RuleError{Reason: payment.ReasonUnderpaid, Ordinal: 11, Got: 10, Want: 50},
			msg: "payment (ordinal 11): increment 10 does not cover the price 50",
		},
		{
			name: "over balance before revoked",
			in:   revoked(now, 60), p: badSig(signed(2, 11, 5000)),
			err: &payment.RuleError{Reason: payment.ReasonOverBalance, Ordinal: 11, Got: 4400, Want: 1000},
			msg: "payment (ordinal 11): owes 4400 but the warrant's balance is only 1000",
		},
		{
			name: "revoked before bad signature",
			in:   revoked(now, 60), p: badSig(signed(2, 11, 1050)),
			err: &payment.RuleError{Reason: payment.ReasonRevoked, Ordinal: 11, Got: now, Want: now},
			msg: "payment (ordinal 11): warrant is revoked: chain time 1700000000 is within the settlement margin of the deadline 1700000000",
		},
	}
	for _, c := range rejects {
		t.Run(c.name, func(t *testing.T) {
			inc, err := payment.Accept(c.in, c.p, testSigned())
			requireRule(t, err, c.err, c.msg)
			require.Zero(t, inc)
		})
	}

	accepts := []struct {
		name      string
		in        payment.Intake
		p         payment.Payment
		increment uint64
	}{
		{name: "exactly the price", in: base, p: signed(2, 11, 1050), increment: 50},
		{name: "more than the price, ordinals skipped", in: base, p: signed(2, 20, 1300), increment: 300},
		{name: "owes exactly the balance", in: base, p: signed(2, 11, 1600), increment: 600},
		{
			name: "first payment of an epoch",
			in:   payment.Intake{Epoch: 1, Balance: 100, Price: 10},
			p:    signed(1, 1, 10), increment: 10,
		},
		{
			name: "free piece with no increment",
			in:   with(func(in *payment.Intake) { in.Price = 0 }),
			p:    signed(2, 11, 1000), increment: 0,
		},
		{
			name: "settled above the last accepted",
			in:   with(func(in *payment.Intake) { in.Settled = 1200 }),
			p:    signed(2, 11, 1200), increment: 200,
		},
		{
			name: "deadline 0 is not revoked",
			in: with(func(in *payment.Intake) {
				in.Deadline, in.Now, in.Margin = 0, maxU64, maxU64
			}),
			p: signed(2, 11, 1050), increment: 50,
		},
		{name: "revoked with one second of margin to spare", in: revoked(now+61, 60), p: signed(2, 11, 1050), increment: 50},
		{name: "revoked, no margin, deadline next second", in: revoked(now+1, 0), p: signed(2, 11, 1050), increment: 50},
		{
			name: "totals and ordinals near 2^64",
			in: payment.Intake{
				Epoch: 2, LastOrdinal: maxU64 - 1, LastTotal: maxU64 - 100, Settled: maxU64 - 1000,
				Balance: 1000, Price: 100,
			},
			p: signed(2, maxU64, maxU64), increment: 100,
		},
	}
	for _, c := range accepts {
		t.Run(c.name, func(t *testing.T) {
			inc, err := payment.Accept(c.in, c.p, testSigned())
			require.NoError(t, err)
			require.Equal(t, c.increment, inc)
		})
	}
}

func TestReasonString(t *testing.T) {
	names := map[payment.Reason]string{
		payment.ReasonWrongEpoch:    "wrong_epoch",
		payment.ReasonNotIncreasing: "ordinal_not_increasing",
		payment.ReasonBelowPaid:     "total_below_paid",
		payment.ReasonUnderpaid:     "underpaid",
		payment.ReasonOverBalance:   "over_balance",
		payment.ReasonRevoked:       "revoked",
		payment.ReasonBadSignature:  "bad_signature",
		0:                           "reason(0)",
		8:                           "reason(8)",
		255:                         "reason(255)",
	}
	for r, name := range names {
		require.Equal(t, name, r.String(), "reason %d", uint8(r))
	}
	// The values are stable: they travel to the contract's error registry
	// and to metrics.
	for i, r := range []payment.Reason{
		payment.ReasonWrongEpoch, payment.ReasonNotIncreasing, payment.ReasonBelowPaid, payment.ReasonUnderpaid,
		payment.ReasonOverBalance, payment.ReasonRevoked, payment.ReasonBadSignature,
	} {
		require.EqualValues(t, i+1, r)
	}
}

// TestContractReasons checks that the contract registers exactly the rules
// Settle can break: the contract looks the registered error up by reason.
func TestContractReasons(t *testing.T) {
	require.Equal(t, []payment.Reason{
		payment.ReasonWrongEpoch, payment.ReasonNotIncreasing, payment.ReasonBelowPaid, payment.ReasonBadSignature,
	}, payment.ContractReasons)
}

// TestBatchFormat checks that the contract's registered format, filled with
// BatchArgs, reads exactly as Error does, for every reason.
func TestBatchFormat(t *testing.T) {
	reasons := append([]payment.Reason{payment.ReasonUnderpaid, payment.ReasonOverBalance, payment.ReasonRevoked, 0, 99},
		payment.ContractReasons...)
	for _, r := range reasons {
		e := &payment.RuleError{Reason: r, Index: 2, Ordinal: 7, Got: 400, Want: 500}
		format, args := payment.BatchFormat(r), e.BatchArgs()

		require.Equal(t, e.Error(), fmt.Sprintf(format, args...), "reason %v", r)
		require.True(t, strings.HasPrefix(e.Error(), "payment 2 (ordinal 7): "), "%q", e.Error())
		require.NotContains(t, e.Error(), "%!", "format and arguments disagree for %v", r)
		require.Equal(t, strings.Count(format, "%d"), len(args), "reason %v", r)
		for i, a := range args {
			require.IsType(t, uint64(0), a, "argument %d of %v: the ISC VM error codec carries uint64", i, r)
		}

		single := &payment.RuleError{Reason: r, Ordinal: 7, Got: 400, Want: 500}
		require.True(t, strings.HasPrefix(single.Error(), "payment (ordinal 7): "), "%q", single.Error())
		require.NotContains(t, single.Error(), "%!")
		require.Equal(t, strings.TrimPrefix(e.Error(), "payment 2 (ordinal 7): "),
			strings.TrimPrefix(single.Error(), "payment (ordinal 7): "), "same body with and without an index")
	}
	require.Equal(t, "payment 2 (ordinal 7): rule 99 violated", (&payment.RuleError{Reason: 99, Index: 2, Ordinal: 7}).Error())
}

// macVerifier stands in for ed25519 in the fuzz targets, which need millions
// of cheap checks whose outcome the input controls: a "signature" is valid
// when its first 32 bytes are the SHA-256 of the signed bytes.
func macVerifier(msg, _, sig []byte) bool {
	sum := sha256.Sum256(msg)
	return bytes.Equal(sig[:32], sum[:])
}

func macSign(w payment.Warrant, epoch uint32, ordinal, total uint64) payment.Payment {
	p := payment.Payment{Epoch: epoch, Ordinal: ordinal, Total: total}
	sum := sha256.Sum256(w.SignedBytes(epoch, ordinal, total))
	copy(p.Signature[:], sum[:])
	return p
}

// Fuzzed batch items are 17 bytes: flags, ordinal (u64 LE), total (u64 LE).
// Flag 1 puts the payment in the epoch after the ledger's, flag 2 spoils its
// signature.
const (
	fuzzItemSize   = 17
	fuzzWrongEpoch = 1
	fuzzBadSig     = 2
	fuzzMaxItems   = 64
)

type fuzzItem struct {
	flags          byte
	ordinal, total uint64
}

func encodeFuzzItems(items ...fuzzItem) []byte {
	var b []byte
	for _, it := range items {
		b = append(b, it.flags)
		b = binary.LittleEndian.AppendUint64(b, it.ordinal)
		b = binary.LittleEndian.AppendUint64(b, it.total)
	}
	return b
}

func decodeFuzzBatch(w payment.Warrant, epoch uint32, b []byte) []payment.Payment {
	var batch []payment.Payment
	for ; len(b) >= fuzzItemSize && len(batch) < fuzzMaxItems; b = b[fuzzItemSize:] {
		e := epoch
		if b[0]&fuzzWrongEpoch != 0 {
			e++
		}
		p := macSign(w, e, binary.LittleEndian.Uint64(b[1:]), binary.LittleEndian.Uint64(b[9:]))
		if b[0]&fuzzBadSig != 0 {
			p.Signature[0] ^= 1
		}
		batch = append(batch, p)
	}
	return batch
}

// FuzzSettle checks Settle's accounting on arbitrary ledgers and batches: it
// never panics; an accepted batch moves exactly Paid from the balance to the
// provider, no more than the payments owe, and settles again as a no-op; a
// rejected batch names a payment that breaks the rule it names, after a
// prefix that settles.
func FuzzSettle(f *testing.F) {
	f.Add(uint32(1), uint64(0), uint64(0), uint64(1000),
		encodeFuzzItems(fuzzItem{0, 1, 100}, fuzzItem{0, 2, 250}, fuzzItem{0, 3, 400}))
	f.Add(uint32(3), uint64(5), uint64(300), uint64(100),
		encodeFuzzItems(fuzzItem{0, 4, 200}, fuzzItem{0, 6, 350}, fuzzItem{0, 7, 500}, fuzzItem{0, 5, 1}))
	f.Add(uint32(3), uint64(5), uint64(300), uint64(100),
		encodeFuzzItems(fuzzItem{0, 6, 500}, fuzzItem{0, 7, 400}))
	f.Add(uint32(math.MaxUint32), uint64(maxU64-3), uint64(maxU64-1000), uint64(maxU64),
		encodeFuzzItems(fuzzItem{0, maxU64 - 2, maxU64 - 500}, fuzzItem{0, maxU64, maxU64}))
	f.Add(uint32(2), uint64(0), uint64(0), uint64(10), encodeFuzzItems(fuzzItem{0, maxU64, maxU64}))
	f.Add(uint32(2), uint64(0), uint64(0), uint64(10), encodeFuzzItems(fuzzItem{0, 1, 5}, fuzzItem{fuzzWrongEpoch, 2, 6}))
	f.Add(uint32(2), uint64(0), uint64(0), uint64(10), encodeFuzzItems(fuzzItem{0, 1, 5}, fuzzItem{fuzzBadSig, 2, 6}))
	f.Add(uint32(2), uint64(4), uint64(0), uint64(10), encodeFuzzItems(fuzzItem{fuzzBadSig | fuzzWrongEpoch, 2, 6}))
	f.Add(uint32(2), uint64(0), uint64(0), uint64(10), encodeFuzzItems(fuzzItem{0, 3, 5}, fuzzItem{0, 3, 6}))
	f.Add(uint32(0), uint64(0), uint64(0), uint64(0), []byte{})

	w := testWarrant()
	sig := payment.Signed{Warrant: w, Verify: macVerifier}
	f.Fuzz(func(t *testing.T, epoch uint32, lastOrdinal, paidBefore, balance uint64, items []byte) {
		ledger := payment.Ledger{Epoch: epoch, LastOrdinal: lastOrdinal, Paid: paidBefore, Balance: balance}
		batch := decodeFuzzBatch(w, epoch, items)

		out, err := payment.Settle(ledger, batch, sig)
		if err != nil {
			checkRejected(t, ledger, batch, sig, out, err)
			return
		}
		checkSettled(t, ledger, batch, sig, out)

		retry, err := payment.Settle(out.After, batch, sig)
		if err != nil || retry.Paid != 0 || retry.After != out.After {
			t.Fatalf("retry of a settled batch: paid %d, after %+v, err %v; want 0, %+v", retry.Paid, retry.After, err, out.After)
		}
	})
}

func checkSettled(t *testing.T, l payment.Ledger, batch []payment.Payment, sig payment.Signed, out payment.Settlement) {
	t.Helper()
	if len(out.Items) != len(batch) {
		t.Fatalf("%d items for %d payments", len(out.Items), len(batch))
	}
	after := l // the ledger rebuilt item by item
	var sum, dues uint64
	var shortfall uint64
	for i, it := range out.Items {
		p := batch[i]
		if it.Payment != p {
			t.Fatalf("item %d holds %v, not %v", i+1, it.Payment, p)
		}
		if p.Epoch != l.Epoch {
			t.Fatalf("item %d of epoch %d accepted in epoch %d", i+1, p.Epoch, l.Epoch)
		}
		if stale := p.Ordinal <= l.LastOrdinal; it.Skipped != stale {
			t.Fatalf("item %d (ordinal %d, ledger %d): skipped %v", i+1, p.Ordinal, l.LastOrdinal, it.Skipped)
		}
		if it.Skipped {
			if it.Paid != 0 || it.Shortfall != 0 {
				t.Fatalf("skipped item %d paid %d, shortfall %d", i+1, it.Paid, it.Shortfall)
			}
			continue
		}
		if p.Ordinal <= after.LastOrdinal {
			t.Fatalf("item %d: ordinal %d not above %d", i+1, p.Ordinal, after.LastOrdinal)
		}
		if p.Total < after.Paid {
			t.Fatalf("item %d: total %d below paid %d", i+1, p.Total, after.Paid)
		}
		if !sig.Valid(p) {
			t.Fatalf("item %d: bad signature accepted", i+1)
		}
		due := p.Total - after.Paid
		if it.Paid+it.Shortfall != due || it.Paid > after.Balance {
			t.Fatalf("item %d: due %d, balance %d: paid %d, shortfall %d", i+1, due, after.Balance, it.Paid, it.Shortfall)
		}
		if it.Shortfall != 0 && it.Paid != after.Balance {
			t.Fatalf("item %d: shortfall %d while %d of the balance is left", i+1, it.Shortfall, after.Balance-it.Paid)
		}
		after.Paid += it.Paid
		after.Balance -= it.Paid
		after.LastOrdinal = p.Ordinal
		sum += it.Paid
		dues = satAdd(dues, due)
		shortfall = it.Shortfall
	}
	switch {
	case out.After != after:
		t.Fatalf("after %+v, want %+v", out.After, after)
	case out.Paid != sum:
		t.Fatalf("paid %d, items paid %d", out.Paid, sum)
	case out.After.Paid-l.Paid != out.Paid || out.After.Paid < l.Paid:
		t.Fatalf("ledger paid went %d -> %d, settlement paid %d", l.Paid, out.After.Paid, out.Paid)
	case l.Balance-out.After.Balance != out.Paid || out.After.Balance > l.Balance:
		t.Fatalf("balance went %d -> %d, settlement paid %d", l.Balance, out.After.Balance, out.Paid)
	case out.Paid > dues:
		t.Fatalf("paid %d, more than the %d due", out.Paid, dues)
	case out.Shortfall != shortfall:
		t.Fatalf("shortfall %d, last settled item's %d", out.Shortfall, shortfall)
	}
}

func checkRejected(t *testing.T, l payment.Ledger, batch []payment.Payment, sig payment.Signed, out payment.Settlement, err error) {
	t.Helper()
	re, ok := err.(*payment.RuleError) // the contract asserts this type
	if !ok || !errors.Is(err, payment.ErrRule) {
		t.Fatalf("error %T %v is not a bare *RuleError", err, err)
	}
	if out.Items != nil || out.Paid != 0 || out.Shortfall != 0 || out.After != (payment.Ledger{}) {
		t.Fatalf("rejected batch returned %+v", out)
	}
	contractReason := false
	for _, r := range payment.ContractReasons {
		contractReason = contractReason || r == re.Reason
	}
	if !contractReason {
		t.Fatalf("reason %v is not one the contract registers", re.Reason)
	}
	if re.Index < 1 || re.Index > len(batch) {
		t.Fatalf("index %d in a batch of %d", re.Index, len(batch))
	}
	p := batch[re.Index-1]
	if re.Ordinal != p.Ordinal {
		t.Fatalf("error names ordinal %d, payment %d has %d", re.Ordinal, re.Index, p.Ordinal)
	}
	prefix, perr := payment.Settle(l, batch[:re.Index-1], sig)
	if perr != nil {
		t.Fatalf("payments before the rejected %d do not settle: %v", re.Index, perr)
	}
	at := prefix.After
	var broken bool
	switch re.Reason {
	case payment.ReasonWrongEpoch:
		broken = p.Epoch != l.Epoch && re.Got == uint64(p.Epoch) && re.Want == uint64(l.Epoch)
	case payment.ReasonNotIncreasing:
		broken = p.Ordinal > l.LastOrdinal && p.Ordinal <= at.LastOrdinal && re.Got == p.Ordinal && re.Want == at.LastOrdinal
	case payment.ReasonBelowPaid:
		broken = p.Ordinal > at.LastOrdinal && p.Total < at.Paid && re.Got == p.Total && re.Want == at.Paid
	case payment.ReasonBadSignature:
		broken = p.Total >= at.Paid && !sig.Valid(p)
	}
	if !broken {
		t.Fatalf("%v: payment %v does not break it on ledger %+v", err, p, at)
	}
}

func satAdd(a, b uint64) uint64 {
	if a > maxU64-b {
		return maxU64
	}
	return a + b
}

// FuzzAccept checks Accept against Settle: a payment the provider accepts is
// one the contract settles in full from a ledger that agrees with the
// provider's view, and it pays the provider the increment and at least the
// price.
func FuzzAccept(f *testing.F) {
	f.Add(uint32(2), uint64(10), uint64(1000), uint64(600), uint64(1000), uint64(50), uint64(0), uint64(0), uint64(0),
		uint32(2), uint64(11), uint64(1050), false)
	f.Add(uint32(2), uint64(10), uint64(1000), uint64(1200), uint64(1000), uint64(50), uint64(1000), uint64(900), uint64(60),
		uint32(2), uint64(11), uint64(1600), false)
	f.Add(uint32(2), uint64(10), uint64(1000), uint64(600), uint64(1000), uint64(50), uint64(1000), uint64(900), uint64(100),
		uint32(2), uint64(11), uint64(1050), true)

	w := testWarrant()
	sig := payment.Signed{Warrant: w, Verify: macVerifier}
	f.Fuzz(func(t *testing.T, epoch uint32, lastOrdinal, lastTotal, settled, balance, price, deadline, now, margin uint64,
		pEpoch uint32, ordinal, total uint64, spoil bool) {
		in := payment.Intake{
			Epoch: epoch, LastOrdinal: lastOrdinal, LastTotal: lastTotal, Settled: settled, Balance: balance,
			Price: price, Deadline: deadline, Now: now, Margin: margin,
		}
		p := macSign(w, pEpoch, ordinal, total)
		if spoil {
			p.Signature[0] ^= 1
		}

		inc, err := payment.Accept(in, p, sig)
		if err != nil {
			var re *payment.RuleError
			if !errors.As(err, &re) || !errors.Is(err, payment.ErrRule) || re.Index != 0 || inc != 0 {
				t.Fatalf("Accept: increment %d, error %T %v", inc, err, err)
			}
			return
		}
		if inc != total-lastTotal || total < lastTotal || inc < price {
			t.Fatalf("increment %d for total %d after %d at price %d", inc, total, lastTotal, price)
		}
		if deadline != 0 && (now >= deadline || deadline-now <= margin) {
			t.Fatalf("accepted at %d with deadline %d and margin %d", now, deadline, margin)
		}

		ledger := payment.Ledger{Epoch: epoch, LastOrdinal: lastOrdinal, Paid: settled, Balance: balance}
		out, err := payment.Settle(ledger, []payment.Payment{p}, sig)
		if err != nil {
			t.Fatalf("accepted %v but settle rejects it: %v", p, err)
		}
		if out.Paid != total-settled || out.Shortfall != 0 {
			t.Fatalf("accepted %v but settle pays %d, shortfall %d", p, out.Paid, out.Shortfall)
		}
	})
}
