package payment_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store"
	"github.com/pago/pago/store/storetest"
)

// oneAtATime hides the store's batch reads: the service then reads one
// parent at a time, and must answer the same.
type oneAtATime struct{ payment.Store }

func TestLoaderReadsBatchAndOneAtATimeAgree(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLite().NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Migrate(ctx, slog.New(slog.DiscardHandler)))

	now := time.Now().UTC()
	u := payment.User{ID: payment.NewID("usr", now), Name: "loader", CreatedAt: now}
	require.NoError(t, st.InsertUserIfAbsent(ctx, u))
	var orderIDs, paymentIDs []string
	for i := range 3 {
		o := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderWalletTopUp, Status: payment.OrderPending,
			Name: "top-up", Amount: payment.Won(1000), ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
		require.NoError(t, st.InsertOrder(ctx, o))
		orderIDs = append(orderIDs, o.ID)
		for range i { // order 0 has no payments
			p := payment.Payment{ID: payment.NewID("pay", now), OrderID: o.ID, Method: payment.MethodCard,
				Status: payment.PaymentPending, Amount: payment.Won(1000), CreatedAt: now, UpdatedAt: now}
			require.NoError(t, st.InsertPayment(ctx, p))
			paymentIDs = append(paymentIDs, p.ID)
			require.NoError(t, st.InsertPaymentEvent(ctx, payment.PaymentEvent{ID: payment.NewID("pev", now), PaymentID: p.ID,
				FromStatus: payment.PaymentPending, ToStatus: payment.PaymentInDoubt, Source: "test", Detail: "sent", CreatedAt: now}))
		}
	}

	newSvc := func(s payment.Store) *payment.Service {
		return payment.NewService(s, openLocker{}, payment.NewIdempotency(s, time.Now, time.Minute), time.Now,
			payment.Config{}, slog.New(slog.DiscardHandler))
	}
	batch, single := newSvc(st), newSvc(oneAtATime{st})

	pb, err := batch.PaymentsByOrders(ctx, orderIDs)
	require.NoError(t, err)
	ps, err := single.PaymentsByOrders(ctx, orderIDs)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprint(ps), fmt.Sprint(pb))
	require.Len(t, pb, 3)
	require.NotNil(t, pb[orderIDs[0]], "an order without payments is an empty list, not missing")
	require.Len(t, pb[orderIDs[2]], 2)

	eb, err := batch.PaymentEventsByPayments(ctx, paymentIDs)
	require.NoError(t, err)
	es, err := single.PaymentEventsByPayments(ctx, paymentIDs)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprint(es), fmt.Sprint(eb))
	require.Len(t, eb, 3)
	for _, id := range paymentIDs {
		require.Len(t, eb[id], 1)
		require.Equal(t, id, eb[id][0].PaymentID)
	}
}
