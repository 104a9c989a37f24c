package payment

import (
	"context"
	"fmt"
)

// BatchQueries read the children of many parents in one query, for the
// GraphQL list loaders and the wallet batches. store.Store implements them;
// with a Store that does not, the service reads one parent at a time.
type BatchQueries interface {
	// OrdersByIDs reads the orders in orderIDs that exist, with their lines.
	OrdersByIDs(ctx context.Context, orderIDs []string) ([]Order, error)
	// PaymentsByOrders lists the payments of every order in orderIDs.
	PaymentsByOrders(ctx context.Context, orderIDs []string) ([]Payment, error)
	// PaymentsByPGKeys reads the payments bound to the PG payment keys in
	// keys that have one.
	PaymentsByPGKeys(ctx context.Context, keys []string) ([]Payment, error)
	// PaymentEventsByPayments lists the events of every payment in
	// paymentIDs, each payment's oldest first.
	PaymentEventsByPayments(ctx context.Context, paymentIDs []string) ([]PaymentEvent, error)
}

// PaymentsByOrders lists the payments of orders the caller already saw, by
// order id; every id is a key, an order without payments an empty list.
func (s *Service) PaymentsByOrders(ctx context.Context, orderIDs []string) (map[string][]Payment, error) {
	out, err := readByParent(ctx, s.store, orderIDs, BatchQueries.PaymentsByOrders, s.store.PaymentsByOrder,
		func(p Payment) string { return p.OrderID })
	if err != nil {
		return nil, fmt.Errorf("payments of %d orders: %w", len(orderIDs), err)
	}
	return out, nil
}

// PaymentEventsByPayments lists the history of payments the caller already
// saw, by payment id; every id is a key.
func (s *Service) PaymentEventsByPayments(ctx context.Context, paymentIDs []string) (map[string][]PaymentEvent, error) {
	out, err := readByParent(ctx, s.store, paymentIDs, BatchQueries.PaymentEventsByPayments, s.store.PaymentEvents,
		func(e PaymentEvent) string { return e.PaymentID })
	if err != nil {
		return nil, fmt.Errorf("events of %d payments: %w", len(paymentIDs), err)
	}
	return out, nil
}

// readByParent reads the children of parents, in one batch read when st
// has it (else one read per parent), grouped by parent; every parent is a
// key.
func readByParent[T any](ctx context.Context, st Queries, parents []string,
	batch func(BatchQueries, context.Context, []string) ([]T, error),
	one func(context.Context, string) ([]T, error),
	parentOf func(T) string,
) (map[string][]T, error) {
	out := make(map[string][]T, len(parents))
	for _, id := range parents {
		out[id] = []T{}
	}
	// One parent is one read either way, and the plain one is cheaper.
	b, ok := st.(BatchQueries)
	if !ok || len(parents) == 1 {
		for _, id := range parents {
			items, err := one(ctx, id)
			if err != nil {
				return nil, err
			}
			out[id] = append(out[id], items...)
		}
		return out, nil
	}
	items, err := batch(b, ctx, parents)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if _, asked := out[parentOf(it)]; asked {
			out[parentOf(it)] = append(out[parentOf(it)], it)
		}
	}
	return out, nil
}
