package payment_test

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/pago/pago/payment"
)

// The refunds of memStore, as sqlc/queries/refunds.sql.

const jobRefund jobKind = "refund"

// InsertRefund implements payment.RefundQueries.
func (st *memStore) InsertRefund(_ context.Context, r payment.Refund) error {
	return st.exec("store.InsertRefund", func(tx *memTx) error {
		if _, ok := st.db.get(tx, "pay/"+r.PaymentID); !ok {
			return &dbError{msg: "insert on refunds violates foreign key to payments: " + r.PaymentID}
		}
		if _, ok := st.db.get(tx, "ord/"+r.OrderID); !ok {
			return &dbError{msg: "insert on refunds violates foreign key to orders: " + r.OrderID}
		}
		if r.Amount.Amount <= 0 {
			return st.db.refuse("new row for refunds violates check constraint refunds_amount_check: %d", r.Amount.Amount)
		}
		r.Status, r.Attempt, r.Version, r.UpdatedAt = payment.RefundPending, 0, 0, r.CreatedAt
		r.SentAt, r.PGTransactionKey, r.LedgerTransactionID, r.FailureCode, r.CompletedAt = nil, "", "", "", nil
		if _, err := st.db.insert(tx, "rfd/"+r.ID, "refunds_pkey", r, false); err != nil {
			return err
		}
		st.db.appendList("refunds", "rfd/"+r.ID)
		st.db.appendList("rfd/"+r.PaymentID, "rfd/"+r.ID)
		return nil
	})
}

// Refund implements payment.RefundQueries.
func (st *memStore) Refund(_ context.Context, id string) (payment.Refund, error) {
	var r payment.Refund
	err := st.exec("store.Refund", func(tx *memTx) error {
		var ok bool
		if r, ok = getRow[payment.Refund](st.db, tx, "rfd/"+id); !ok {
			return notFound("refund")
		}
		return nil
	})
	return r, err
}

// RefundsByPayment implements payment.RefundQueries: ORDER BY id.
func (st *memStore) RefundsByPayment(_ context.Context, paymentID string) ([]payment.Refund, error) {
	var out []payment.Refund
	err := st.exec("store.RefundsByPayment", func(tx *memTx) error {
		out = visible[payment.Refund](st.db, tx, "rfd/"+paymentID)
		slices.SortStableFunc(out, func(a, b payment.Refund) int { return strings.Compare(a.ID, b.ID) })
		return nil
	})
	return out, err
}

// UpdateRefund implements payment.RefundQueries: WHERE id = $id AND version = $version.
func (st *memStore) UpdateRefund(_ context.Context, r payment.Refund, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.UpdateRefund", func(tx *memTx) error {
		var oldKey string
		var err error
		ok, err = st.db.update(tx, "rfd/"+r.ID, func(v any) bool { return v.(payment.Refund).Version == r.Version }, func(v any) (any, error) {
			old := v.(payment.Refund)
			oldKey = old.PGTransactionKey
			n := r
			n.PaymentID, n.OrderID, n.Method, n.Amount, n.Reason, n.RequestedBy, n.CreatedAt =
				old.PaymentID, old.OrderID, old.Method, old.Amount, old.Reason, old.RequestedBy, old.CreatedAt
			n.Version, n.UpdatedAt = old.Version+1, now
			return n, nil
		})
		if err != nil || !ok || r.PGTransactionKey == oldKey {
			return err
		}
		// The unique index on pg_transaction_key: a violation fails the
		// statement (and, as in PostgreSQL, the transaction).
		if oldKey != "" {
			if _, err := st.db.update(tx, "rfd_pgtx/"+oldKey, func(any) bool { return true },
				func(any) (any, error) { return tombstone{}, nil }); err != nil {
				return err
			}
		}
		if r.PGTransactionKey != "" {
			if _, err := st.db.insert(tx, "rfd_pgtx/"+r.PGTransactionKey, "refunds_pg_transaction_key_idx", r.ID, false); err != nil {
				st.db.refused = append(st.db.refused, err.Error())
				ok = false
				return err
			}
		}
		return nil
	})
	return ok, err
}

// RefundOrder implements payment.RefundQueries: WHERE id = $id AND status =
// $from, with the CHECK refunded_amount <= amount.
func (st *memStore) RefundOrder(_ context.Context, id string, from, to payment.OrderStatus, amount int64, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.RefundOrder", func(tx *memTx) error {
		var err error
		ok, err = st.db.update(tx, "ord/"+id, func(v any) bool { return v.(payment.Order).Status == from }, func(v any) (any, error) {
			o := v.(payment.Order)
			o.Status, o.UpdatedAt = to, now
			o.RefundedAmount.Amount += amount
			if o.RefundedAmount.Amount < 0 || o.RefundedAmount.Amount > o.Amount.Amount {
				return nil, st.db.refuse("new row for orders violates check constraint orders_refunded_amount_check: order %s refunded %d of %d",
					o.ID, o.RefundedAmount.Amount, o.Amount.Amount)
			}
			return o, nil
		})
		return err
	})
	return ok, err
}

// CreditWalletPastLimit implements payment.RefundQueries: WHERE id = $id AND version = $version.
func (st *memStore) CreditWalletPastLimit(_ context.Context, id string, version, amount int64, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.CreditWalletPastLimit", func(tx *memTx) error {
		var err error
		ok, err = st.db.update(tx, "wal/"+id, func(v any) bool { return v.(payment.Wallet).Version == version }, func(v any) (any, error) {
			w := v.(payment.Wallet)
			w.Balance.Amount += amount
			w.Version++
			w.UpdatedAt = now
			return w, st.db.checkWallet(w)
		})
		return err
	})
	return ok, err
}

// EnqueueRefund implements payment.RefundQueries.
func (st *memStore) EnqueueRefund(_ context.Context, refundID string, at time.Time) error {
	return st.enqueue("store.EnqueueRefund", &simJob{kind: jobRefund, arg: refundID, at: at, max: 60})
}

// refundViolations are verify.sql's refund checks over what tx sees.
func (st *memStore) refundViolations(tx *memTx, add func(check, format string, args ...any)) {
	db := st.db
	refundWtx := map[string]bool{} // ledger transaction ids of REFUND wallet transactions
	for _, w := range visible[payment.Wallet](db, tx, "wallets") {
		for _, t := range visible[payment.WalletTransaction](db, tx, "wtx/"+w.ID) {
			if t.Type == payment.WalletRefund {
				refundWtx[t.LedgerTransactionID] = true
			}
		}
	}
	perOrder := map[string]int64{}
	for _, p := range visible[payment.Payment](db, tx, "payments") {
		var reserved, done int64
		for _, r := range visible[payment.Refund](db, tx, "rfd/"+p.ID) {
			if r.Status != payment.RefundFailed {
				reserved += r.Amount.Amount
			}
			if r.Status == payment.RefundDone {
				done += r.Amount.Amount
				if r.LedgerTransactionID == "" || (r.Method == payment.MethodCard && r.PGTransactionKey == "") ||
					(r.Method == payment.MethodWallet && !refundWtx[r.LedgerTransactionID]) {
					add("refunds_backed", "refund %s (%s) is DONE without its ledger posting and PG cancel or wallet credit", r.ID, r.Method)
				}
			}
		}
		if reserved > p.Amount.Amount || done != p.RefundedAmount.Amount {
			add("refunds_within_payment", "payment %s amount %d, refunded %d, refunds DONE %d, reserved %d",
				p.ID, p.Amount.Amount, p.RefundedAmount.Amount, done, reserved)
		}
		perOrder[p.OrderID] += p.RefundedAmount.Amount
	}
	for _, o := range visible[payment.Order](db, tx, "orders") {
		r := o.RefundedAmount.Amount
		bad := perOrder[o.ID] != r
		switch o.Status {
		case payment.OrderRefunded:
			bad = bad || r != o.Amount.Amount
		case payment.OrderPartiallyRefunded:
			bad = bad || r == 0 || r >= o.Amount.Amount
		default:
			bad = bad || r != 0
		}
		if bad {
			add("order_refunds_add_up", "order %s is %s, amount %d, refunded %d, its payments refunded %d",
				o.ID, o.Status, o.Amount.Amount, r, perOrder[o.ID])
		}
	}
}

// InsertHold implements payment.RefundQueries, with the unique index on an
// order's OPEN hold.
func (st *memStore) InsertHold(_ context.Context, h payment.Hold) error {
	return st.exec("store.InsertHold", func(tx *memTx) error {
		for _, fk := range []string{"wal/" + h.WalletID, "pay/" + h.PaymentID, "ord/" + h.OrderID, "wtx/" + h.HoldTransactionID} {
			if _, ok := st.db.get(tx, fk); !ok {
				return &dbError{msg: "insert on wallet_holds violates foreign key: " + fk}
			}
		}
		if _, err := st.db.insert(tx, "hld_pay/"+h.PaymentID, "wallet_holds_payment_idx", h.ID, false); err != nil {
			return err
		}
		if _, err := st.db.insert(tx, "hld_open/"+h.OrderID, "wallet_holds_open_order_idx", h.ID, false); err != nil {
			return &dbError{msg: err.Error(), is: payment.ErrSplitUnderWay}
		}
		h.Status, h.ResolvedAt = payment.HoldOpen, nil
		if _, err := st.db.insert(tx, "hld/"+h.ID, "wallet_holds_pkey", h, false); err != nil {
			return err
		}
		st.db.appendList("holds", "hld/"+h.ID)
		st.db.appendList("hld/"+h.OrderID, "hld/"+h.ID)
		return nil
	})
}

// HoldsByOrder implements payment.RefundQueries: ORDER BY id.
func (st *memStore) HoldsByOrder(_ context.Context, orderID string) ([]payment.Hold, error) {
	var out []payment.Hold
	err := st.exec("store.HoldsByOrder", func(tx *memTx) error {
		out = visible[payment.Hold](st.db, tx, "hld/"+orderID)
		slices.SortStableFunc(out, func(a, b payment.Hold) int { return strings.Compare(a.ID, b.ID) })
		return nil
	})
	return out, err
}

// ResolveHold implements payment.RefundQueries: WHERE id = $id AND status = 'OPEN'.
func (st *memStore) ResolveHold(_ context.Context, id string, to payment.HoldStatus, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.ResolveHold", func(tx *memTx) error {
		var orderID string
		var err error
		ok, err = st.db.update(tx, "hld/"+id, func(v any) bool { return v.(payment.Hold).Status == payment.HoldOpen }, func(v any) (any, error) {
			h := v.(payment.Hold)
			orderID = h.OrderID
			h.Status, h.ResolvedAt = to, &now
			return h, nil
		})
		if err != nil || !ok {
			return err
		}
		_, err = st.db.update(tx, "hld_open/"+orderID, func(any) bool { return true }, func(any) (any, error) { return tombstone{}, nil })
		return err
	})
	return ok, err
}

// holdViolations are verify.sql's hold checks over what tx sees; openHeld
// is each wallet's sum of OPEN holds, for wallet_equals_ledger.
func (st *memStore) holdViolations(tx *memTx, add func(check, format string, args ...any)) {
	db := st.db
	for _, h := range visible[payment.Hold](db, tx, "holds") {
		o, _ := getRow[payment.Order](db, tx, "ord/"+h.OrderID)
		p, _ := getRow[payment.Payment](db, tx, "pay/"+h.PaymentID)
		waiting := func(s string) bool { return s == "PENDING" || s == "IN_DOUBT" }
		completed := p.Status == payment.PaymentDone || p.Status == payment.PaymentPartiallyCanceled || p.Status == payment.PaymentCanceled
		if (h.Status == payment.HoldOpen && (!waiting(string(o.Status)) || !waiting(string(p.Status)))) ||
			(h.Status == payment.HoldPosted && !completed) || (h.Status == payment.HoldReleased && completed) {
			add("holds_in_step", "hold %s is %s while its order is %s and its payment %s", h.ID, h.Status, o.Status, p.Status)
		}
	}
}

// openHeld sums each wallet's OPEN holds.
func (st *memStore) openHeld(tx *memTx) map[string]int64 {
	out := map[string]int64{}
	for _, h := range visible[payment.Hold](st.db, tx, "holds") {
		if h.Status == payment.HoldOpen {
			out[h.WalletID] += h.Amount.Amount
		}
	}
	return out
}

// holdStatusOf is the hold a HOLD wallet transaction placed, as it stands.
func (st *memStore) holdStatusOf(tx *memTx, wtxID string) payment.HoldStatus {
	for _, h := range visible[payment.Hold](st.db, tx, "holds") {
		if h.HoldTransactionID == wtxID {
			return h.Status
		}
	}
	return ""
}
