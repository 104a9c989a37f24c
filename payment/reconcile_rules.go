package payment

import "fmt"

// lineFacts is everything the rules know about one settlement line: the
// PG's line and what pago has for it. Rules read facts; they never query.
type lineFacts struct {
	Line SettlementLine
	// Duplicate: the same payment and transaction key appeared earlier in
	// the PG's list for the date.
	Duplicate bool
	Order     *Order   // nil: pago never created the order
	Payment   *Payment // nil: pago has no payment with the line's key
	// Cancelled is the total the PG has cancelled of the payment up to and
	// including this line (cancel lines only, positive).
	Cancelled int64
	// ExpectedFee is the fee pago's contract with the PG charges on the
	// line's amount.
	ExpectedFee int64
	// RefundsWired tells whether a missed refund can be recorded by code.
	RefundsWired bool
}

// pagoRefunded is what pago has recorded as refunded of the payment. A
// CANCELED payment is refunded in full even when nothing was recorded in
// RefundedAmount (a top-up refunded because the wallet could not take it).
func (f *lineFacts) pagoRefunded() int64 {
	if f.Payment == nil {
		return 0
	}
	if f.Payment.Status == PaymentCanceled {
		return f.Payment.Amount.Amount
	}
	return f.Payment.RefundedAmount.Amount
}

func (f *lineFacts) sale() bool   { return !f.Line.IsCancel() }
func (f *lineFacts) cancel() bool { return f.Line.IsCancel() }

func (f *lineFacts) paymentIs(sts ...PaymentStatus) bool {
	if f.Payment == nil {
		return false
	}
	for _, s := range sts {
		if f.Payment.Status == s {
			return true
		}
	}
	return false
}

// settled: pago has the payment as approved by the PG (later refunds included).
func (f *lineFacts) settled() bool {
	return f.paymentIs(PaymentDone, PaymentPartiallyCanceled, PaymentCanceled)
}

// rule is one row of a class's table: when it applies, the cause it names
// and, for AUTO_FIXED rows, the fix. Adding a rule is adding a row.
type rule struct {
	name   string
	kind   MismatchKind
	when   func(f *lineFacts) bool
	detail func(f *lineFacts) string
	// fix repairs the cause through the normal state machines (AUTO_FIXED
	// rows only) and says what it did.
	fix fixFunc
}

// The tables are consulted in this order: MANUAL, AUTO_FIXED, UNKNOWN; the
// first row that applies classifies the line. A line no row explains is
// UNKNOWN (unexplained). Their conditions are written to exclude each
// other, so the order only matters for rows that say so.

// manualRules: a known cause whose fix needs a person.
var manualRules = []rule{
	{
		// First: a repeated line must never be matched, booked or fixed twice.
		name: "duplicate-line", kind: KindDuplicateAtPG,
		when: func(f *lineFacts) bool { return f.Duplicate },
		detail: func(f *lineFacts) string {
			return "the PG lists this transaction more than once; ask the PG which line stands"
		},
	},
	{
		name: "sale-amount-differs-from-payment", kind: KindAmountDiffers,
		when: func(f *lineFacts) bool {
			return f.sale() && f.Payment != nil && f.Line.Amount != f.Payment.CardAmount()
		},
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG settled %d, pago's payment is %d by card", f.Line.Amount, f.Payment.CardAmount())
		},
	},
	{
		name: "sale-amount-differs-from-order", kind: KindAmountDiffers,
		when: func(f *lineFacts) bool {
			return f.sale() && f.Payment == nil && f.Order != nil && f.Line.Amount != f.Order.Amount.Amount
		},
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG settled %d for order %s of %d, which pago never confirmed", f.Line.Amount, f.Order.ID, f.Order.Amount.Amount)
		},
	},
	{
		// The PG took money for an order pago has closed another way (paid
		// by another payment, failed, cancelled): a refund is a decision.
		name: "sale-for-closed-order", kind: KindMissingInPago,
		when: func(f *lineFacts) bool {
			return f.sale() && f.Payment == nil && f.Order != nil && f.Line.Amount == f.Order.Amount.Amount &&
				f.Order.Status != OrderPending && f.Order.Status != OrderExpired
		},
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG settled a payment pago never recorded for order %s, which pago has as %s; refund it at the PG or explain it", f.Order.ID, f.Order.Status)
		},
	},
	{
		// pago decided the payment failed; the PG took the money.
		name: "sale-pago-failed", kind: KindStatusDiffers,
		when: func(f *lineFacts) bool {
			return f.sale() && f.paymentIs(PaymentFailed) && f.Line.Amount == f.Payment.CardAmount()
		},
		detail: func(f *lineFacts) string {
			return "the PG settled a payment pago has as FAILED; refund it at the PG or deliver the order"
		},
	},
	{
		name: "cancel-missed-refunds-not-wired", kind: KindMissingInPago,
		when: func(f *lineFacts) bool {
			return f.cancel() && f.settled() && f.Cancelled > f.pagoRefunded() && !f.RefundsWired
		},
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG cancelled %d of this payment in total, pago has %d refunded; record the refund", f.Cancelled, f.pagoRefunded())
		},
	},
	{
		name: "cancel-of-unsettled-payment", kind: KindStatusDiffers,
		when: func(f *lineFacts) bool {
			return f.cancel() && f.Payment != nil && !f.settled()
		},
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG settled a cancel of a payment pago has as %s", f.Payment.Status)
		},
	},
}

// autoFixRules: a known cause fixed by code, through the normal state
// machine with its own idempotency.
var autoFixRules = []rule{
	{
		// pago missed the PG's answer (lost response, crash, the customer
		// never came back) and the probe has not settled it: settle it.
		name: "sale-payment-unsettled", kind: KindStatusDiffers,
		when: func(f *lineFacts) bool {
			return f.sale() && f.paymentIs(PaymentPending, PaymentInDoubt) && f.Line.Amount == f.Payment.CardAmount()
		},
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG settled a sale pago had as %s", f.Payment.Status)
		},
		fix: fixSettlePayment,
	},
	{
		// The PG approved a confirm pago never sent or never heard of (the
		// customer's redirect was lost): pago adopts the payment and
		// settles it; an order that expired meanwhile is refunded at the PG.
		name: "sale-order-never-confirmed", kind: KindMissingInPago,
		when: func(f *lineFacts) bool {
			return f.sale() && f.Payment == nil && f.Order != nil && f.Line.Amount == f.Order.Amount.Amount &&
				(f.Order.Status == OrderPending || f.Order.Status == OrderExpired)
		},
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG settled a sale for order %s, which pago had as %s with no payment", f.Order.ID, f.Order.Status)
		},
		fix: fixAdoptSale,
	},
	{
		name: "fee-differs", kind: KindFeeDiffers,
		when: func(f *lineFacts) bool {
			return f.settled() && f.Line.Fee != f.ExpectedFee && amountsAgree(f)
		},
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG charged a fee of %d, the contract says %d", f.Line.Fee, f.ExpectedFee)
		},
		fix: fixFee,
	},
	{
		name: "cancel-missed-refund", kind: KindMissingInPago,
		when: func(f *lineFacts) bool {
			return f.cancel() && f.settled() && f.Cancelled > f.pagoRefunded() && f.RefundsWired
		},
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG cancelled %d of this payment in total, pago had %d refunded", f.Cancelled, f.pagoRefunded())
		},
		fix: fixMissedRefund,
	},
}

// unknownRules: no known cause; someone has to investigate.
var unknownRules = []rule{
	{
		name: "line-for-unknown-order", kind: KindUnknownAtPG,
		when: func(f *lineFacts) bool { return f.Order == nil && f.Payment == nil },
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG settled %d for order %q, which pago never created", f.Line.Amount, f.Line.OrderID)
		},
	},
	{
		name: "cancel-without-payment", kind: KindUnknownAtPG,
		when: func(f *lineFacts) bool { return f.cancel() && f.Payment == nil },
		detail: func(f *lineFacts) string {
			return fmt.Sprintf("the PG settled a cancel of %d for a payment pago does not have", -f.Line.Amount)
		},
	},
}

// amountsAgree: the line matches pago's payment on amount (a sale: what
// the card paid, the whole payment but a split's wallet part) or on what
// was refunded (a cancel).
func amountsAgree(f *lineFacts) bool {
	if f.Payment == nil {
		return false
	}
	if f.sale() {
		return f.Line.Amount == f.Payment.CardAmount()
	}
	return f.Cancelled <= f.pagoRefunded()
}

// matches tells a line that needs no rule: pago has the payment settled
// with the same amount, and the fee is the contract's.
func matches(f *lineFacts) bool {
	return !f.Duplicate && f.settled() && amountsAgree(f) && f.Line.Fee == f.ExpectedFee
}

// classification is a line's fate: matched, or a rule and its class.
type classification struct {
	matched bool
	rule    rule
	class   MismatchClass
}

// classify finds the line's rule: MANUAL rows first (a duplicate must never
// reach a fix), then AUTO_FIXED, then UNKNOWN; no row → UNKNOWN.
func classify(f *lineFacts) classification {
	if matches(f) {
		return classification{matched: true}
	}
	for _, t := range []struct {
		class MismatchClass
		rules []rule
	}{{ClassManual, manualRules}, {ClassAutoFixed, autoFixRules}, {ClassUnknown, unknownRules}} {
		for _, r := range t.rules {
			if r.when(f) {
				return classification{rule: r, class: t.class}
			}
		}
	}
	return classification{class: ClassUnknown, rule: rule{name: "unexplained", kind: KindStatusDiffers,
		detail: func(f *lineFacts) string {
			status := "none"
			if f.Payment != nil {
				status = string(f.Payment.Status)
			}
			return fmt.Sprintf("no rule explains this line (pago's payment: %s)", status)
		}}}
}

// contractFee is the fee on a signed amount at perMille, rounded half away
// from zero, so a cancel refunds exactly the fee its sale was charged.
func contractFee(amount, perMille int64) int64 {
	if amount < 0 {
		return -contractFee(-amount, perMille)
	}
	return (amount*perMille + 500) / 1000
}
