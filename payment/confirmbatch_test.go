package payment_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store"
	"github.com/pago/pago/store/storetest"
	"github.com/pago/pago/worker"
)

// heldBatches holds the first read, intent and settle batch of a run until
// the other confirms wait behind it (Config.Await counts them per batch),
// so each next batch holds them all, and records how many rows each
// several-row read and write carried.
type heldBatches struct {
	payment.Store
	waiting map[string]*atomic.Int64 // by Await's what
	want    map[string]int64         // waiting confirms that release the first batch
	mu      sync.Mutex
	held    map[string]bool
	keys    []int // PaymentsByPGKeys
	inserts []int
	updates []int
	// beforeSettle, when set, runs once, before the first settle batch
	// of more than one payment is written at once.
	beforeSettle func(w payment.CardSettleWrite) error
}

func (h *heldBatches) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	return h.Store.InTx(ctx, func(q payment.Queries) error { return fn(confirmQueries{q, h}) })
}

// hold holds the first batch of what until its followers wait.
func (h *heldBatches) hold(what string) error {
	h.mu.Lock()
	first := !h.held[what]
	h.held[what] = true
	h.mu.Unlock()
	if !first {
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.waiting[what].Load() < h.want[what] {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d confirms waiting for a %s after 30 s, want %d", h.waiting[what].Load(), what, h.want[what])
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// The first read batch is one confirm's, which reads its order alone.
func (h *heldBatches) Order(ctx context.Context, id string) (payment.Order, error) {
	if err := h.hold("read batch"); err != nil {
		return payment.Order{}, err
	}
	return h.Store.Order(ctx, id)
}

// heldBatches passes the store's batch reads on, so the service batches
// its reads as it does on the store itself.
func (h *heldBatches) batch() payment.BatchQueries { return h.Store.(payment.BatchQueries) }

func (h *heldBatches) OrdersByIDs(ctx context.Context, ids []string) ([]payment.Order, error) {
	return h.batch().OrdersByIDs(ctx, ids)
}

func (h *heldBatches) PaymentsByOrders(ctx context.Context, ids []string) ([]payment.Payment, error) {
	return h.batch().PaymentsByOrders(ctx, ids)
}

func (h *heldBatches) PaymentEventsByPayments(ctx context.Context, ids []string) ([]payment.PaymentEvent, error) {
	return h.batch().PaymentEventsByPayments(ctx, ids)
}

func (h *heldBatches) PaymentsByPGKeys(ctx context.Context, keys []string) ([]payment.Payment, error) {
	h.mu.Lock()
	h.keys = append(h.keys, len(keys))
	h.mu.Unlock()
	return h.batch().PaymentsByPGKeys(ctx, keys)
}

// SettleCardPayments is the settle batch written at once: held as the
// batch's locked read is on the long way, and counted with its updates.
func (h *heldBatches) SettleCardPayments(ctx context.Context, w payment.CardSettleWrite) (bool, error) {
	if err := h.hold("settle batch"); err != nil {
		return false, err
	}
	h.mu.Lock()
	h.updates = append(h.updates, len(w.Payments))
	before := h.beforeSettle
	if len(w.Payments) > 1 {
		h.beforeSettle = nil
	}
	h.mu.Unlock()
	if before != nil && len(w.Payments) > 1 {
		if err := before(w); err != nil {
			return false, err
		}
	}
	return h.Store.SettleCardPayments(ctx, w)
}

type confirmQueries struct {
	payment.Queries
	h *heldBatches
}

func (q confirmQueries) TransitionOrders(ctx context.Context, ids []string, from, to payment.OrderStatus, now time.Time) ([]string, error) {
	if from == payment.OrderPending && to == payment.OrderInDoubt {
		if err := q.h.hold("intent batch"); err != nil {
			return nil, err
		}
	}
	return q.Queries.TransitionOrders(ctx, ids, from, to, now)
}

func (q confirmQueries) LockPayments(ctx context.Context, ids []string) ([]payment.Payment, error) {
	if err := q.h.hold("settle batch"); err != nil {
		return nil, err
	}
	return q.Queries.LockPayments(ctx, ids)
}

func (q confirmQueries) InsertPayments(ctx context.Context, ps []payment.Payment, history []payment.PaymentEvent) ([]string, error) {
	q.h.mu.Lock()
	q.h.inserts = append(q.h.inserts, len(ps))
	q.h.mu.Unlock()
	return q.Queries.InsertPayments(ctx, ps, history)
}

func (q confirmQueries) UpdatePayments(ctx context.Context, ps []payment.Payment, now time.Time, history []payment.PaymentEvent) ([]string, error) {
	q.h.mu.Lock()
	q.h.updates = append(q.h.updates, len(ps))
	q.h.mu.Unlock()
	return q.Queries.UpdatePayments(ctx, ps, now, history)
}

// barrierGateway approves a confirm once n confirms are at the PG, so
// their answers arrive together.
type barrierGateway struct {
	n    int
	mu   sync.Mutex
	in   int
	open chan struct{}
}

func (g *barrierGateway) Confirm(ctx context.Context, key, orderID string, amount int64, _ string) (payment.GatewayPayment, error) {
	g.mu.Lock()
	if g.in++; g.in == g.n {
		close(g.open)
	}
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
		return payment.GatewayPayment{}, ctx.Err()
	}
	now := time.Now()
	return payment.GatewayPayment{PaymentKey: key, OrderID: orderID, Status: payment.GatewayDone, TotalAmount: amount, ApprovedAt: &now}, nil
}

func (g *barrierGateway) Payment(context.Context, string) (payment.GatewayPayment, error) {
	return payment.GatewayPayment{}, errors.New("not in this test")
}

func (g *barrierGateway) PaymentByOrderID(context.Context, string) (payment.GatewayPayment, error) {
	return payment.GatewayPayment{}, errors.New("not in this test")
}

func (g *barrierGateway) Cancel(context.Context, string, *int64, string, string) (payment.GatewayPayment, error) {
	return payment.GatewayPayment{}, errors.New("not in this test")
}

// idle works no job: this test's probes and expiries are due in an hour.
type idle[T river.JobArgs] struct{ river.WorkerDefaults[T] }

func (idle[T]) Work(context.Context, *river.Job[T]) error { return nil }

// Card confirms arriving together are recorded in batches, and each
// caller still gets its own answer: n confirms of n orders, plus a second
// confirm (another payment key) of one of them, which steps out of its
// batch and hears that the order is no longer PENDING. One payment of the
// big settle batch moves just before the batch is written at once (a
// probe re-sends its confirm), so the batch at once writes nothing and
// goes the long way. Every order ends PAID with one DONE payment, each key
// replays its answer, and the books balance (Verify: the PG clearing
// account holds what the PG owes, so no approval is posted twice).
// On PostgreSQL: SQLite's one connection serialises transactions, so the
// held batch would hold the other confirms out of the database.
func TestConcurrentConfirmsAreRecordedInBatches(t *testing.T) {
	const n = 6
	eng, ok := storetest.Postgres(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	t.Run(eng.Name, func(t *testing.T) {
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		st, err := store.Open(ctx, eng.NewDatabase(t))
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		require.NoError(t, st.Migrate(ctx, log))
		workers := river.NewWorkers()
		river.AddWorker(workers, idle[worker.ProbePaymentArgs]{})
		river.AddWorker(workers, idle[worker.ExpireOrderArgs]{})
		require.NoError(t, st.StartJobs(ctx, store.JobsConfig{Workers: workers, Logger: log}))
		t.Cleanup(func() { _ = st.StopJobs(context.Background()) })

		// Each first batch is released when the others wait behind it:
		// the n other confirms (the duplicate included) for the reads and
		// the intents, the n-1 other approvals for the settles.
		held := &heldBatches{Store: st, held: map[string]bool{}, waiting: map[string]*atomic.Int64{},
			want: map[string]int64{"read batch": n, "intent batch": n, "settle batch": n - 1}}
		for what := range held.want {
			held.waiting[what] = &atomic.Int64{}
		}
		held.beforeSettle = func(w payment.CardSettleWrite) error {
			p, err := st.Payment(ctx, w.Payments[len(w.Payments)-1].ID)
			if err != nil {
				return err
			}
			p.ConfirmAttempt++
			if ok, err := st.UpdatePayment(ctx, p, time.Now()); err != nil || !ok {
				return fmt.Errorf("move a payment of the batch: %v %w", ok, err)
			}
			return nil
		}
		gw := &barrierGateway{n: n, open: make(chan struct{})}
		lines := &settledLines{by: map[string]string{}}
		svc := payment.NewService(held, openLocker{}, payment.NewIdempotency(held, time.Now, time.Minute), time.Now,
			payment.Config{Gateway: gw, ProbeDelay: time.Hour, ConfirmWait: -1,
				Await: func(_ context.Context, what string, ready <-chan struct{}) {
					if w := held.waiting[what]; w != nil {
						w.Add(1)
					}
					<-ready
				}}, slog.New(lines))
		u, err := payment.NewUsers(st, time.Now).Ensure(ctx, "alice", false)
		require.NoError(t, err)
		alice := payment.WithUser(ctx, u)
		ops, err := payment.NewUsers(st, time.Now).Ensure(ctx, "ops", true)
		require.NoError(t, err)
		prd, err := svc.UpsertProduct(payment.WithUser(ctx, ops), "p", payment.UpsertProductInput{SKU: "tea", Name: "Tea", Price: 1_000, Stock: 100})
		require.NoError(t, err)
		type confirm struct {
			key string
			in  payment.ConfirmInput
			res payment.ConfirmResult
			err error
		}
		var cs []*confirm
		for i := range n {
			o, err := svc.CreateOrder(alice, fmt.Sprintf("o%d", i), payment.CreateOrderInput{Kind: payment.OrderPurchase,
				Items: []payment.OrderItemInput{{ProductID: prd.ID, Quantity: 1 + int64(i%2)}}})
			require.NoError(t, err)
			cs = append(cs, &confirm{key: fmt.Sprintf("c%d", i), in: payment.ConfirmInput{OrderID: o.ID, PaymentKey: fmt.Sprintf("pk_%d", i), Amount: o.Amount.Amount}})
		}
		dup := &confirm{key: "dup", in: cs[0].in}
		dup.in.PaymentKey = "pk_other_tab"
		var wg sync.WaitGroup
		for _, c := range append(cs, dup) {
			wg.Go(func() {
				ctx := context.WithValue(alice, requestMark{}, c.key)
				c.res, c.err = svc.ConfirmPayment(ctx, c.key, payment.SourceRedirect, c.in)
			})
		}
		wg.Wait()
		// Each "payment settled" line carries its own request, not the
		// batch leader's.
		lines.mu.Lock()
		for _, c := range cs {
			if c.err == nil {
				require.Equal(t, c.key, lines.by[c.res.Payment.ID], "the request of the line saying %s settled", c.res.Payment.ID)
			}
		}
		lines.mu.Unlock()

		// Order 0 is paid by one of its two confirms; the other hears
		// that it is no longer PENDING.
		if cs[0].err != nil {
			cs[0], dup = dup, cs[0]
		}
		require.ErrorIs(t, dup.err, payment.ErrInvalidState, "the other tab's confirm of a paid order")
		for _, c := range cs {
			require.NoError(t, c.err, c.key)
			require.Equal(t, payment.OrderPaid, c.res.Order.Status, c.key)
			require.Equal(t, payment.PaymentDone, c.res.Payment.Status, c.key)
			require.Equal(t, c.in.PaymentKey, c.res.Payment.PGPaymentKey, c.key)
			again, err := svc.ConfirmPayment(alice, c.key, payment.SourceRedirect, c.in)
			require.NoError(t, err, "replay of %s", c.key)
			require.Equal(t, c.res.Payment.ID, again.Payment.ID, "replay of %s", c.key)
			ps, err := st.PaymentsByOrder(ctx, c.in.OrderID)
			require.NoError(t, err)
			require.Len(t, ps, 1, "payments of %s", c.in.OrderID)
		}
		_, err = svc.ConfirmPayment(alice, dup.key, payment.SourceRedirect, dup.in)
		require.ErrorIs(t, err, payment.ErrInvalidState, "replay of the refused confirm")

		held.mu.Lock()
		keys, inserts, updates := held.keys, held.inserts, held.updates
		held.mu.Unlock()
		require.Equal(t, []int{n}, keys, "reads: the held one alone, then the n others' keys together")
		require.Equal(t, []int{1, n - 1}, inserts, "intents: the held one, then the n-1 others together (the duplicate stepped out)")
		require.Equal(t, []int{1, n - 1, n - 1}, updates, "settles: the held one, then the n-1 others together at once, then the long way")
		v, err := svc.Verify(ctx)
		require.NoError(t, err)
		require.Empty(t, v)
	})
}

// failingBatchInserts refuses the several-row insert of card payments: a
// statement failing inside an intent batch's transaction.
type failingBatchInserts struct{ payment.Store }

func (f failingBatchInserts) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	return f.Store.InTx(ctx, func(q payment.Queries) error { return fn(failingInsertsQueries{q}) })
}

type failingInsertsQueries struct{ payment.Queries }

func (failingInsertsQueries) InsertPayments(context.Context, []payment.Payment, []payment.PaymentEvent) ([]string, error) {
	return nil, errors.New("injected: the batch's insert failed")
}

// An intent batch that fails inside its transaction wrote nothing, so its
// confirms are recorded one by one rather than all failed: one bad row (or
// a deadlock) fails at most itself.
func TestAnIntentBatchThatFailsInsideIsRecordedOneByOne(t *testing.T) {
	mem := &memStore{db: newMemDB(newSim(1))}
	gw := &staleGateway{cancels: map[string]bool{}}
	svc, ctx := newTestService(t, failingBatchInserts{mem}, gw, payment.Config{})
	o := topUpOrder(t, svc, ctx, "o", 5_000)
	res, err := svc.ConfirmPayment(ctx, "k", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
	require.NoError(t, err)
	require.Equal(t, payment.OrderPaid, res.Order.Status)
	require.Equal(t, payment.PaymentDone, res.Payment.Status)
}

// failingBatchLedger refuses the several-row ledger posting: a statement
// failing in a settle batch after its payments and orders were written.
type failingBatchLedger struct{ payment.Store }

func (f failingBatchLedger) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	return f.Store.InTx(ctx, func(q payment.Queries) error { return fn(failingLedgerQueries{q}) })
}

type failingLedgerQueries struct{ payment.Queries }

func (failingLedgerQueries) InsertLedgerTransactions(context.Context, []payment.LedgerTransaction) error {
	return errors.New("injected: the batch's ledger posting failed")
}

// A settle batch that fails after writing its payments DONE and its orders
// PAID rolls all of it back, and each approval is settled alone: the order
// ends PAID with its payment posted to the ledger once, and the books
// balance.
func TestASettleBatchThatFailsMidwayIsSettledOneByOne(t *testing.T) {
	mem := &memStore{db: newMemDB(newSim(1))}
	st := failingBatchLedger{mem}
	gw := &staleGateway{cancels: map[string]bool{}}
	svc, ctx := newTestService(t, st, gw, payment.Config{})
	prd := teaProduct(t, svc, st, 3)
	o, err := svc.CreateOrder(ctx, "o", payment.CreateOrderInput{Kind: payment.OrderPurchase, Items: []payment.OrderItemInput{{ProductID: prd.ID, Quantity: 1}}})
	require.NoError(t, err)
	res, err := svc.ConfirmPayment(ctx, "k", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
	require.NoError(t, err)
	require.Equal(t, payment.OrderPaid, res.Order.Status)
	events, err := mem.PaymentEvents(context.Background(), res.Payment.ID)
	require.NoError(t, err)
	require.Len(t, events, 2, "sent, then approved once")
	v, err := svc.Verify(context.Background())
	require.NoError(t, err)
	require.Empty(t, v, "ledger, stock and paid orders agree")
}

// requestMark names a test request in its context, as the web layer's
// request id does.
type requestMark struct{}

// settledLines records, per payment, the request mark of the context its
// "payment settled" line was logged with.
type settledLines struct {
	mu sync.Mutex
	by map[string]string
}

func (h *settledLines) Enabled(context.Context, slog.Level) bool { return true }

func (h *settledLines) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "payment settled" {
		return nil
	}
	mark, _ := ctx.Value(requestMark{}).(string)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "payment" {
			h.mu.Lock()
			h.by[a.Value.String()] = mark
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *settledLines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *settledLines) WithGroup(string) slog.Handler      { return h }

// stuckConfirms makes, once armed, a card confirm's step hang until its
// batch's context ends, as a row lock held elsewhere or a slow commit
// would: the transaction that moves an order by move ("PENDING>IN_DOUBT"
// for the intent, "IN_DOUBT>PAID" for the settle), or the claim when move
// is "". Without committed it hangs before it writes; with committed it
// commits first, and only its answer is lost.
type stuckConfirms struct {
	payment.Store
	armed     atomic.Bool
	move      string
	committed bool
}

func (s *stuckConfirms) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	moved := false
	err := s.Store.InTx(ctx, func(q payment.Queries) error { return fn(stuckConfirmQueries{q, s, &moved}) })
	if err == nil && moved && s.armed.CompareAndSwap(true, false) {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

type stuckConfirmQueries struct {
	payment.Queries
	s     *stuckConfirms
	moved *bool
}

func (q stuckConfirmQueries) TransitionOrders(ctx context.Context, ids []string, from, to payment.OrderStatus, now time.Time) ([]string, error) {
	if string(from)+">"+string(to) == q.s.move {
		if !q.s.committed && q.s.armed.CompareAndSwap(true, false) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		*q.moved = q.s.committed
	}
	return q.Queries.TransitionOrders(ctx, ids, from, to, now)
}

// SettleCardPayments is the settle batch written at once, stuck as its
// transaction on the long way is.
func (s *stuckConfirms) SettleCardPayments(ctx context.Context, w payment.CardSettleWrite) (bool, error) {
	if s.move != string(payment.OrderInDoubt)+">"+string(payment.OrderPaid) || !s.armed.CompareAndSwap(true, false) {
		return s.Store.SettleCardPayments(ctx, w)
	}
	if s.committed {
		if _, err := s.Store.SettleCardPayments(ctx, w); err != nil {
			return false, err
		}
	}
	<-ctx.Done()
	return false, ctx.Err()
}

func (s *stuckConfirms) ClaimIdempotencyKey(ctx context.Context, r payment.IdempotencyRecord) (bool, error) {
	if s.move != "" || !s.armed.CompareAndSwap(true, false) {
		return s.Store.ClaimIdempotencyKey(ctx, r)
	}
	if s.committed {
		if _, err := s.Store.ClaimIdempotencyKey(ctx, r); err != nil {
			return false, err
		}
	}
	<-ctx.Done()
	return false, ctx.Err()
}

// countingGateway approves every confirm and counts them.
type countingGateway struct {
	staleGateway
	confirms atomic.Int64
}

func (g *countingGateway) Confirm(ctx context.Context, key, orderID string, amount int64, idem string) (payment.GatewayPayment, error) {
	g.confirms.Add(1)
	return g.staleGateway.Confirm(ctx, key, orderID, amount, idem)
}

// A card confirm whose claim, intent or settle batch is stuck in the
// database is answered once the batch's timeout has passed, instead of
// holding its page (and every confirm queued behind it) for ever — it used
// to wait for ever: the batches ran without a deadline — and never charges
// twice:
//   - a claim or intent that wrote nothing: REQUEST_IN_PROGRESS, nothing
//     sent to the PG, and a retry with the same key confirms once;
//   - a claim written but unanswered: the same, the claim given back so the
//     retry need not wait out its lease;
//   - an intent written but unanswered: REQUEST_IN_PROGRESS, nothing sent;
//     the payment is IN_DOUBT, for the probe (or a later retry) to finish;
//   - a settle written but unanswered: the PG approved it, and the answer
//     is the one the settle stored, PAID — it was REQUEST_IN_PROGRESS.
func TestAStuckConfirmBatchIsAnsweredWithinItsTimeout(t *testing.T) {
	for _, tc := range []struct {
		name      string
		move      string
		committed bool
		// first: the first answer's code ("" = PAID) and how many confirms
		// the PG had by then; then the retry's.
		first, retry         payment.Code
		firstPG, retryPG     int64
		firstOrder, endOrder payment.OrderStatus
	}{
		{"claim, nothing written", "", false, payment.CodeRequestInProgress, "", 0, 1, payment.OrderPending, payment.OrderPaid},
		{"claim written, answer lost", "", true, payment.CodeRequestInProgress, "", 0, 1, payment.OrderPending, payment.OrderPaid},
		{"intent, nothing written", "PENDING>IN_DOUBT", false, payment.CodeRequestInProgress, "", 0, 1, payment.OrderPending, payment.OrderPaid},
		{"intent written, answer lost", "PENDING>IN_DOUBT", true, payment.CodeRequestInProgress, payment.CodePaymentInDoubt, 0, 0, payment.OrderInDoubt, payment.OrderInDoubt},
		{"settle written, answer lost", "IN_DOUBT>PAID", true, "", "", 1, 1, payment.OrderPaid, payment.OrderPaid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &stuckConfirms{Store: &memStore{db: newMemDB(newSim(1))}, move: tc.move, committed: tc.committed}
			gw := &countingGateway{staleGateway: staleGateway{cancels: map[string]bool{}}}
			svc, ctx := newTestService(t, st, gw, payment.Config{BatchTimeout: 50 * time.Millisecond})
			prd := teaProduct(t, svc, st, 10)
			o, err := svc.CreateOrder(ctx, "o", payment.CreateOrderInput{Kind: payment.OrderPurchase,
				Items: []payment.OrderItemInput{{ProductID: prd.ID, Quantity: 1}}})
			require.NoError(t, err)
			confirm := func(want payment.Code, pg int64, order payment.OrderStatus) {
				t.Helper()
				res, err := within(t, "confirmPayment", func() (payment.ConfirmResult, error) {
					return svc.ConfirmPayment(ctx, "c", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: "pk_1", Amount: 5_000})
				})
				require.Equal(t, want, codeOf(err), "%v", err)
				if want == "" {
					require.NoError(t, err)
					require.Equal(t, payment.OrderPaid, res.Order.Status)
				}
				require.Equal(t, pg, gw.confirms.Load(), "confirms sent to the PG")
				got, err := svc.Order(ctx, o.ID)
				require.NoError(t, err)
				require.Equal(t, order, got.Status)
			}

			st.armed.Store(true)
			confirm(tc.first, tc.firstPG, tc.firstOrder)
			require.False(t, st.armed.Load(), "the step under test was reached")
			confirm(tc.retry, tc.retryPG, tc.endOrder)
			v, err := st.Store.(*memStore).Violations(context.Background())
			require.NoError(t, err)
			require.Empty(t, v)
		})
	}
}
