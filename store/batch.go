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
	return batchRead(ctx, orderIDs, s.q.ListPaymentsByOrders, paymentToDomain, "payments")
}

// PaymentEventsByPayments implements payment.BatchQueries.
func (s *Store) PaymentEventsByPayments(ctx context.Context, paymentIDs []string) ([]payment.PaymentEvent, error) {
	return batchRead(ctx, paymentIDs, s.q.ListPaymentEventsByPayments, paymentEventToDomain, "payment events")
}

// WalletsByIDs implements payment.BatchQueries.
func (s *Store) WalletsByIDs(ctx context.Context, walletIDs []string) ([]payment.Wallet, error) {
	return batchRead(ctx, walletIDs, s.q.ListWalletsByIDs, walletToDomain, "wallets")
}

// batchRead runs a batch query for ids (none asked, none read) and converts
// its rows; what names the rows in errors.
func batchRead[R, D any](ctx context.Context, ids []string, query func(context.Context, string) ([]R, error), toDomain func(R) D, what string) ([]D, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	joined, err := joinIDs(ids)
	if err != nil {
		return nil, err
	}
	rows, err := query(ctx, joined)
	if err != nil {
		return nil, dbErr(err, what)
	}
	return mapRows(rows, toDomain), nil
}

// mapRows converts sqlc rows to domain values.
func mapRows[R, D any](rows []R, toDomain func(R) D) []D {
	out := make([]D, len(rows))
	for i, r := range rows {
		out[i] = toDomain(r)
	}
	return out
}
