package payment_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
)

// flakyStore fails the next reads of orders with a transient error, as a
// dropped database connection does.
type flakyStore struct {
	*memStore
	mu        sync.Mutex
	failReads int
}

func (f *flakyStore) Order(ctx context.Context, id string) (payment.Order, error) {
	f.mu.Lock()
	fail := f.failReads > 0
	if fail {
		f.failReads--
	}
	f.mu.Unlock()
	if fail {
		return payment.Order{}, errors.Join(payment.ErrTransient, errors.New("read tcp 127.0.0.1:5432: connection reset by peer"))
	}
	return f.memStore.Order(ctx, id)
}

func newTestService(t *testing.T, st payment.Store, gw payment.Gateway, cfg payment.Config) (*payment.Service, context.Context) {
	t.Helper()
	cfg.Gateway = gw
	svc := payment.NewService(st, openLocker{}, payment.NewIdempotency(st, time.Now, time.Minute), time.Now, cfg, slog.New(slog.DiscardHandler))
	alice, err := payment.NewUsers(st, time.Now).Ensure(context.Background(), "alice", false)
	require.NoError(t, err)
	return svc, payment.WithUser(context.Background(), alice)
}

// teaProduct is a 5,000 won product with stock, put on sale by an
// operator of st.
func teaProduct(t *testing.T, svc *payment.Service, st payment.Store, stock int64) payment.Product {
	t.Helper()
	ops, err := payment.NewUsers(st, time.Now).Ensure(context.Background(), "ops", true)
	require.NoError(t, err)
	prd, err := svc.UpsertProduct(payment.WithUser(context.Background(), ops), "p", payment.UpsertProductInput{SKU: "tea", Name: "Tea", Price: 5_000, Stock: stock})
	require.NoError(t, err)
	return prd
}

func topUpOrder(t *testing.T, svc *payment.Service, ctx context.Context, key string, amount int64) payment.Order {
	t.Helper()
	o, err := svc.CreateOrder(ctx, key, payment.CreateOrderInput{Kind: payment.OrderWalletTopUp, Amount: &amount})
	require.NoError(t, err)
	return o
}

// A transient store failure during a confirm is not the confirm's answer:
// the redirect's key stays usable and the same success URL later completes
// the payment (it used to be stored as NOT_FOUND for 15 days).
func TestTransientStoreFailureLeavesTheRedirectKeyRetryable(t *testing.T) {
	st := &flakyStore{memStore: &memStore{db: newMemDB(newSim(1))}}
	gw := &staleGateway{cancels: map[string]bool{}}
	svc, ctx := newTestService(t, st, gw, payment.Config{})
	o := topUpOrder(t, svc, ctx, "o", 5_000)

	in := payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000}
	st.failReads = 1
	_, err := svc.ConfirmPayment(ctx, "redirect:pk_1", payment.SourceRedirect, in)
	require.ErrorIs(t, err, payment.ErrTransient)
	var de *payment.Error
	require.False(t, errors.As(err, &de), "a transient failure is no domain answer: %v", err)

	res, err := svc.ConfirmPayment(ctx, "redirect:pk_1", payment.SourceRedirect, in)
	require.NoError(t, err)
	require.Equal(t, payment.OrderPaid, res.Order.Status)
}

// unreachableGateway never reaches the PG.
type unreachableGateway struct{ staleGateway }

func (unreachableGateway) Confirm(context.Context, string, string, int64, string) (payment.GatewayPayment, error) {
	return payment.GatewayPayment{}, errors.Join(payment.ErrGatewayUnavailable,
		errors.New(`Post "http://10.0.0.9:8090/v1/payments/confirm": dial tcp 10.0.0.9:8090: connect: connection refused`))
}

// The history a customer sees carries codes and words for people; internal
// text (URLs, network errors) stays in Detail for operators.
func TestPaymentEventsKeepInternalTextOutOfMessages(t *testing.T) {
	st := &memStore{db: newMemDB(newSim(1))}
	svc, ctx := newTestService(t, st, &unreachableGateway{}, payment.Config{})
	o := topUpOrder(t, svc, ctx, "o", 5_000)
	_, err := svc.ConfirmPayment(ctx, "k", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
	require.ErrorIs(t, err, payment.ErrPGUnavailable)
	require.NotContains(t, err.Error(), "dial tcp")

	ps, err := svc.OrderPayments(ctx, o.ID)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	evs, err := svc.PaymentEvents(ctx, ps[0].ID)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, []payment.EventCode{payment.EventConfirmSent, payment.EventNotSent}, []payment.EventCode{evs[0].Code, evs[1].Code})
	for _, e := range evs {
		for _, leak := range []string{"dial tcp", "http://", "10.0.0.9", "Post "} {
			require.NotContains(t, e.Message, leak)
		}
	}
	require.Contains(t, evs[1].Detail, "dial tcp", "operators keep the cause")
}

// squatGateway is a PG at which paymentKey pk_alice belongs to alice's
// order: a confirm naming any other order is refused.
type squatGateway struct {
	staleGateway
	aliceOrder string
}

func (g *squatGateway) Confirm(ctx context.Context, key, orderID string, amount int64, idem string) (payment.GatewayPayment, error) {
	if orderID != g.aliceOrder {
		return payment.GatewayPayment{}, &payment.DeclinedError{Code: "NOT_FOUND_PAYMENT_SESSION", Message: "no such payment session"}
	}
	return g.staleGateway.Confirm(ctx, key, orderID, amount, idem)
}

func (g *squatGateway) Payment(context.Context, string) (payment.GatewayPayment, error) {
	return payment.GatewayPayment{PaymentKey: "pk_alice", OrderID: g.aliceOrder, Status: payment.GatewayInProgress}, nil
}

// Bob confirming his own order with alice's authenticated payment key must
// not bind the key to his order: alice's own confirm still completes.
func TestADeclinedPaymentKeyIsBoundOnlyOnThePGsWord(t *testing.T) {
	st := &memStore{db: newMemDB(newSim(1))}
	gw := &squatGateway{staleGateway: staleGateway{cancels: map[string]bool{}}}
	svc, actx := newTestService(t, st, gw, payment.Config{})
	bob, err := payment.NewUsers(st, time.Now).Ensure(context.Background(), "bob", false)
	require.NoError(t, err)
	bctx := payment.WithUser(context.Background(), bob)
	aliceOrder := topUpOrder(t, svc, actx, "a", 5_000)
	bobOrder := topUpOrder(t, svc, bctx, "b", 5_000)
	gw.aliceOrder = aliceOrder.ID

	_, err = svc.ConfirmPayment(bctx, "squat", payment.SourceMutation, payment.ConfirmInput{OrderID: bobOrder.ID, PaymentKey: "pk_alice", Amount: 5_000})
	require.ErrorIs(t, err, payment.ErrPaymentDeclined)

	res, err := svc.ConfirmPayment(actx, "redirect:pk_alice", payment.SourceRedirect, payment.ConfirmInput{OrderID: aliceOrder.ID, PaymentKey: "pk_alice", Amount: 5_000})
	require.NoError(t, err)
	require.Equal(t, payment.OrderPaid, res.Order.Status)
}

// hangingGateway answers a confirm only when released.
type hangingGateway struct {
	staleGateway
	release chan struct{}
}

func (g *hangingGateway) Confirm(ctx context.Context, key, orderID string, amount int64, idem string) (payment.GatewayPayment, error) {
	select {
	case <-g.release:
	case <-ctx.Done():
		return payment.GatewayPayment{}, errors.Join(payment.ErrGatewayUnknownOutcome, ctx.Err())
	}
	return g.staleGateway.Confirm(ctx, key, orderID, amount, idem)
}

// A slow PG never freezes the customer: the confirm answers PAYMENT_IN_DOUBT
// after ConfirmWait, and the PG's late answer still settles the payment.
func TestConfirmAnswersWithinConfirmWaitAndSettlesLater(t *testing.T) {
	st := &memStore{db: newMemDB(newSim(1))}
	gw := &hangingGateway{staleGateway: staleGateway{cancels: map[string]bool{}}, release: make(chan struct{})}
	svc, ctx := newTestService(t, st, gw, payment.Config{ConfirmWait: 50 * time.Millisecond, ConfirmTimeout: time.Minute})
	o := topUpOrder(t, svc, ctx, "o", 5_000)

	start := time.Now()
	_, err := svc.ConfirmPayment(ctx, "k", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
	require.ErrorIs(t, err, payment.ErrPaymentInDoubt)
	require.Less(t, time.Since(start), 30*time.Second)

	close(gw.release)
	dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, svc.Drain(dctx))
	got, err := svc.Order(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, payment.OrderPaid, got.Status)

	// The same key now replays the settled answer.
	res, err := svc.ConfirmPayment(ctx, "k", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
	require.NoError(t, err)
	require.Equal(t, payment.PaymentDone, res.Payment.Status)
}

// No decision in payment is taken on text: the failure's code comes from
// its column, whatever its message says.
func TestDeclineAnswerComesFromTheFailureColumns(t *testing.T) {
	st := &memStore{db: newMemDB(newSim(1))}
	gw := &squatGateway{staleGateway: staleGateway{cancels: map[string]bool{}}}
	svc, ctx := newTestService(t, st, gw, payment.Config{})
	o := topUpOrder(t, svc, ctx, "o", 5_000)
	gw.aliceOrder = "ord_elsewhere"
	_, err := svc.ConfirmPayment(ctx, "k", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
	var de *payment.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, payment.CodePaymentDeclined, de.Code)
	require.Equal(t, "NOT_FOUND_PAYMENT_SESSION", de.PGCode)
	require.False(t, strings.HasPrefix(de.Message, de.PGCode), "the message is words, not CODE: words")
}

// depositGateway is a PG at which the customer chose a virtual account: the
// confirm's answer was lost and look-ups say WAITING_FOR_DEPOSIT.
type depositGateway struct {
	lostAnswerGateway
	canceled []string
}

func (g *depositGateway) PaymentByOrderID(_ context.Context, orderID string) (payment.GatewayPayment, error) {
	return payment.GatewayPayment{PaymentKey: "pk_1", OrderID: orderID, Status: payment.GatewayWaitingDeposit, TotalAmount: 5_000}, nil
}

func (g *depositGateway) Cancel(_ context.Context, key string, _ *int64, _, idemKey string) (payment.GatewayPayment, error) {
	g.canceled = append(g.canceled, idemKey)
	return payment.GatewayPayment{PaymentKey: key, Status: payment.GatewayCanceled, TotalAmount: 5_000}, nil
}

// A virtual account found waiting for its deposit (pago takes cards only)
// is canceled at the PG and fails the payment, instead of staying IN_DOUBT
// until the probe gives up while the order holds its stock.
func TestAVirtualAccountWaitingForDepositIsRefused(t *testing.T) {
	st := &memStore{db: newMemDB(newSim(1))}
	gw := &depositGateway{lostAnswerGateway: lostAnswerGateway{staleGateway{cancels: map[string]bool{}}}}
	svc, ctx := newTestService(t, st, gw, payment.Config{})
	o := topUpOrder(t, svc, ctx, "o", 5_000)
	_, err := svc.ConfirmPayment(ctx, "k", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
	require.ErrorIs(t, err, payment.ErrPaymentInDoubt)
	ps, err := svc.OrderPayments(ctx, o.ID)
	require.NoError(t, err)
	require.NoError(t, svc.ProbePayment(context.Background(), ps[0].ID))
	p, err := svc.Payment(ctx, ps[0].ID)
	require.NoError(t, err)
	require.Equal(t, payment.PaymentFailed, p.Status)
	require.Equal(t, payment.CodeVirtualAccountNotSupported, p.FailureCode)
	require.Len(t, gw.canceled, 1)
}

// countingQueries counts the reads of orders and payments and the
// transactions a request makes.
type countingQueries struct {
	payment.Queries
	c *counts
}

type counts struct {
	mu                                  sync.Mutex
	orderReads, paymentReads, txs, keys int
}

func (c *counts) add(f *int) { c.mu.Lock(); *f++; c.mu.Unlock() }

func (q countingQueries) Order(ctx context.Context, id string) (payment.Order, error) {
	q.c.add(&q.c.orderReads)
	return q.Queries.Order(ctx, id)
}

func (q countingQueries) Payment(ctx context.Context, id string) (payment.Payment, error) {
	q.c.add(&q.c.paymentReads)
	return q.Queries.Payment(ctx, id)
}

func (q countingQueries) PaymentByPGKey(ctx context.Context, key string) (payment.Payment, error) {
	q.c.add(&q.c.paymentReads)
	return q.Queries.PaymentByPGKey(ctx, key)
}

func (q countingQueries) PaymentsByOrder(ctx context.Context, id string) ([]payment.Payment, error) {
	q.c.add(&q.c.paymentReads)
	return q.Queries.PaymentsByOrder(ctx, id)
}

func (q countingQueries) LockPayment(ctx context.Context, id string) (payment.Payment, error) {
	q.c.add(&q.c.paymentReads)
	return q.Queries.LockPayment(ctx, id)
}

func (q countingQueries) LockPayments(ctx context.Context, ids []string) ([]payment.Payment, error) {
	q.c.add(&q.c.paymentReads)
	return q.Queries.LockPayments(ctx, ids)
}

func (q countingQueries) ClaimIdempotencyKey(ctx context.Context, r payment.IdempotencyRecord) (bool, error) {
	q.c.add(&q.c.keys)
	return q.Queries.ClaimIdempotencyKey(ctx, r)
}

type countingStore struct {
	countingQueries
	st payment.Store
}

func (s countingStore) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	s.c.add(&s.c.txs)
	return s.st.InTx(ctx, func(q payment.Queries) error { return fn(countingQueries{q, s.c}) })
}

func (s countingStore) Ping(ctx context.Context) error { return s.st.Ping(ctx) }

func (s countingStore) PayFromWallets(ctx context.Context, w payment.WalletPaymentsWrite) (bool, error) {
	s.c.add(&s.c.txs)
	return s.st.PayFromWallets(ctx, w)
}

func (s countingStore) SettleCardPayments(ctx context.Context, w payment.CardSettleWrite) (bool, error) {
	s.c.add(&s.c.txs)
	return s.st.SettleCardPayments(ctx, w)
}

// A successful card confirm reads its order once and looks for its payment
// twice (the look-up by key and the order's split find none; settle writes
// the payment at the version its intent wrote, with no read of its own) and
// commits three times: the idempotency claim, the intent, and the settle
// with the answer. It read the order 4 times and the payment 3 times and
// committed 4 times before the confirm path was straightened, and settle
// read the payment again under its lock until it was written at once.
// (A top-up adds one read-only transaction: the wallet to lock.)
func TestASuccessfulConfirmReadsEachRowOnce(t *testing.T) {
	mem := &memStore{db: newMemDB(newSim(1))}
	c := &counts{}
	st := countingStore{countingQueries{mem, c}, mem}
	gw := &staleGateway{cancels: map[string]bool{}}
	svc, ctx := newTestService(t, st, gw, payment.Config{})
	prd := teaProduct(t, svc, st, 3)
	o, err := svc.CreateOrder(ctx, "o", payment.CreateOrderInput{Kind: payment.OrderPurchase, Items: []payment.OrderItemInput{{ProductID: prd.ID, Quantity: 1}}})
	require.NoError(t, err)
	*c = counts{}
	res, err := svc.ConfirmPayment(ctx, "k", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
	require.NoError(t, err)
	require.Equal(t, payment.OrderPaid, res.Order.Status)
	require.Equal(t, 1, c.orderReads, "order reads")
	require.Equal(t, 2, c.paymentReads, "payment reads: the look-up by key (none), the order's split waiting for its card (none)")
	require.Equal(t, 1, c.keys, "idempotency claims")
	require.Equal(t, 2, c.txs, "transactions after the claim: intent, settle")
}

// failingAnswers cannot record idempotent answers, as a database that
// dropped the connection at that moment.
type failingAnswers struct{ payment.Store }

func (f failingAnswers) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	return f.Store.InTx(ctx, func(q payment.Queries) error { return fn(failingAnswersQ{q}) })
}

// PayFromWallets records a wallet batch's answers with its payments.
func (failingAnswers) PayFromWallets(context.Context, payment.WalletPaymentsWrite) (bool, error) {
	return false, errors.Join(payment.ErrTransient, errors.New("connection reset"))
}

// SettleCardPayments records a settle batch's answers with its payments.
func (failingAnswers) SettleCardPayments(context.Context, payment.CardSettleWrite) (bool, error) {
	return false, errors.Join(payment.ErrTransient, errors.New("connection reset"))
}

// InsertIdempotencyDoneMany records a wallet batch's refusals outside a
// transaction.
func (failingAnswers) InsertIdempotencyDoneMany(context.Context, []payment.IdempotencyRecord) ([]int, error) {
	return nil, errors.Join(payment.ErrTransient, errors.New("connection reset"))
}

type failingAnswersQ struct{ payment.Queries }

func (failingAnswersQ) CompleteIdempotencyKey(context.Context, string, string, string, []byte, time.Time) (bool, error) {
	return false, errors.Join(payment.ErrTransient, errors.New("connection reset"))
}

func (failingAnswersQ) InsertIdempotencyDone(context.Context, payment.IdempotencyRecord) (bool, error) {
	return false, errors.Join(payment.ErrTransient, errors.New("connection reset"))
}

func (failingAnswersQ) InsertIdempotencyDoneMany(context.Context, []payment.IdempotencyRecord) ([]int, error) {
	return nil, errors.Join(payment.ErrTransient, errors.New("connection reset"))
}

// A domain answer that could not be recorded is not given as the key's
// answer: the caller hears a failure to retry, and the retry is free to
// run again.
func TestAnAnswerNotRecordedIsNotGiven(t *testing.T) {
	mem := &memStore{db: newMemDB(newSim(1))}
	svc, ctx := newTestService(t, failingAnswers{mem}, &staleGateway{cancels: map[string]bool{}}, payment.Config{})
	ok := payment.NewService(mem, openLocker{}, payment.NewIdempotency(mem, time.Now, time.Minute), time.Now, payment.Config{}, slog.New(slog.DiscardHandler))
	for name, op := range map[string]func(*payment.Service) error{
		"payWithWallet (claim and effect in one transaction)": func(s *payment.Service) error {
			_, err := s.PayWithWallet(ctx, "k1", "ord_01JD0000000000000000000000")
			return err
		},
		"cancelOrder (claim, then effect)": func(s *payment.Service) error {
			_, err := s.CancelOrder(ctx, "k2", "ord_01JD0000000000000000000000")
			return err
		},
	} {
		err := op(svc)
		var de *payment.Error
		require.False(t, errors.As(err, &de), "%s: a domain code was answered without being recorded: %v", name, err)
		require.ErrorIs(t, err, payment.ErrTransient, name)
		require.ErrorIs(t, op(ok), payment.ErrNotFound, "%s: nothing stands for the key: the retry runs", name)
	}
}

// The caps on unpaid orders are checked with one read however many orders
// are open: reading each open order made every createOrder cost as many
// queries as the caller had unpaid orders (a user with 2,000 took 0.3 s per
// order). The caps still hold: orders past MaxOpenOrders and units past
// MaxReservedUnits are refused.
func TestCreatingAnOrderReadsNoOtherOrder(t *testing.T) {
	mem := &memStore{db: newMemDB(newSim(1))}
	c := &counts{}
	st := countingStore{countingQueries{mem, c}, mem}
	svc, ctx := newTestService(t, st, &staleGateway{cancels: map[string]bool{}}, payment.Config{MaxOpenOrders: 6, MaxReservedUnits: 8})
	prd := teaProduct(t, svc, st, 100)
	order := func(key string, quantity int64) error {
		_, err := svc.CreateOrder(ctx, key, payment.CreateOrderInput{Kind: payment.OrderPurchase, Items: []payment.OrderItemInput{{ProductID: prd.ID, Quantity: quantity}}})
		return err
	}
	for i := range 4 {
		require.NoError(t, order(fmt.Sprint("o", i), 1))
	}
	*c = counts{}
	require.NoError(t, order("o4", 2))
	require.Equal(t, 0, c.orderReads, "orders read to check the caps")

	var pe *payment.Error
	require.ErrorAs(t, order("units", 3), &pe, "5 open orders hold 6 units; 3 more pass 8")
	require.Equal(t, payment.CodeTooManyOpenOrders, pe.Code)
	require.NoError(t, order("o5", 1))
	require.ErrorAs(t, order("count", 1), &pe, "6 open orders")
	require.Equal(t, payment.CodeTooManyOpenOrders, pe.Code)
}

// webhookCounter counts the webhook jobs queued.
type webhookCounter struct {
	payment.Store
	mu   sync.Mutex
	keys []string
}

func (w *webhookCounter) EnqueueWebhook(ctx context.Context, dedupeKey, paymentKey string) error {
	w.mu.Lock()
	w.keys = append(w.keys, paymentKey)
	w.mu.Unlock()
	return w.Store.EnqueueWebhook(ctx, dedupeKey, paymentKey)
}

func (w *webhookCounter) queued() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.keys)
}

// The PG's webhook announcing the approval of a confirm this process is
// still waiting on queues no job: the call's answer settles the payment
// (and the probe job recorded with its intent, if the answer is lost). Any
// other claim, another payment's, or the same claim once the answer is
// applied, is queued.
func TestWebhookAboutAConfirmInFlightQueuesNoJob(t *testing.T) {
	mem := &memStore{db: newMemDB(newSim(1))}
	st := &webhookCounter{Store: mem}
	gw := &hangingGateway{staleGateway: staleGateway{cancels: map[string]bool{}}, release: make(chan struct{})}
	svc, ctx := newTestService(t, st, gw, payment.Config{ConfirmWait: 50 * time.Millisecond, ConfirmTimeout: time.Minute})
	o := topUpOrder(t, svc, ctx, "o", 5_000)
	_, err := svc.ConfirmPayment(ctx, "k", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
	require.ErrorIs(t, err, payment.ErrPaymentInDoubt)

	bg := context.Background()
	require.NoError(t, svc.AcceptWebhook(bg, "t1", "pk_1", payment.GatewayDone))
	require.Empty(t, st.queued(), "the approval of the confirm at the PG")
	require.NoError(t, svc.AcceptWebhook(bg, "t2", "pk_1", payment.GatewayCanceled))
	require.NoError(t, svc.AcceptWebhook(bg, "t3", "pk_1", ""))
	require.NoError(t, svc.AcceptWebhook(bg, "t4", "pk_2", payment.GatewayDone))
	require.Equal(t, []string{"pk_1", "pk_1", "pk_2"}, st.queued())

	close(gw.release)
	dctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	require.NoError(t, svc.Drain(dctx))
	require.NoError(t, svc.AcceptWebhook(bg, "t5", "pk_1", payment.GatewayDone))
	require.Equal(t, []string{"pk_1", "pk_1", "pk_2", "pk_1"}, st.queued(), "settled: the approval is queued again")
}
