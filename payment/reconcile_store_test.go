package payment_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/pg"
	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/store"
	"github.com/pago/pago/store/storetest"
	"github.com/pago/pago/worker"
)

var kst = time.FixedZone("KST", 9*60*60)

// shiftedClock is the real clock moved by an offset: back, when the real
// time is close to midnight KST, so a test's sales and its reconciliation
// share one sold date; forward, to let orders expire or payouts fall due.
type shiftedClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func newShiftedClock() *shiftedClock {
	c := &shiftedClock{}
	if h := time.Now().In(kst).Hour(); h >= 22 {
		c.offset = -3 * time.Hour
	}
	return c
}

func (c *shiftedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset).UTC()
}

func (c *shiftedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// lostAnswers replaces the answer of confirms for the orders in lose,
// after the PG committed them: a response that never arrives (unknown
// outcome), or a PG that looked unreachable (nothing sent, pago believes).
type lostAnswers struct {
	payment.Gateway
	mu   sync.Mutex
	lose map[string]error
}

func (g *lostAnswers) Confirm(ctx context.Context, key, orderID string, amount int64, idem string) (payment.GatewayPayment, error) {
	res, err := g.Gateway.Confirm(ctx, key, orderID, amount, idem)
	g.mu.Lock()
	lost := g.lose[orderID]
	g.mu.Unlock()
	if lost != nil {
		return payment.GatewayPayment{}, lost
	}
	return res, err
}

func (g *lostAnswers) loseAnswer(orderID string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lose[orderID] = err
}

// reconEnv is pago's money core on a real store, with the sandbox PG over
// HTTP and a reconciler.
type reconEnv struct {
	t      *testing.T
	ctx    context.Context
	clock  *shiftedClock
	st     *store.Store
	svc    *payment.Service
	rec    *payment.Reconciler
	sb     *sandbox.Sandbox
	sbURL  string
	client *pg.Client
	gw     *lostAnswers
	users  *payment.Users
	admin  context.Context
}

func newReconEnv(t *testing.T, eng storetest.Engine, refunds payment.MissedRefunds) *reconEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	e := &reconEnv{t: t, ctx: ctx, clock: newShiftedClock()}
	st, err := store.Open(ctx, eng.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Migrate(ctx, log))
	e.st = st

	var urls []string
	if eng.RedisURL != "" {
		urls = []string{eng.RedisURL}
	}
	locker, err := store.OpenLocker(ctx, store.LockerConfig{URLs: urls, Prefix: storetest.RedisPrefix(),
		Expiry: 30 * time.Second, MaxWait: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { locker.Close() })

	e.sb = sandbox.New(sandbox.Config{Now: e.clock.Now})
	srv := httptest.NewServer(e.sb)
	t.Cleanup(srv.Close)
	t.Cleanup(e.sb.Close)
	e.sbURL = srv.URL
	e.client, err = pg.New(pg.Config{BaseURL: srv.URL, SecretKey: sandbox.DefaultSecretKey, Logger: log})
	require.NoError(t, err)
	e.gw = &lostAnswers{Gateway: pg.Gateway{Client: e.client}, lose: map[string]error{}}

	idem := payment.NewIdempotency(st, e.clock.Now, time.Minute)
	// The probe waits a day: in these tests only reconciliation settles
	// what the redirect missed.
	e.svc = payment.NewService(st, locker, idem, e.clock.Now, payment.Config{Gateway: e.gw, OrderTTL: 10 * time.Minute,
		ProbeDelay: 24 * time.Hour}, log)
	e.rec = payment.NewReconciler(e.svc, payment.ReconcilerConfig{Store: st, Settlements: pg.Gateway{Client: e.client},
		Refunds: refunds})

	workers := river.NewWorkers()
	river.AddWorker(workers, &worker.ExpireOrder{Service: e.svc})
	river.AddWorker(workers, &worker.ProbePayment{Service: e.svc})
	river.AddWorker(workers, &worker.PGWebhook{Service: e.svc})
	require.NoError(t, st.StartJobs(ctx, store.JobsConfig{Workers: workers, Logger: log}))
	t.Cleanup(func() { _ = st.StopJobs(context.Background()) })

	e.users = payment.NewUsers(st, e.clock.Now)
	admin, err := e.users.Ensure(ctx, "ops", true)
	require.NoError(t, err)
	e.admin = payment.WithUser(ctx, admin)
	return e
}

// today is the sold date of sales made now.
func (e *reconEnv) today() string { return e.clock.Now().In(kst).Format(time.DateOnly) }

// customer is a new user with their own wallet (room for top-ups).
func (e *reconEnv) customer(name string) context.Context {
	u, err := e.users.Ensure(e.ctx, name, false)
	require.NoError(e.t, err)
	return payment.WithUser(e.ctx, u)
}

// topUpOrder creates a PENDING top-up order.
func (e *reconEnv) topUpOrder(uctx context.Context, amount int64) payment.Order {
	o, err := e.svc.CreateOrder(uctx, payment.NewID("key", time.Now()), payment.CreateOrderInput{Kind: payment.OrderWalletTopUp, Amount: &amount})
	require.NoError(e.t, err)
	return o
}

// authenticate has the customer pay o in the PG's widget; the PG holds the
// payment, unconfirmed.
func (e *reconEnv) authenticate(o payment.Order) string {
	body, _ := json.Marshal(map[string]any{"orderId": o.ID, "amount": o.Amount.Amount, "orderName": o.Name})
	resp, err := http.Post(e.sbURL+"/_sandbox/authenticate", "application/json", bytes.NewReader(body))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	var out struct {
		PaymentKey string `json:"paymentKey"`
	}
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&out))
	return out.PaymentKey
}

// paidByCard is a top-up of amount paid and confirmed through pago.
func (e *reconEnv) paidByCard(name string, amount int64) payment.Order {
	uctx := e.customer(name)
	o := e.topUpOrder(uctx, amount)
	key := e.authenticate(o)
	res, err := e.svc.ConfirmPayment(uctx, "confirm-"+o.ID, payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: key, Amount: amount})
	require.NoError(e.t, err)
	require.Equal(e.t, payment.OrderPaid, res.Order.Status)
	return res.Order
}

// confirmedBehindPagosBack is an order the PG approved through its own
// confirm API while pago never heard of it.
func (e *reconEnv) confirmedBehindPagosBack(uctx context.Context, o payment.Order) string {
	key := e.authenticate(o)
	_, err := e.client.Confirm(e.ctx, pg.ConfirmRequest{PaymentKey: key, OrderID: o.ID, Amount: o.Amount.Amount}, "behind-"+o.ID)
	require.NoError(e.t, err)
	return key
}

func (e *reconEnv) fault(f sandbox.SettlementFault) {
	require.NoError(e.t, e.sb.AddSettlementFault(f))
}

func (e *reconEnv) run(date string) payment.ReconciliationRun {
	e.t.Helper()
	run, err := e.rec.Run(e.ctx, date)
	require.NoError(e.t, err)
	require.Equal(e.t, payment.RunDone, run.Status, run.Error)
	return run
}

func (e *reconEnv) mismatches(date string) []payment.Mismatch {
	e.t.Helper()
	c, err := e.rec.Mismatches(e.admin, payment.MismatchFilter{Date: date}, payment.Page{First: 100})
	require.NoError(e.t, err)
	return c.Items
}

func (e *reconEnv) verifyClean() {
	e.t.Helper()
	v, err := e.svc.Verify(e.ctx)
	require.NoError(e.t, err)
	require.Empty(e.t, v, "pago verify")
}

func (e *reconEnv) wallet(uctx context.Context) int64 {
	w, err := e.svc.MyWallet(uctx)
	if errors.Is(err, payment.ErrNotFound) {
		return 0
	}
	require.NoError(e.t, err)
	return w.Balance.Amount
}

func (e *reconEnv) ledgerSum(account, kind string) int64 {
	var sum int64
	q := `SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
	      WHERE e.account_id = ? AND t.kind = ?`
	require.NoError(e.t, e.st.DB().NewRaw(q, account, kind).Scan(e.ctx, &sum))
	return sum
}
