package payment

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// ruleCase is a line and what pago has for it, and the rule that must
// classify it ("" for a match).
type ruleCase struct {
	rule  string
	class MismatchClass
	facts lineFacts
}

func order(status OrderStatus, amount int64) *Order {
	return &Order{ID: "ord_01", Status: status, Amount: Won(amount)}
}

func pay(status PaymentStatus, amount, refunded int64) *Payment {
	return &Payment{ID: "pay_01", OrderID: "ord_01", Status: status, Amount: Won(amount), RefundedAmount: Won(refunded)}
}

func sale(amount, fee int64) SettlementLine {
	return SettlementLine{PaymentKey: "pk", TransactionKey: "tx1", OrderID: "ord_01", Amount: amount, Fee: fee, PayOut: amount - fee}
}

func cancelLine(amount, fee int64) SettlementLine {
	return SettlementLine{PaymentKey: "pk", TransactionKey: "tx2", OrderID: "ord_01", Amount: -amount, Fee: -fee, PayOut: -amount + fee}
}

// ruleCases has one case per row of every rule table (checked by
// TestEveryRuleHasACase), plus the matches and the fallback.
var ruleCases = []ruleCase{
	{"", "", lineFacts{Line: sale(10_000, 320), Order: order(OrderPaid, 10_000), Payment: pay(PaymentDone, 10_000, 0), ExpectedFee: 320}},
	{"", "", lineFacts{Line: cancelLine(10_000, 320), Order: order(OrderRefunded, 10_000), Payment: pay(PaymentCanceled, 10_000, 10_000),
		Cancelled: 10_000, ExpectedFee: -320}},
	{"", "", lineFacts{Line: sale(10_000, 320), Order: order(OrderFailed, 10_000), Payment: pay(PaymentCanceled, 10_000, 0), ExpectedFee: 320}},

	{"duplicate-line", ClassManual, lineFacts{Line: sale(10_000, 320), Duplicate: true, Order: order(OrderPaid, 10_000),
		Payment: pay(PaymentDone, 10_000, 0), ExpectedFee: 320}},
	{"duplicate-line", ClassManual, lineFacts{Line: sale(10_000, 320), Duplicate: true, Order: order(OrderPending, 10_000), ExpectedFee: 320}},
	{"sale-amount-differs-from-payment", ClassManual, lineFacts{Line: sale(10_100, 320), Order: order(OrderPaid, 10_000),
		Payment: pay(PaymentDone, 10_000, 0), ExpectedFee: 323}},
	{"sale-amount-differs-from-payment", ClassManual, lineFacts{Line: sale(10_100, 320), Order: order(OrderInDoubt, 10_000),
		Payment: pay(PaymentInDoubt, 10_000, 0), ExpectedFee: 323}},
	{"sale-amount-differs-from-order", ClassManual, lineFacts{Line: sale(10_100, 323), Order: order(OrderPending, 10_000), ExpectedFee: 323}},
	{"sale-for-closed-order", ClassManual, lineFacts{Line: sale(10_000, 320), Order: order(OrderPaid, 10_000), ExpectedFee: 320}},
	{"sale-for-closed-order", ClassManual, lineFacts{Line: sale(10_000, 320), Order: order(OrderCanceled, 10_000), ExpectedFee: 320}},
	{"sale-pago-failed", ClassManual, lineFacts{Line: sale(10_000, 320), Order: order(OrderFailed, 10_000),
		Payment: pay(PaymentFailed, 10_000, 0), ExpectedFee: 320}},
	{"cancel-missed-refunds-not-wired", ClassManual, lineFacts{Line: cancelLine(10_000, 320), Order: order(OrderPaid, 10_000),
		Payment: pay(PaymentDone, 10_000, 0), Cancelled: 10_000, ExpectedFee: -320}},
	{"cancel-missed-refunds-not-wired", ClassManual, lineFacts{Line: cancelLine(3_000, 96), Order: order(OrderPartiallyRefunded, 10_000),
		Payment: pay(PaymentPartiallyCanceled, 10_000, 2_000), Cancelled: 5_000, ExpectedFee: -96}},
	{"cancel-of-unsettled-payment", ClassManual, lineFacts{Line: cancelLine(10_000, 320), Order: order(OrderFailed, 10_000),
		Payment: pay(PaymentFailed, 10_000, 0), Cancelled: 10_000, ExpectedFee: -320}},

	{"sale-payment-unsettled", ClassAutoFixed, lineFacts{Line: sale(10_000, 320), Order: order(OrderInDoubt, 10_000),
		Payment: pay(PaymentInDoubt, 10_000, 0), ExpectedFee: 320}},
	{"sale-payment-unsettled", ClassAutoFixed, lineFacts{Line: sale(10_000, 320), Order: order(OrderPending, 10_000),
		Payment: pay(PaymentPending, 10_000, 0), ExpectedFee: 320}},
	{"sale-order-never-confirmed", ClassAutoFixed, lineFacts{Line: sale(10_000, 320), Order: order(OrderPending, 10_000), ExpectedFee: 320}},
	{"sale-order-never-confirmed", ClassAutoFixed, lineFacts{Line: sale(10_000, 320), Order: order(OrderExpired, 10_000), ExpectedFee: 320}},
	{"fee-differs", ClassAutoFixed, lineFacts{Line: sale(10_000, 330), Order: order(OrderPaid, 10_000),
		Payment: pay(PaymentDone, 10_000, 0), ExpectedFee: 320}},
	{"fee-differs", ClassAutoFixed, lineFacts{Line: cancelLine(10_000, 330), Order: order(OrderRefunded, 10_000),
		Payment: pay(PaymentCanceled, 10_000, 10_000), Cancelled: 10_000, ExpectedFee: -320}},
	{"cancel-missed-refund", ClassAutoFixed, lineFacts{Line: cancelLine(10_000, 320), Order: order(OrderPaid, 10_000),
		Payment: pay(PaymentDone, 10_000, 0), Cancelled: 10_000, ExpectedFee: -320, RefundsWired: true}},

	{"line-for-unknown-order", ClassUnknown, lineFacts{Line: sale(7_700, 246), ExpectedFee: 246}},
	{"line-for-unknown-order", ClassUnknown, lineFacts{Line: cancelLine(7_700, 246), ExpectedFee: -246}},
	{"cancel-without-payment", ClassUnknown, lineFacts{Line: cancelLine(10_000, 320), Order: order(OrderPaid, 10_000), ExpectedFee: -320}},
	// A status no rule knows (one a future change adds, say) is left to a person.
	{"unexplained", ClassUnknown, lineFacts{Line: sale(10_000, 320), Order: order(OrderPaid, 10_000),
		Payment: pay(PaymentStatus("AUTHORIZED"), 10_000, 0), ExpectedFee: 320}},
}

func TestRuleTables(t *testing.T) {
	for _, c := range ruleCases {
		name := c.rule
		if name == "" {
			name = "matches"
		}
		t.Run(name, func(t *testing.T) {
			f := c.facts
			got := classify(&f)
			if c.rule == "" {
				require.True(t, got.matched, "classified as %s/%s", got.class, got.rule.name)
				return
			}
			require.False(t, got.matched)
			require.Equal(t, c.rule, got.rule.name)
			require.Equal(t, c.class, got.class)
			require.NotEmpty(t, got.rule.detail(&f))
			require.Equal(t, c.class == ClassAutoFixed, got.rule.fix != nil, "AUTO_FIXED rows, and only they, have a fix")
		})
	}
}

// Adding a rule is adding a row, and a case here.
func TestEveryRuleHasACase(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range ruleCases {
		covered[c.rule] = true
	}
	for _, table := range [][]rule{manualRules, autoFixRules, unknownRules} {
		for _, r := range table {
			require.True(t, covered[r.name], "rule %q has no case in ruleCases", r.name)
			require.NotEmpty(t, r.kind, r.name)
		}
	}
}

func TestContractFee(t *testing.T) {
	for _, c := range []struct{ amount, fee int64 }{{10_000, 320}, {13_000, 416}, {1_000, 32}, {33_333, 1_067}, {15, 0}, {16, 1}, {-16, -1}, {-33_333, -1_067}} {
		require.Equal(t, c.fee, contractFee(c.amount, 32), "amount %d", c.amount)
	}
}
