package payment_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pago/pago/payment"
	"github.com/stretchr/testify/require"
)

// gatedWrites holds the first batch write of a test until released and
// fails the second, as a dropped connection would; later ones go through.
type gatedWrites struct {
	payment.Store
	mu      sync.Mutex
	writes  int
	entered chan struct{}
	release chan struct{}
}

func (g *gatedWrites) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	return g.Store.InTx(ctx, func(q payment.Queries) error { return fn(gatedQueries{q, g}) })
}

type gatedQueries struct {
	payment.Queries
	g *gatedWrites
}

func (q gatedQueries) WriteWalletPayments(ctx context.Context, w payment.WalletPaymentsWrite) (bool, error) {
	q.g.mu.Lock()
	q.g.writes++
	n := q.g.writes
	q.g.mu.Unlock()
	switch n {
	case 1:
		close(q.g.entered)
		<-q.g.release
	case 2:
		return false, errors.New("connection reset by peer")
	}
	return q.Queries.WriteWalletPayments(ctx, w)
}

// One order paid twice in one batch (under two keys, or one key sent
// twice): the second's answer commits or rolls back with the payment that
// pays the order. When that batch's write fails, nothing is kept, and a
// retry pays the order — it used to replay "order is PAID" for good while
// the order stayed PENDING and nothing was charged.
func TestAnOrderTwiceInABatchIsAnsweredWithItsPayment(t *testing.T) {
	for _, sameKey := range []bool{false, true} {
		mem := &memStore{db: newMemDB(newSim(1))}
		g := &gatedWrites{Store: mem, entered: make(chan struct{}), release: make(chan struct{}), writes: 100}
		svc, ctx := newTestService(t, g, &staleGateway{cancels: map[string]bool{}}, payment.Config{})
		ops, err := payment.NewUsers(g, time.Now).Ensure(context.Background(), "ops", true)
		require.NoError(t, err)
		prd, err := svc.UpsertProduct(payment.WithUser(context.Background(), ops), "p", payment.UpsertProductInput{SKU: "tea", Name: "Tea", Price: 1_000, Stock: 100})
		require.NoError(t, err)
		top := topUpOrder(t, svc, ctx, "top", 50_000)
		_, err = svc.ConfirmPayment(ctx, "c", payment.SourceMutation, payment.ConfirmInput{OrderID: top.ID, PaymentKey: "pk_1", Amount: 50_000})
		require.NoError(t, err)
		order := func(key string) payment.Order {
			o, err := svc.CreateOrder(ctx, key, payment.CreateOrderInput{Kind: payment.OrderPurchase, Items: []payment.OrderItemInput{{ProductID: prd.ID, Quantity: 1}}})
			require.NoError(t, err)
			return o
		}
		lead, o := order("lead"), order("twice")
		g.mu.Lock()
		g.writes = 0
		g.mu.Unlock()

		second := "k2"
		if sameKey {
			second = "k1"
		}
		var wg sync.WaitGroup
		pay := func(key, orderID string) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = svc.PayWithWallet(ctx, key, orderID)
			}()
		}
		pay("kl", lead.ID) // leads a batch, held in its write
		<-g.entered
		pay("k1", o.ID) // these two queue for the next batch, whose write fails
		time.Sleep(100 * time.Millisecond)
		pay(second, o.ID)
		time.Sleep(100 * time.Millisecond)
		close(g.release)
		wg.Wait()

		res, err := svc.PayWithWallet(ctx, second, o.ID)
		require.NoError(t, err, "same key %v: the retry of %s", sameKey, second)
		require.Equal(t, payment.OrderPaid, res.Order.Status)
		cur, err := svc.Order(ctx, o.ID)
		require.NoError(t, err)
		require.Equal(t, payment.OrderPaid, cur.Status)
		v, err := mem.Violations(context.Background())
		require.NoError(t, err)
		require.Empty(t, v)
	}
}
