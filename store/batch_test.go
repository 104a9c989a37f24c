package store

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/storetest"
)

// The batch reads answer what the one-parent reads answer, for every parent
// at once, on both engines.
func TestBatchReadsMatchSingleReads(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s, u, now := withUser(t, eng, "batch")
			// Order i has i payments; payment j of it has j+1 events.
			var orderIDs, paymentIDs []string
			for i := range 4 {
				o := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderWalletTopUp,
					Status: payment.OrderPending, Name: "top-up", Amount: payment.Won(1000), ExpiresAt: now.Add(time.Hour),
					CreatedAt: now, UpdatedAt: now}
				must(t, s.InsertOrder(ctx, o))
				orderIDs = append(orderIDs, o.ID)
				for j := range i {
					p := payment.Payment{ID: payment.NewID("pay", now), OrderID: o.ID, Method: payment.MethodCard,
						Status: payment.PaymentPending, Amount: payment.Won(1000), CreatedAt: now, UpdatedAt: now}
					must(t, s.InsertPayment(ctx, p))
					paymentIDs = append(paymentIDs, p.ID)
					for k := range j + 1 {
						must(t, s.InsertPaymentEvent(ctx, payment.PaymentEvent{ID: payment.NewID("pev", now), PaymentID: p.ID,
							FromStatus: payment.PaymentPending, ToStatus: payment.PaymentPending, Source: "test",
							Detail: string(rune('a' + k)), CreatedAt: now}))
					}
				}
			}

			payments, err := s.PaymentsByOrders(ctx, orderIDs)
			must(t, err)
			byOrder := map[string][]payment.Payment{}
			for _, p := range payments {
				byOrder[p.OrderID] = append(byOrder[p.OrderID], p)
			}
			for _, id := range orderIDs {
				one, err := s.PaymentsByOrder(ctx, id)
				must(t, err)
				if !equalBy(one, byOrder[id], func(p payment.Payment) string { return p.ID + string(p.Status) }) {
					t.Errorf("order %s: batch %v, single %v", id, byOrder[id], one)
				}
			}
			if len(payments) != 0+1+2+3 {
				t.Errorf("batch read %d payments, want 6", len(payments))
			}

			events, err := s.PaymentEventsByPayments(ctx, paymentIDs)
			must(t, err)
			byPayment := map[string][]payment.PaymentEvent{}
			for _, e := range events {
				byPayment[e.PaymentID] = append(byPayment[e.PaymentID], e)
			}
			for _, id := range paymentIDs {
				one, err := s.PaymentEvents(ctx, id)
				must(t, err)
				if !equalBy(one, byPayment[id], func(e payment.PaymentEvent) string { return e.ID + e.Detail + e.CreatedAt.String() }) {
					t.Errorf("payment %s: batch %v, single %v", id, byPayment[id], one)
				}
			}

			// A subset reads only its own; nothing asked, nothing read.
			sub, err := s.PaymentsByOrders(ctx, orderIDs[2:3])
			must(t, err)
			if len(sub) != 2 {
				t.Errorf("order 2 alone: %d payments, want 2", len(sub))
			}
			if none, err := s.PaymentsByOrders(ctx, nil); err != nil || len(none) != 0 {
				t.Errorf("no ids: %v, %v", none, err)
			}
			// An id of the wrong width: joined (SQLite) it would misalign
			// every id after it, so it is refused; in an id array
			// (PostgreSQL) it matches nothing and the others are read.
			mixed, err := s.PaymentsByOrders(ctx, []string{"ord_short", orderIDs[2]})
			switch {
			case s.engine == SQLite && err == nil:
				t.Error("an id of the wrong width was accepted")
			case s.engine != SQLite && (err != nil || len(mixed) != 2):
				t.Errorf("an id of the wrong width beside order 2: %d payments, %v; want order 2's two", len(mixed), err)
			}
		})
	}
}

// withUser opens a migrated store on a fresh database of eng, closed when
// t ends, holding one user called name; now is the test's clock reading.
func withUser(t testing.TB, eng storetest.Engine, name string) (s *Store, u payment.User, now time.Time) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, eng.NewDatabase(t))
	must(t, err)
	t.Cleanup(func() { s.Close() })
	must(t, s.Migrate(ctx, slog.New(slog.DiscardHandler)))
	now = time.Now().UTC().Truncate(time.Millisecond)
	u = payment.User{ID: payment.NewID("usr", now), Name: name, CreatedAt: now}
	must(t, s.InsertUserIfAbsent(ctx, u))
	return s, u, now
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equalBy[T any](a, b []T, key func(T) string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if key(a[i]) != key(b[i]) {
			return false
		}
	}
	return true
}
