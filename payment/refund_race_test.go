package payment_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
)

// staleGateway approves every confirm and keeps answering DONE to look-ups
// after a cancel, as an answer fetched before the cancel and read after it
// does. onCancel runs inside the first cancel, after the PG refunded.
type staleGateway struct {
	cancels  map[string]bool // idempotency keys
	onCancel func()
	paid     payment.GatewayPayment
}

func (g *staleGateway) Confirm(_ context.Context, key, orderID string, amount int64, _ string) (payment.GatewayPayment, error) {
	now := time.Now()
	g.paid = payment.GatewayPayment{PaymentKey: key, OrderID: orderID, Status: payment.GatewayDone, TotalAmount: amount, ApprovedAt: &now}
	return g.paid, nil
}

func (g *staleGateway) Payment(context.Context, string) (payment.GatewayPayment, error) {
	return g.paid, nil
}

func (g *staleGateway) PaymentByOrderID(context.Context, string) (payment.GatewayPayment, error) {
	return g.paid, nil
}

func (g *staleGateway) Cancel(_ context.Context, _ string, _ *int64, _, idemKey string) (payment.GatewayPayment, error) {
	first := len(g.cancels) == 0
	g.cancels[idemKey] = true
	if first && g.onCancel != nil {
		g.onCancel()
	}
	canceled := g.paid
	canceled.Status = payment.GatewayCanceled
	return canceled, nil
}

type openLocker struct{}

func (openLocker) Lock(context.Context, string) (payment.Lock, error) { return openLock{}, nil }
func (openLocker) Ping(context.Context) error                         { return nil }

type openLock struct{}

func (openLock) Until() time.Time             { return time.Now().Add(time.Minute) }
func (openLock) Unlock(context.Context) error { return nil }

// A top-up the wallet cannot take is refunded at the PG. Found by the
// deterministic simulation: a settle holding an earlier DONE answer (the
// probe, a webhook) that ran after the PG's refund and after the wallet had
// been debited meanwhile found room, credited the wallet and marked the
// order PAID, and the customer had the money twice. The refund is now
// decided in the database before the cancel, and settle honours it.
func TestTopUpRefundIsNotCreditedByAStaleSettle(t *testing.T) {
	ctx := context.Background()
	st := &memStore{db: newMemDB(newSim(1))}
	gw := &staleGateway{cancels: map[string]bool{}}
	svc := payment.NewService(st, openLocker{}, payment.NewIdempotency(st, time.Now, time.Minute), time.Now,
		payment.Config{WalletLimit: payment.Won(10_000), Gateway: gw}, slog.New(slog.DiscardHandler))
	users := payment.NewUsers(st, time.Now)
	alice, err := users.Ensure(ctx, "alice", false)
	require.NoError(t, err)
	ops, err := users.Ensure(ctx, "ops", true)
	require.NoError(t, err)
	actx, opsCtx := payment.WithUser(ctx, alice), payment.WithUser(ctx, ops)

	_, err = svc.CreateWallet(actx, "w")
	require.NoError(t, err)
	amount := int64(5_000)
	o, err := svc.CreateOrder(actx, "o", payment.CreateOrderInput{Kind: payment.OrderWalletTopUp, Amount: &amount})
	require.NoError(t, err)
	// Another credit lands first: the top-up no longer fits.
	_, err = svc.AdjustWallet(opsCtx, "credit", payment.AdjustWalletInput{UserID: alice.ID, Amount: 8_000, Reason: "gift"})
	require.NoError(t, err)

	gw.onCancel = func() {
		// While the PG refunds: the wallet is spent, making room, and the
		// probe settles the payment from the DONE answer it holds.
		_, err := svc.AdjustWallet(opsCtx, "debit", payment.AdjustWalletInput{UserID: alice.ID, Amount: -8_000, Reason: "spent"})
		require.NoError(t, err)
		p, err := st.PaymentByPGKey(ctx, "pk_1")
		require.NoError(t, err)
		require.NoError(t, svc.ProbePayment(ctx, p.ID))
	}
	_, err = svc.ConfirmPayment(actx, "c", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: amount})
	require.ErrorIs(t, err, payment.ErrBalanceLimitExceeded)

	got, err := svc.Order(actx, o.ID)
	require.NoError(t, err)
	require.Equal(t, payment.OrderFailed, got.Status, "refunded at the PG, so not paid")
	w, err := svc.MyWallet(actx)
	require.NoError(t, err)
	require.Equal(t, int64(0), w.Balance.Amount, "the refunded top-up was not credited")
	require.Equal(t, map[string]bool{"pago-refund-" + mustPayment(t, st, "pk_1").ID: true}, gw.cancels, "one refund, one key")
	vs, err := svc.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, vs)
}

func mustPayment(t *testing.T, st payment.Store, key string) payment.Payment {
	t.Helper()
	p, err := st.PaymentByPGKey(context.Background(), key)
	require.NoError(t, err)
	return p
}
