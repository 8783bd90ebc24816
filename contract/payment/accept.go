package payment

// Intake is what a provider knows of a warrant when a payment arrives: the
// chain's view (epoch, settled, balance, deadline, chain time) and its own
// (last accepted payment), plus the price of the piece being bought.
type Intake struct {
	Epoch       uint32 // the warrant's current epoch on chain
	LastOrdinal uint64 // ordinal of the last payment the provider accepted
	LastTotal   uint64 // total of the last payment the provider accepted
	Settled     uint64 // st: paid to the provider on chain in this epoch
	Balance     uint64 // wa: what the warrant holds on chain
	Price       uint64 // what this piece costs

	// Deadline is the revoke deadline in unix seconds; 0 when not revoked.
	Deadline uint64
	// Now is the chain's time in unix seconds (never the provider's clock).
	Now uint64
	// Margin is the settlement safety margin in seconds: a revoked warrant
	// is served only while Now + Margin < Deadline.
	Margin uint64
}

// Accept checks a payment against the provider's acceptance rules, cheapest
// first: epoch, ordinal above the last accepted, total not below the last
// accepted, increment covering the price, amount owed within the balance,
// deadline beyond the safety margin, and the payer's signature. It returns
// the increment (total - last accepted total) on success and a *RuleError
// otherwise. It uses the same checks as Settle, so a payment the provider
// accepts is one the contract will settle.
func Accept(in Intake, p Payment, sig Signed) (increment uint64, err error) {
	if e := checkEpoch(p, in.Epoch); e != nil {
		return 0, e
	}
	if e := checkOrdinal(p, in.LastOrdinal); e != nil {
		return 0, e
	}
	floor := max(in.LastTotal, in.Settled)
	if e := checkTotal(p, floor); e != nil {
		return 0, e
	}
	increment = p.Total - in.LastTotal // total >= floor >= LastTotal
	if increment < in.Price {
		return 0, &RuleError{Reason: ReasonUnderpaid, Ordinal: p.Ordinal, Got: increment, Want: in.Price}
	}
	if owed := p.Total - in.Settled; owed > in.Balance {
		return 0, &RuleError{Reason: ReasonOverBalance, Ordinal: p.Ordinal, Got: owed, Want: in.Balance}
	}
	if in.Deadline != 0 && (in.Now >= in.Deadline || in.Deadline-in.Now <= in.Margin) {
		return 0, &RuleError{Reason: ReasonRevoked, Ordinal: p.Ordinal, Got: in.Now, Want: in.Deadline}
	}
	if e := checkSignature(p, sig); e != nil {
		return 0, e
	}
	return increment, nil
}
