package payment

import (
	"context"
	"fmt"
)

// BatchQueries read the children of many parents in one query, for the
// GraphQL list loaders. store.Store implements them; with a Store that does
// not, the service reads one parent at a time.
type BatchQueries interface {
	// PaymentsByOrders lists the payments of every order in orderIDs.
	PaymentsByOrders(ctx context.Context, orderIDs []string) ([]Payment, error)
	// PaymentEventsByPayments lists the events of every payment in
	// paymentIDs, each payment's oldest first.
	PaymentEventsByPayments(ctx context.Context, paymentIDs []string) ([]PaymentEvent, error)
}

// PaymentsByOrders lists the payments of orders the caller already saw, by
// order id; every id is a key, an order without payments an empty list.
func (s *Service) PaymentsByOrders(ctx context.Context, orderIDs []string) (map[string][]Payment, error) {
	out := make(map[string][]Payment, len(orderIDs))
	for _, id := range orderIDs {
		out[id] = []Payment{}
	}
	b, ok := s.store.(BatchQueries)
	if !ok {
		for _, id := range orderIDs {
			ps, err := s.store.PaymentsByOrder(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("payments of order %s: %w", id, err)
			}
			out[id] = append(out[id], ps...)
		}
		return out, nil
	}
	ps, err := b.PaymentsByOrders(ctx, orderIDs)
	if err != nil {
		return nil, fmt.Errorf("payments of %d orders: %w", len(orderIDs), err)
	}
	for _, p := range ps {
		if _, asked := out[p.OrderID]; asked {
			out[p.OrderID] = append(out[p.OrderID], p)
		}
	}
	return out, nil
}

// PaymentEventsByPayments lists the history of payments the caller already
// saw, by payment id; every id is a key.
func (s *Service) PaymentEventsByPayments(ctx context.Context, paymentIDs []string) (map[string][]PaymentEvent, error) {
	out := make(map[string][]PaymentEvent, len(paymentIDs))
	for _, id := range paymentIDs {
		out[id] = []PaymentEvent{}
	}
	b, ok := s.store.(BatchQueries)
	if !ok {
		for _, id := range paymentIDs {
			es, err := s.store.PaymentEvents(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("events of payment %s: %w", id, err)
			}
			out[id] = append(out[id], es...)
		}
		return out, nil
	}
	es, err := b.PaymentEventsByPayments(ctx, paymentIDs)
	if err != nil {
		return nil, fmt.Errorf("events of %d payments: %w", len(paymentIDs), err)
	}
	for _, e := range es {
		if _, asked := out[e.PaymentID]; asked {
			out[e.PaymentID] = append(out[e.PaymentID], e)
		}
	}
	return out, nil
}
