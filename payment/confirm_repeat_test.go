package payment_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
)

// lostAnswerGateway charges on confirm and loses the answer, as a PG whose
// response never arrives does; look-ups tell the truth.
type lostAnswerGateway struct{ staleGateway }

func (g *lostAnswerGateway) Confirm(ctx context.Context, key, orderID string, amount int64, idem string) (payment.GatewayPayment, error) {
	_, _ = g.staleGateway.Confirm(ctx, key, orderID, amount, idem)
	return payment.GatewayPayment{}, errors.New("read: connection reset by peer")
}

// A customer who asks again about a payment in doubt (a reload after the
// instance confirming it died, found by the chaos suite as payments waiting
// up to two minutes for a rescued probe) gets the PG's answer at once.
func TestConfirmAgainAsksThePGAboutAPaymentInDoubt(t *testing.T) {
	ctx := context.Background()
	st := &memStore{db: newMemDB(newSim(1))}
	gw := &lostAnswerGateway{staleGateway{cancels: map[string]bool{}}}
	svc := payment.NewService(st, openLocker{}, payment.NewIdempotency(st, time.Now, time.Minute), time.Now,
		payment.Config{Gateway: gw}, slog.New(slog.DiscardHandler))
	alice, err := payment.NewUsers(st, time.Now).Ensure(ctx, "alice", false)
	require.NoError(t, err)
	actx := payment.WithUser(ctx, alice)
	amount := int64(3_000)
	o, err := svc.CreateOrder(actx, "o", payment.CreateOrderInput{Kind: payment.OrderWalletTopUp, Amount: &amount})
	require.NoError(t, err)
	_, err = svc.CreateWallet(actx, "w")
	require.NoError(t, err)

	in := payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: amount}
	_, err = svc.ConfirmPayment(actx, "first", payment.SourceRedirect, in)
	require.ErrorIs(t, err, payment.ErrPaymentInDoubt)

	res, err := svc.ConfirmPayment(actx, "again", payment.SourceMutation, in)
	require.NoError(t, err)
	require.Equal(t, payment.OrderPaid, res.Order.Status)
	require.Equal(t, payment.PaymentDone, res.Payment.Status)
	w, err := svc.MyWallet(actx)
	require.NoError(t, err)
	require.Equal(t, amount, w.Balance.Amount)
}
