package store

import (
	"context"
	"fmt"

	"github.com/pago/pago/payment"
)

// Violations implements payment.Queries: every invariant query, run in one
// read so the checks see one state of the database.
func (s *Store) Violations(ctx context.Context) ([]payment.Violation, error) {
	var out []payment.Violation
	add := func(check, format string, args ...any) {
		out = append(out, payment.Violation{Check: check, Detail: fmt.Sprintf(format, args...)})
	}
	err := s.InTx(ctx, func(q payment.Queries) error {
		tx := q.(*Store).q
		unbalanced, err := tx.UnbalancedLedgerTransactions(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range unbalanced {
			add("ledger_balanced", "ledger transaction %s sums to %d", r.TransactionID, r.Total)
		}
		offLedger, err := tx.WalletsOffLedger(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range offLedger {
			add("wallet_equals_ledger", "wallet %s balance %d, ledger account sums to %d, open holds %d", r.ID, r.Balance, r.LedgerTotal, r.Held)
		}
		offHistory, err := tx.WalletsOffHistory(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range offHistory {
			add("wallet_equals_history", "wallet %s balance %d, last transaction says %d", r.ID, r.Balance, r.HistoryBalance)
		}
		stock, err := tx.StockMismatches(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range stock {
			add("stock_adds_up", "product %s: stock %d + held %d != supplied %d", r.ID, r.Stock, r.Held, r.Supplied)
		}
		paid, err := tx.PaidOrdersWithoutPayment(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range paid {
			add("paid_orders_paid", "order %s amount %d, completed payments %d", r.ID, r.Amount, r.Paid)
		}
		unpaid, err := tx.UnpaidOrdersWithPayment(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range unpaid {
			add("unpaid_orders_unpaid", "order %s is %s but payment %s is DONE", r.ID, r.Status, r.PaymentID)
		}
		clearing, err := tx.ClearingOffSettlement(ctx)
		if err != nil {
			return err
		}
		for _, r := range clearing {
			add("clearing_equals_owed", "PG payment %s: PG clearing holds %d for its settled lines, the PG still owes %d",
				r.PaymentKey, -r.Clearing, r.Owed)
		}
		holds, err := tx.HoldsOutOfStep(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range holds {
			add("holds_in_step", "hold %s is %s while its order is %s and its payment %s", r.ID, r.Status, r.OrderStatus, r.PaymentStatus)
		}
		over, err := tx.PaymentsOverRefunded(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range over {
			add("refunds_within_payment", "payment %s amount %d, refunded %d, refunds DONE %d, reserved %d",
				r.ID, r.Amount, r.RefundedAmount, r.Done, r.Reserved)
		}
		orderRefunds, err := tx.OrdersRefundMismatch(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range orderRefunds {
			add("order_refunds_add_up", "order %s is %s, amount %d, refunded %d, its payments refunded %d",
				r.ID, r.Status, r.Amount, r.RefundedAmount, r.PaymentsRefunded)
		}
		unbacked, err := tx.DoneRefundsUnbacked(ctx)
		if err != nil {
			return dbErr(err, "row")
		}
		for _, r := range unbacked {
			add("refunds_backed", "refund %s (%s) is DONE without its ledger posting and PG cancel or wallet credit", r.ID, r.Method)
		}
		return nil
	})
	return out, err
}
