package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/pago/pago/payment"
)

var _ payment.BatchQueries = (*Store)(nil)

// idWidth is the length of every id NewID makes (3-letter prefix, "_", 26
// digits); the batch queries split their id list at this width.
const idWidth = 30

// joinIDs packs ids for the batch queries. An id of another width cannot be
// pago's, and would shift every id after it, so it is refused.
func joinIDs(ids []string) (string, error) {
	var b strings.Builder
	b.Grow(len(ids) * idWidth)
	for _, id := range ids {
		if len(id) != idWidth {
			return "", fmt.Errorf("batch read: id %q is not %d characters", id, idWidth)
		}
		b.WriteString(id)
	}
	return b.String(), nil
}

// PaymentsByOrders implements payment.BatchQueries.
func (s *Store) PaymentsByOrders(ctx context.Context, orderIDs []string) ([]payment.Payment, error) {
	if len(orderIDs) == 0 {
		return nil, nil
	}
	ids, err := joinIDs(orderIDs)
	if err != nil {
		return nil, err
	}
	rows, err := s.q.ListPaymentsByOrders(ctx, ids)
	if err != nil {
		return nil, dbErr(err, "payments")
	}
	return mapRows(rows, paymentToDomain), nil
}

// PaymentEventsByPayments implements payment.BatchQueries.
func (s *Store) PaymentEventsByPayments(ctx context.Context, paymentIDs []string) ([]payment.PaymentEvent, error) {
	if len(paymentIDs) == 0 {
		return nil, nil
	}
	ids, err := joinIDs(paymentIDs)
	if err != nil {
		return nil, err
	}
	rows, err := s.q.ListPaymentEventsByPayments(ctx, ids)
	if err != nil {
		return nil, dbErr(err, "payment events")
	}
	return mapRows(rows, paymentEventToDomain), nil
}

// WalletsByIDs implements payment.BatchQueries.
func (s *Store) WalletsByIDs(ctx context.Context, walletIDs []string) ([]payment.Wallet, error) {
	if len(walletIDs) == 0 {
		return nil, nil
	}
	ids, err := joinIDs(walletIDs)
	if err != nil {
		return nil, err
	}
	rows, err := s.q.ListWalletsByIDs(ctx, ids)
	if err != nil {
		return nil, dbErr(err, "wallets")
	}
	return mapRows(rows, walletToDomain), nil
}

// mapRows converts sqlc rows to domain values.
func mapRows[R, D any](rows []R, toDomain func(R) D) []D {
	out := make([]D, len(rows))
	for i, r := range rows {
		out[i] = toDomain(r)
	}
	return out
}
