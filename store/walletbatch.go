package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pago/pago/payment"
)

// WriteWalletPayments implements payment.WalletQueries: one conditional
// UPDATE of the wallet for the whole batch, then one multi-row INSERT per
// table, in the order the foreign keys need.
func (s *Store) WriteWalletPayments(ctx context.Context, w payment.WalletPaymentsWrite) (bool, error) {
	if s.tx == nil {
		return false, errors.New("write wallet payments: outside a transaction (the batch's own writes must commit with it)")
	}
	exec := func(query string, args ...any) (sql.Result, error) { return s.tx.Tx.ExecContext(ctx, query, args...) }
	res, err := exec(`UPDATE wallets SET balance = balance - $1, version = version + $2, updated_at = $3
WHERE id = $4 AND version = $5 AND balance >= $1`, w.Debit(), w.Count(), w.Now.UTC(), w.WalletID, w.Version)
	if err != nil {
		return false, fmt.Errorf("debit wallet %s: %w", w.WalletID, dbErr(err, "wallet"))
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	var lt, le, wt, ps, pe rows
	for _, t := range w.Ledger {
		lt.add(t.ID, t.Kind, nullString(t.OrderID), t.Description, t.CreatedAt.UTC())
		for _, e := range t.Entries {
			le.add(e.ID, t.ID, e.AccountID, e.Amount, t.CreatedAt.UTC())
		}
	}
	for _, t := range w.History {
		wt.add(t.ID, t.WalletID, t.Seq, string(t.Type), t.Amount.Amount, t.BalanceAfter.Amount, nullString(t.OrderID),
			t.LedgerTransactionID, nullString(t.Reason), t.CreatedAt.UTC())
	}
	for _, p := range w.Payments {
		var approved sql.NullTime
		if p.ApprovedAt != nil {
			approved = sql.NullTime{Time: p.ApprovedAt.UTC(), Valid: true}
		}
		ps.add(p.ID, p.OrderID, string(p.Method), string(p.Status), p.Amount.Amount, int64(0), nullString(p.PGPaymentKey),
			nullString(p.PGIdempotencyKey), approved, int64(0), p.CreatedAt.UTC(), p.CreatedAt.UTC())
	}
	for _, e := range w.Events {
		pe.add(e.ID, e.PaymentID, string(e.FromStatus), string(e.ToStatus), e.Source, string(e.Code), e.Message, e.Detail, e.CreatedAt.UTC())
	}
	for _, ins := range []struct {
		table, columns string
		rows           rows
	}{
		{"ledger_transactions", "id, kind, order_id, description, created_at", lt},
		{"ledger_entries", "id, transaction_id, account_id, amount, created_at", le},
		{"wallet_transactions", "id, wallet_id, seq, type, amount, balance_after, order_id, ledger_transaction_id, reason, created_at", wt},
		{"payments", "id, order_id, method, status, amount, refunded_amount, pg_payment_key, pg_idempotency_key, approved_at, version, created_at, updated_at", ps},
		{"payment_events", "id, payment_id, from_status, to_status, source, code, message, detail, created_at", pe},
	} {
		if len(ins.rows.args) == 0 {
			continue
		}
		if _, err := exec("INSERT INTO "+ins.table+" ("+ins.columns+") VALUES "+ins.rows.values.String(), ins.rows.args...); err != nil {
			return false, fmt.Errorf("insert %s: %w", ins.table, dbErr(err, ins.table))
		}
	}
	return true, nil
}

// rows builds a multi-row VALUES list with $N placeholders, which both
// drivers bind (see sqlc.yaml).
type rows struct {
	values strings.Builder
	args   []any
}

func (r *rows) add(vals ...any) {
	if len(r.args) > 0 {
		r.values.WriteString(", ")
	}
	r.values.WriteByte('(')
	for i, v := range vals {
		if i > 0 {
			r.values.WriteString(", ")
		}
		r.args = append(r.args, v)
		r.values.WriteString("$" + strconv.Itoa(len(r.args)))
	}
	r.values.WriteByte(')')
}
