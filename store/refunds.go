package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/riverqueue/river"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/queries"
	"github.com/pago/pago/worker"
)

// InsertRefund implements payment.RefundQueries.
func (s *Store) InsertRefund(ctx context.Context, r payment.Refund) error {
	return dbErr(s.q.InsertRefund(ctx, queries.InsertRefundParams{
		ID: r.ID, PaymentID: r.PaymentID, OrderID: r.OrderID, Method: string(r.Method), Amount: r.Amount.Amount,
		Currency: string(r.Amount.Currency), Reason: r.Reason, RequestedBy: r.RequestedBy, CreatedAt: r.CreatedAt.UTC(),
	}), "row")
}

// Refund implements payment.RefundQueries.
func (s *Store) Refund(ctx context.Context, id string) (payment.Refund, error) {
	row, err := s.q.GetRefund(ctx, id)
	if err != nil {
		return payment.Refund{}, dbErr(err, "refund")
	}
	return refundToDomain(row), nil
}

// RefundsByPayment implements payment.RefundQueries.
func (s *Store) RefundsByPayment(ctx context.Context, paymentID string) ([]payment.Refund, error) {
	rows, err := s.q.ListRefundsByPayment(ctx, paymentID)
	if err != nil {
		return nil, dbErr(err, "row")
	}
	out := make([]payment.Refund, len(rows))
	for i, r := range rows {
		out[i] = refundToDomain(r)
	}
	return out, nil
}

func refundToDomain(r queries.Refund) payment.Refund {
	return payment.Refund{
		ID: r.ID, PaymentID: r.PaymentID, OrderID: r.OrderID, Method: payment.PaymentMethod(r.Method),
		Amount: payment.Money{Amount: r.Amount, Currency: payment.Currency(r.Currency)}, Status: payment.RefundStatus(r.Status),
		Reason: r.Reason, RequestedBy: r.RequestedBy, Attempt: r.Attempt, SentAt: timePtr(r.SentAt),
		PGTransactionKey: r.PgTransactionKey.String, LedgerTransactionID: r.LedgerTransactionID.String, FailureCode: r.FailureCode,
		Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CompletedAt: timePtr(r.CompletedAt),
	}
}

// UpdateRefund implements payment.RefundQueries.
func (s *Store) UpdateRefund(ctx context.Context, r payment.Refund, now time.Time) (bool, error) {
	n, err := s.q.UpdateRefund(ctx, queries.UpdateRefundParams{
		ID: r.ID, Version: r.Version, Status: string(r.Status), Attempt: r.Attempt, SentAt: nullTime(r.SentAt),
		PgTransactionKey: nullString(r.PGTransactionKey), LedgerTransactionID: nullString(r.LedgerTransactionID),
		FailureCode: r.FailureCode, CompletedAt: nullTime(r.CompletedAt), Now: now.UTC(),
	})
	return n == 1, dbErr(err, "refund")
}

// RefundOrder implements payment.RefundQueries.
func (s *Store) RefundOrder(ctx context.Context, id string, from, to payment.OrderStatus, amount int64, now time.Time) (bool, error) {
	n, err := s.q.RefundOrder(ctx, queries.RefundOrderParams{ID: id, FromStatus: string(from), ToStatus: string(to), Amount: amount, Now: now.UTC()})
	return n == 1, dbErr(err, "row")
}

// CreditWalletPastLimit implements payment.RefundQueries.
func (s *Store) CreditWalletPastLimit(ctx context.Context, id string, version, amount int64, now time.Time) (bool, error) {
	n, err := s.q.CreditWalletPastLimit(ctx, queries.CreditWalletPastLimitParams{ID: id, Version: version, Amount: amount, Now: now.UTC()})
	return n == 1, dbErr(err, "row")
}

// EnqueueRefund implements payment.RefundQueries. Not unique, like the
// probe: carrying out a refund twice is a no-op the second time.
func (s *Store) EnqueueRefund(ctx context.Context, refundID string, at time.Time) error {
	return s.insertJob(ctx, worker.RefundArgs{RefundID: refundID}, &river.InsertOpts{
		ScheduledAt: at, MaxAttempts: worker.RefundMaxAttempts,
	})
}

// InsertHold implements payment.RefundQueries.
func (s *Store) InsertHold(ctx context.Context, h payment.Hold) error {
	return dbErr(s.q.InsertHold(ctx, queries.InsertHoldParams{
		ID: h.ID, WalletID: h.WalletID, PaymentID: h.PaymentID, OrderID: h.OrderID, Amount: h.Amount.Amount,
		HoldTransactionID: h.HoldTransactionID, CreatedAt: h.CreatedAt.UTC(),
	}), "row")
}

// HoldsByOrder implements payment.RefundQueries.
func (s *Store) HoldsByOrder(ctx context.Context, orderID string) ([]payment.Hold, error) {
	rows, err := s.q.ListHoldsByOrder(ctx, orderID)
	if err != nil {
		return nil, dbErr(err, "row")
	}
	out := make([]payment.Hold, len(rows))
	for i, r := range rows {
		out[i] = payment.Hold{ID: r.ID, WalletID: r.WalletID, PaymentID: r.PaymentID, OrderID: r.OrderID, Amount: payment.Won(r.Amount),
			Status: payment.HoldStatus(r.Status), HoldTransactionID: r.HoldTransactionID, CreatedAt: r.CreatedAt.UTC(), ResolvedAt: timePtr(r.ResolvedAt)}
	}
	return out, nil
}

// ResolveHold implements payment.RefundQueries.
func (s *Store) ResolveHold(ctx context.Context, id string, to payment.HoldStatus, now time.Time) (bool, error) {
	n, err := s.q.ResolveHold(ctx, queries.ResolveHoldParams{ID: id, Status: string(to), Now: sql.NullTime{Time: now.UTC(), Valid: true}})
	return n == 1, dbErr(err, "row")
}
