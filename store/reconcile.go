package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/queries"
)

var _ payment.ReconcileStore = (*Store)(nil)

// InReconcileTx implements payment.ReconcileStore.
func (s *Store) InReconcileTx(ctx context.Context, fn func(q payment.ReconcileTx) error) error {
	return s.InTx(ctx, func(q payment.Queries) error { return fn(q.(*Store)) })
}

// StartRun implements payment.ReconcileQueries.
func (s *Store) StartRun(ctx context.Context, id, date string, now time.Time) (payment.ReconciliationRun, error) {
	row, err := s.q.StartReconciliationRun(ctx, queries.StartReconciliationRunParams{ID: id, SoldDate: date, StartedAt: now.UTC()})
	if err != nil {
		return payment.ReconciliationRun{}, err
	}
	return runToDomain(row), nil
}

// FinishRun implements payment.ReconcileQueries.
func (s *Store) FinishRun(ctx context.Context, r payment.ReconciliationRun) error {
	return s.q.FinishReconciliationRun(ctx, queries.FinishReconciliationRunParams{
		ID: r.ID, Status: string(r.Status), FinishedAt: nullTime(r.FinishedAt), Checked: r.Checked, Matched: r.Matched,
		MismatchCount: r.MismatchCount, AutoFixed: r.AutoFixed, ClearingBalance: r.ClearingBalance, PgOwes: r.PGOwes,
		Error: r.Error,
	})
}

// Run implements payment.ReconcileQueries.
func (s *Store) Run(ctx context.Context, id string) (payment.ReconciliationRun, error) {
	row, err := s.q.GetReconciliationRun(ctx, id)
	if err != nil {
		return payment.ReconciliationRun{}, dbErr(err, "reconciliation run")
	}
	return runToDomain(row), nil
}

// Runs implements payment.ReconcileQueries.
func (s *Store) Runs(ctx context.Context, beforeDate string, limit int) ([]payment.ReconciliationRun, error) {
	rows, err := s.q.ListReconciliationRuns(ctx, queries.ListReconciliationRunsParams{Before: beforeDate, Lim: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]payment.ReconciliationRun, len(rows))
	for i, r := range rows {
		out[i] = runToDomain(r)
	}
	return out, nil
}

func runToDomain(r queries.ReconciliationRun) payment.ReconciliationRun {
	return payment.ReconciliationRun{
		ID: r.ID, Date: r.SoldDate, Status: payment.RunStatus(r.Status), StartedAt: r.StartedAt.UTC(),
		FinishedAt: timePtr(r.FinishedAt), Checked: r.Checked, Matched: r.Matched, MismatchCount: r.MismatchCount,
		AutoFixed: r.AutoFixed, ClearingBalance: r.ClearingBalance, PGOwes: r.PgOwes, Error: r.Error,
	}
}

// UpsertMismatch implements payment.ReconcileQueries.
func (s *Store) UpsertMismatch(ctx context.Context, m payment.Mismatch) error {
	return s.q.UpsertMismatch(ctx, queries.UpsertMismatchParams{
		ID: m.ID, RunID: m.RunID, SoldDate: m.Date, Kind: string(m.Kind), Class: string(m.Class), Status: string(m.Status),
		Rule: m.Rule, OrderID: nullString(m.OrderID), PaymentKey: m.PaymentKey, TransactionKey: m.TransactionKey,
		PagoAmount: nullInt(m.PagoAmount), PgAmount: nullInt(m.PGAmount), Detail: m.Detail, LastSeenRun: m.LastSeenRun,
		Resolution: nullString(m.Resolution), ResolvedBy: nullString(m.ResolvedBy), ResolvedAt: nullTime(m.ResolvedAt),
		Now: m.UpdatedAt.UTC(),
	})
}

// ResolveUnseenMismatches implements payment.ReconcileQueries.
func (s *Store) ResolveUnseenMismatches(ctx context.Context, date, runStamp, resolution string, now time.Time) (int64, error) {
	return s.q.ResolveUnseenMismatches(ctx, queries.ResolveUnseenMismatchesParams{
		Resolution: nullString(resolution), Now: sql.NullTime{Time: now.UTC(), Valid: true}, SoldDate: date, LastSeenRun: runStamp,
	})
}

// Mismatch implements payment.ReconcileQueries.
func (s *Store) Mismatch(ctx context.Context, id string) (payment.Mismatch, error) {
	row, err := s.q.GetMismatch(ctx, id)
	if err != nil {
		return payment.Mismatch{}, dbErr(err, "mismatch")
	}
	return mismatchToDomain(queries.ListMismatchesRow(row)), nil
}

// Mismatches implements payment.ReconcileQueries.
func (s *Store) Mismatches(ctx context.Context, f payment.MismatchFilter, before string, limit int) ([]payment.Mismatch, error) {
	rows, err := s.q.ListMismatches(ctx, queries.ListMismatchesParams{
		Status: string(f.Status), Class: string(f.Class), SoldDate: f.Date, Before: before, Lim: int32(limit),
	})
	if err != nil {
		return nil, err
	}
	out := make([]payment.Mismatch, len(rows))
	for i, r := range rows {
		out[i] = mismatchToDomain(r)
	}
	return out, nil
}

func mismatchToDomain(r queries.ListMismatchesRow) payment.Mismatch {
	return payment.Mismatch{
		ID: r.ID, RunID: r.RunID, Date: r.SoldDate, Kind: payment.MismatchKind(r.Kind), Class: payment.MismatchClass(r.Class),
		Status: payment.MismatchStatus(r.Status), Rule: r.Rule, OrderID: r.OrderID.String, PaymentKey: r.PaymentKey,
		TransactionKey: r.TransactionKey, PagoAmount: intPtr(r.PagoAmount), PGAmount: intPtr(r.PgAmount), Detail: r.Detail,
		Resolution: r.Resolution.String, ResolvedBy: r.ResolvedBy.String, ResolvedAt: timePtr(r.ResolvedAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// ResolveMismatch implements payment.ReconcileQueries.
func (s *Store) ResolveMismatch(ctx context.Context, id, by, note string, now time.Time) (bool, error) {
	n, err := s.q.ResolveMismatch(ctx, queries.ResolveMismatchParams{
		ID: id, ResolvedBy: nullString(by), Resolution: nullString(note), Now: sql.NullTime{Time: now.UTC(), Valid: true},
	})
	return n == 1, err
}

// CountMismatches implements payment.ReconcileQueries.
func (s *Store) CountMismatches(ctx context.Context, date string) ([]payment.MismatchCount, error) {
	rows, err := s.q.CountMismatches(ctx, date)
	if err != nil {
		return nil, err
	}
	out := make([]payment.MismatchCount, len(rows))
	for i, r := range rows {
		out[i] = payment.MismatchCount{Class: payment.MismatchClass(r.Class), Kind: payment.MismatchKind(r.Kind),
			Status: payment.MismatchStatus(r.Status), N: r.N}
	}
	return out, nil
}

// InsertSettlementLine implements payment.ReconcileQueries.
func (s *Store) InsertSettlementLine(ctx context.Context, l payment.BookedLine) (bool, error) {
	n, err := s.q.InsertSettlementLine(ctx, queries.InsertSettlementLineParams{
		PaymentKey: l.PaymentKey, TransactionKey: l.TransactionKey, SoldDate: l.SoldDate, OrderID: l.OrderID,
		Amount: l.Amount, Fee: l.Fee, PayOut: l.PayOut, PaidOutDate: l.PaidOutDate,
		PagoLedgerTx: nullString(l.PagoLedgerTx), FeeLedgerTx: nullString(l.FeeLedgerTx), CreatedAt: l.CreatedAt.UTC(),
	})
	if err != nil || n != 1 {
		return false, err
	}
	if l.PayoutLedgerTx != "" {
		return s.SetSettlementPayout(ctx, l.PaymentKey, l.TransactionKey, l.PayoutLedgerTx)
	}
	return true, nil
}

// SettlementLine implements payment.ReconcileQueries.
func (s *Store) SettlementLine(ctx context.Context, paymentKey, transactionKey string) (payment.BookedLine, error) {
	row, err := s.q.GetSettlementLine(ctx, queries.GetSettlementLineParams{PaymentKey: paymentKey, TransactionKey: transactionKey})
	if err != nil {
		return payment.BookedLine{}, dbErr(err, "settlement line")
	}
	return bookedToDomain(row), nil
}

// SettlementLinesByPayment implements payment.ReconcileQueries.
func (s *Store) SettlementLinesByPayment(ctx context.Context, paymentKey string) ([]payment.BookedLine, error) {
	rows, err := s.q.ListSettlementLinesByPayment(ctx, paymentKey)
	if err != nil {
		return nil, err
	}
	out := make([]payment.BookedLine, len(rows))
	for i, r := range rows {
		out[i] = bookedToDomain(r)
	}
	return out, nil
}

func bookedToDomain(r queries.SettlementLine) payment.BookedLine {
	return payment.BookedLine{
		SettlementLine: payment.SettlementLine{PaymentKey: r.PaymentKey, TransactionKey: r.TransactionKey, OrderID: r.OrderID,
			Amount: r.Amount, Fee: r.Fee, PayOut: r.PayOut, SoldDate: r.SoldDate, PaidOutDate: r.PaidOutDate},
		PagoLedgerTx: r.PagoLedgerTx.String, FeeLedgerTx: r.FeeLedgerTx.String, PayoutLedgerTx: r.PayoutLedgerTx.String,
		CreatedAt: r.CreatedAt.UTC(),
	}
}

// SetSettlementPayout implements payment.ReconcileQueries.
func (s *Store) SetSettlementPayout(ctx context.Context, paymentKey, transactionKey, ledgerTx string) (bool, error) {
	n, err := s.q.SetSettlementPayout(ctx, queries.SetSettlementPayoutParams{
		PaymentKey: paymentKey, TransactionKey: transactionKey, PayoutLedgerTx: nullString(ledgerTx),
	})
	return n == 1, err
}

// SoldDatesWithPayoutsDue implements payment.ReconcileQueries.
func (s *Store) SoldDatesWithPayoutsDue(ctx context.Context, today string) ([]string, error) {
	return s.q.SoldDatesWithPayoutsDue(ctx, today)
}

// ClearingByPaymentKey implements payment.ReconcileQueries.
func (s *Store) ClearingByPaymentKey(ctx context.Context, date string) ([]payment.ClearingPosition, error) {
	rows, err := s.q.ClearingByPaymentKey(ctx, date)
	if err != nil {
		return nil, err
	}
	out := make([]payment.ClearingPosition, len(rows))
	for i, r := range rows {
		out[i] = payment.ClearingPosition{PaymentKey: r.PaymentKey, Clearing: r.Clearing, Owed: r.Owed}
	}
	return out, nil
}

// CardPaymentsApproved implements payment.ReconcileQueries.
func (s *Store) CardPaymentsApproved(ctx context.Context, from, until time.Time) ([]payment.Payment, error) {
	rows, err := s.q.ListCardPaymentsApproved(ctx, queries.ListCardPaymentsApprovedParams{
		ApprovedFrom: sql.NullTime{Time: from.UTC(), Valid: true}, ApprovedUntil: sql.NullTime{Time: until.UTC(), Valid: true},
	})
	if err != nil {
		return nil, err
	}
	out := make([]payment.Payment, len(rows))
	for i, r := range rows {
		out[i] = paymentToDomain(queries.Payment{ID: r.ID, OrderID: r.OrderID, Method: r.Method, Status: r.Status,
			Amount: r.Amount, RefundedAmount: r.RefundedAmount, PgPaymentKey: r.PgPaymentKey, ApprovedAt: r.ApprovedAt,
			Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, PgIdempotencyKey: r.PgIdempotencyKey})
	}
	return out, nil
}

// OrderClearingPostings implements payment.ReconcileQueries.
func (s *Store) OrderClearingPostings(ctx context.Context, orderID string) ([]payment.ClearingPosting, error) {
	rows, err := s.q.OrderClearingPostings(ctx, nullString(orderID))
	if err != nil {
		return nil, err
	}
	out := make([]payment.ClearingPosting, len(rows))
	for i, r := range rows {
		out[i] = payment.ClearingPosting{LedgerTxID: r.ID, Kind: r.Kind, Clearing: r.Clearing}
	}
	return out, nil
}

func nullInt(v *int64) sql.NullInt64 {
	if v == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *v, Valid: true}
}

func intPtr(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}
