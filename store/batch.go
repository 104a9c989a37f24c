package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/pgqueries"
	"github.com/pago/pago/store/queries"
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
	read := byEngine(s, s.q.ListPaymentsByOrders, s.pq.ListPaymentsByOrders, func(r pgqueries.Payment) queries.Payment { return queries.Payment(r) })
	return batchRead(ctx, orderIDs, read, paymentToDomain, "payments")
}

// PaymentEventsByPayments implements payment.BatchQueries.
func (s *Store) PaymentEventsByPayments(ctx context.Context, paymentIDs []string) ([]payment.PaymentEvent, error) {
	read := byEngine(s, s.q.ListPaymentEventsByPayments, s.pq.ListPaymentEventsByPayments,
		func(r pgqueries.PaymentEvent) queries.PaymentEvent { return queries.PaymentEvent(r) })
	return batchRead(ctx, paymentIDs, read, paymentEventToDomain, "payment events")
}

// byEngine is a batch query in the engine's form: on PostgreSQL its own
// (an id array, store/pgqueries), whose rows convert to the portable
// query's; elsewhere the portable one, given the ids joined (joinIDs).
func byEngine[R, P any](s *Store, portable func(context.Context, string) ([]R, error), postgres func(context.Context, []string) ([]P, error),
	row func(P) R) func(context.Context, []string) ([]R, error) {
	if s.engine == Postgres {
		return func(ctx context.Context, ids []string) ([]R, error) {
			rows, err := postgres(ctx, ids)
			return mapRows(rows, row), err
		}
	}
	return func(ctx context.Context, ids []string) ([]R, error) {
		joined, err := joinIDs(ids)
		if err != nil {
			return nil, err
		}
		return portable(ctx, joined)
	}
}

// batchRead runs a batch query for ids (none asked, none read) and converts
// its rows; what names the rows in errors.
func batchRead[R, D any](ctx context.Context, ids []string, query func(context.Context, []string) ([]R, error), toDomain func(R) D, what string) ([]D, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := query(ctx, ids)
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
