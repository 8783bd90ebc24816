package payment

// Ledger is a warrant's on-chain settlement state, as settle reads it.
type Ledger struct {
	Epoch       uint32 // current epoch
	LastOrdinal uint64 // lo: last settled ordinal in this epoch
	Paid        uint64 // st: paid to the provider so far in this epoch
	Balance     uint64 // wa: what the warrant still holds
}

// Item is the outcome of one payment of a settle batch.
type Item struct {
	Payment   Payment
	Skipped   bool   // ordinal at or below the last settled one: pays nothing
	Paid      uint64 // moved to the provider for this payment
	Shortfall uint64 // owed by this payment but not covered by the balance
}

// Settlement is the outcome of a whole settle batch.
type Settlement struct {
	Items     []Item
	Paid      uint64 // sum of Items[i].Paid
	Shortfall uint64 // shortfall of the last settled payment: what stays claimable
	After     Ledger // the ledger once the batch is applied
}

// Settle applies a batch of payments to a ledger as the contract does and
// returns the outcome; it changes nothing itself. Every payment must be of
// the current epoch. Those whose ordinal is at or below the ledger's last
// settled ordinal are then skipped, so a retried batch succeeds and pays
// nothing. The others must, in this order of checks, have strictly
// increasing ordinals, a total not below what was already paid, and a valid
// signature; the first that breaks a rule fails the whole batch with a
// *RuleError naming its 1-based position.
//
// Each payment pays total - paid, capped by the balance; the uncovered part
// is reported as shortfall, not as an error, and stays claimable by a newer
// payment after a top-up.
func Settle(l Ledger, batch []Payment, sig Signed) (Settlement, error) {
	out := Settlement{Items: make([]Item, len(batch)), After: l}
	floorOrdinal := l.LastOrdinal // stale at or below this; fixed for the batch
	prev := l.LastOrdinal
	for i, p := range batch {
		item := &out.Items[i]
		item.Payment = p
		fail := func(e *RuleError) (Settlement, error) {
			e.Index = i + 1
			return Settlement{}, e
		}
		if e := checkEpoch(p, l.Epoch); e != nil {
			return fail(e)
		}
		if p.Ordinal <= floorOrdinal {
			item.Skipped = true
			continue
		}
		if e := checkOrdinal(p, prev); e != nil {
			return fail(e)
		}
		if e := checkTotal(p, out.After.Paid); e != nil {
			return fail(e)
		}
		if e := checkSignature(p, sig); e != nil {
			return fail(e)
		}
		due := p.Total - out.After.Paid
		pay := min(due, out.After.Balance)
		item.Paid, item.Shortfall = pay, due-pay
		out.After.Paid += pay
		out.After.Balance -= pay
		out.After.LastOrdinal = p.Ordinal
		out.Paid += pay
		out.Shortfall = item.Shortfall
		prev = p.Ordinal
	}
	return out, nil
}
