package payment_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
)

// cancelGateway approves confirms and keeps a PG-like record of cancels.
// loseNext makes the next cancel fail with an unknown outcome, performed
// (lost answer) or not (lost request).
type cancelGateway struct {
	mu       sync.Mutex
	paid     payment.GatewayPayment
	keys     []string // Idempotency-Keys of the cancels performed
	byKey    map[string]payment.GatewayPayment
	loseNext *bool // nil: answer; true: perform, lose the answer; false: lose the request
	n        int
	// afterCancel runs after each cancel, before its answer returns.
	afterCancel func()
	// duringLookUp runs after a look-up took its record and before the
	// answer returns: what happened at the PG while the answer travelled.
	duringLookUp func()
}

func (g *cancelGateway) Confirm(_ context.Context, key, orderID string, amount int64, _ string) (payment.GatewayPayment, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.paid = payment.GatewayPayment{PaymentKey: key, OrderID: orderID, Status: payment.GatewayDone, TotalAmount: amount,
		BalanceAmount: amount, ApprovedAt: &now}
	return g.paid, nil
}

func (g *cancelGateway) Payment(context.Context, string) (payment.GatewayPayment, error) {
	g.mu.Lock()
	rec, during := g.record(), g.duringLookUp
	g.mu.Unlock()
	if during != nil {
		during()
	}
	return rec, nil
}

func (g *cancelGateway) PaymentByOrderID(ctx context.Context, _ string) (payment.GatewayPayment, error) {
	return g.Payment(ctx, "")
}

func (g *cancelGateway) record() payment.GatewayPayment {
	p := g.paid
	p.Cancels = append([]payment.GatewayCancel(nil), g.paid.Cancels...)
	return p
}

// cancelOutside is a cancel made at the PG without pago (its dashboard).
func (g *cancelGateway) cancelOutside(amount int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.apply(amount)
}

func (g *cancelGateway) apply(amount int64) {
	g.n++
	g.paid.BalanceAmount -= amount
	g.paid.Cancels = append(g.paid.Cancels, payment.GatewayCancel{TransactionKey: fmt.Sprintf("tx%d", g.n), Amount: amount, Status: "DONE"})
	g.paid.Status = payment.GatewayPartialCanceled
	if g.paid.BalanceAmount == 0 {
		g.paid.Status = payment.GatewayCanceled
	}
}

func (g *cancelGateway) Cancel(ctx context.Context, key string, amount *int64, reason, idemKey string) (payment.GatewayPayment, error) {
	res, err := g.cancel(amount, idemKey)
	if g.afterCancel != nil {
		g.afterCancel() // the PG's webhook about the cancel, say, racing its answer
	}
	return res, err
}

func (g *cancelGateway) cancel(amount *int64, idemKey string) (payment.GatewayPayment, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if amount == nil { // the rest
		rest := g.paid.BalanceAmount
		amount = &rest
	}
	if prev, ok := g.byKey[idemKey]; ok {
		return prev, nil // the PG replays a key's answer
	}
	if lose := g.loseNext; lose != nil {
		g.loseNext = nil
		if !*lose {
			return payment.GatewayPayment{}, payment.ErrGatewayUnknownOutcome
		}
		g.apply(*amount)
		g.keys = append(g.keys, idemKey)
		g.byKey[idemKey] = g.record()
		return payment.GatewayPayment{}, payment.ErrGatewayUnknownOutcome
	}
	if g.paid.BalanceAmount == 0 {
		return payment.GatewayPayment{}, payment.ErrGatewayAlreadyCanceled
	}
	if *amount > g.paid.BalanceAmount {
		return payment.GatewayPayment{}, &payment.DeclinedError{Code: "NOT_CANCELABLE_AMOUNT", Message: "too much"}
	}
	g.apply(*amount)
	g.keys = append(g.keys, idemKey)
	g.byKey[idemKey] = g.record()
	return g.byKey[idemKey], nil
}

type refundFixture struct {
	st      *memStore
	gw      *cancelGateway
	svc     *payment.Service
	alice   context.Context
	orderID string
	pgKey   string
}

func newRefundFixture(t *testing.T, cfg payment.Config) refundFixture {
	ctx := context.Background()
	st := &memStore{db: newMemDB(newSim(1))}
	gw := &cancelGateway{byKey: map[string]payment.GatewayPayment{}}
	cfg.Gateway = gw
	svc := payment.NewService(st, openLocker{}, payment.NewIdempotency(st, time.Now, time.Minute), time.Now, cfg, slog.New(slog.DiscardHandler))
	users := payment.NewUsers(st, time.Now)
	alice, err := users.Ensure(ctx, "alice", false)
	require.NoError(t, err)
	ops, err := users.Ensure(ctx, "ops", true)
	require.NoError(t, err)
	actx := payment.WithUser(ctx, alice)
	prd, err := svc.UpsertProduct(payment.WithUser(ctx, ops), "p", payment.UpsertProductInput{SKU: "tea", Name: "tea", Price: 10_000, Stock: 3})
	require.NoError(t, err)
	o, err := svc.CreateOrder(actx, "o", payment.CreateOrderInput{Kind: payment.OrderPurchase,
		Items: []payment.OrderItemInput{{ProductID: prd.ID, Quantity: 1}}})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(actx, "c", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 10_000})
	require.NoError(t, err)
	return refundFixture{st: st, gw: gw, svc: svc, alice: actx, orderID: o.ID, pgKey: "pk_1"}
}

func (f refundFixture) refund(t *testing.T, key string, amount int64) (payment.CancelPaymentResult, error) {
	t.Helper()
	return f.svc.CancelPayment(f.alice, key, payment.CancelPaymentInput{OrderID: f.orderID, Amount: &amount, Reason: "test"})
}

func (f refundFixture) verify(t *testing.T) {
	t.Helper()
	vs, err := f.svc.Verify(context.Background())
	require.NoError(t, err)
	require.Empty(t, vs)
}

// A refund is applied once however often the PG's record of it arrives (a
// webhook's re-fetch, a replayed delivery), and a cancel made at the PG
// without pago is never taken for one of pago's refunds.
func TestRefundIsAppliedOnce(t *testing.T) {
	f := newRefundFixture(t, payment.Config{})
	res, err := f.refund(t, "r1", 4_000)
	require.NoError(t, err)
	require.Equal(t, payment.RefundDone, res.Refund.Status)
	for range 3 {
		require.NoError(t, f.svc.SyncFromGateway(context.Background(), f.pgKey)) // the PG's webhook, redelivered
	}
	p, err := f.st.Payment(context.Background(), res.Payment.ID)
	require.NoError(t, err)
	require.EqualValues(t, 4_000, p.RefundedAmount.Amount)
	require.Equal(t, payment.PaymentPartiallyCanceled, p.Status)
	f.verify(t)

	f.gw.cancelOutside(1_000)
	require.NoError(t, f.svc.SyncFromGateway(context.Background(), f.pgKey))
	p, err = f.st.Payment(context.Background(), res.Payment.ID)
	require.NoError(t, err)
	require.EqualValues(t, 4_000, p.RefundedAmount.Amount, "not pago's refund: left for an operator")
	f.verify(t)
}

// A cancel whose request was lost (the PG never performed it) is sent again
// under the next attempt's key, once the PG's record shows it absent and
// the first attempt can no longer be in flight; one whose answer was lost
// is settled from the record without a second cancel.
func TestLostRefundIsSentAgainOnlyWhenAbsent(t *testing.T) {
	for _, performed := range []bool{false, true} {
		t.Run(fmt.Sprintf("performed=%v", performed), func(t *testing.T) {
			f := newRefundFixture(t, payment.Config{ConfirmTimeout: 20 * time.Millisecond})
			lose := performed
			f.gw.loseNext = &lose
			_, err := f.refund(t, "r1", 10_000)
			require.ErrorIs(t, err, payment.ErrRefundInDoubt)
			time.Sleep(30 * time.Millisecond) // the first attempt is over
			res, err := f.refund(t, "r1", 10_000)
			if err != nil { // still in doubt: the refund job runs
				require.ErrorIs(t, err, payment.ErrRefundInDoubt)
				rs, rerr := f.st.RefundsByPayment(context.Background(), mustPayment(t, f.st, f.pgKey).ID)
				require.NoError(t, rerr)
				require.NoError(t, f.svc.ExecuteRefund(context.Background(), rs[0].ID))
				res, err = f.refund(t, "r1", 10_000)
			}
			require.NoError(t, err)
			require.Equal(t, payment.RefundDone, res.Refund.Status)
			require.Equal(t, payment.OrderRefunded, res.Order.Status)
			require.Len(t, f.gw.keys, 1, "one cancel performed")
			want := "-a1"
			if !performed {
				want = "-a2"
			}
			require.Equal(t, "pago-refund-"+res.Refund.ID+want, f.gw.keys[0])
			f.verify(t)
		})
	}
}

// A payment cancelled in full at the PG without pago: a refund finds
// nothing left there and FAILS (nothing moved; the amount stays
// refundable in pago for an operator to reconcile), rather than retrying
// for ever. Its answer says so; nothing is credited or booked.
func TestRefundOfAPaymentCancelledOutsidePagoFails(t *testing.T) {
	f := newRefundFixture(t, payment.Config{})
	f.gw.cancelOutside(10_000)
	res, err := f.refund(t, "r1", 4_000)
	require.NoError(t, err)
	require.Equal(t, payment.RefundFailed, res.Refund.Status)
	require.Equal(t, "ALREADY_CANCELED_PAYMENT", res.Refund.FailureCode)
	require.Equal(t, payment.OrderPaid, res.Order.Status)
	require.Zero(t, res.Payment.RefundedAmount.Amount)
	require.Empty(t, f.gw.keys, "no cancel of pago's performed")
	f.verify(t)
}

// A top-up the wallet cannot take is refunded at the PG, and the PG's
// CANCELED webhook arrives before pago has written the refund: the webhook
// must close the payment as the refund decided (CANCELED, the customer told
// BALANCE_LIMIT_EXCEEDED), not as a decline. Found by the refund tests
// (TestCardTopUpPastTheCeilingIsRefunded answered PAYMENT_DECLINED once in
// three runs on PostgreSQL).
func TestTopUpRefundRacedByItsWebhook(t *testing.T) {
	ctx := context.Background()
	st := &memStore{db: newMemDB(newSim(1))}
	gw := &cancelGateway{byKey: map[string]payment.GatewayPayment{}}
	svc := payment.NewService(st, openLocker{}, payment.NewIdempotency(st, time.Now, time.Minute), time.Now,
		payment.Config{WalletLimit: payment.Won(10_000), Gateway: gw}, slog.New(slog.DiscardHandler))
	users := payment.NewUsers(st, time.Now)
	alice, err := users.Ensure(ctx, "alice", false)
	require.NoError(t, err)
	ops, err := users.Ensure(ctx, "ops", true)
	require.NoError(t, err)
	actx := payment.WithUser(ctx, alice)
	_, err = svc.CreateWallet(actx, "w")
	require.NoError(t, err)
	amount := int64(5_000)
	o, err := svc.CreateOrder(actx, "o", payment.CreateOrderInput{Kind: payment.OrderWalletTopUp, Amount: &amount})
	require.NoError(t, err)
	_, err = svc.AdjustWallet(payment.WithUser(ctx, ops), "credit", payment.AdjustWalletInput{UserID: alice.ID, Amount: 8_000, Reason: "gift"})
	require.NoError(t, err)
	gw.afterCancel = func() { require.NoError(t, svc.SyncFromGateway(ctx, "pk_1")) }

	_, err = svc.ConfirmPayment(actx, "c", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: amount})
	require.ErrorIs(t, err, payment.ErrBalanceLimitExceeded)
	p := mustPayment(t, st, "pk_1")
	require.Equal(t, payment.PaymentCanceled, p.Status)
	require.Equal(t, string(payment.CodeBalanceLimitExceeded), p.FailureCode)
	got, err := svc.Order(actx, o.ID)
	require.NoError(t, err)
	require.Equal(t, payment.OrderFailed, got.Status)
	w, err := svc.MyWallet(actx)
	require.NoError(t, err)
	require.EqualValues(t, 8_000, w.Balance.Amount)
	require.Len(t, gw.keys, 1)
	vs, err := svc.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, vs)
}

// A look-up that answers late shows the PG as it was when it started: a
// cancel still on its way then may land before the answer arrives. Judged
// by the time of the answer, the attempt looked over and a second cancel
// went out under the next key: a partial refund paid twice at the PG.
func TestASlowLookUpDoesNotSendASecondCancel(t *testing.T) {
	f := newRefundFixture(t, payment.Config{ConfirmTimeout: 20 * time.Millisecond})
	lose := false
	f.gw.loseNext = &lose // the first cancel does not arrive in time...
	_, err := f.refund(t, "r1", 4_000)
	require.ErrorIs(t, err, payment.ErrRefundInDoubt)
	f.gw.duringLookUp = func() {
		f.gw.duringLookUp = nil
		time.Sleep(40 * time.Millisecond) // past the attempt's deadline
		f.gw.mu.Lock()
		f.gw.apply(4_000) // ...and lands while the look-up's answer travels
		f.gw.keys = append(f.gw.keys, "late")
		f.gw.mu.Unlock()
	}
	rs, err := f.st.RefundsByPayment(context.Background(), mustPayment(t, f.st, f.pgKey).ID)
	require.NoError(t, err)
	_ = f.svc.ExecuteRefund(context.Background(), rs[0].ID) // the refund job
	require.Len(t, f.gw.keys, 1, "one cancel at the PG, not a second under a new key")
	require.EqualValues(t, 6_000, f.gw.record().BalanceAmount)
}
