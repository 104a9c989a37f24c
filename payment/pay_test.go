package payment_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store"
	"github.com/pago/pago/store/storetest"
	"github.com/pago/pago/worker"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
)

// One order paid twice in one batch (under two keys, or one key sent
// twice): the second's answer commits or rolls back with the payment that
// pays the order. When that batch's write fails, nothing is kept, and a
// retry pays the order — it used to replay "order is PAID" for good while
// the order stayed PENDING and nothing was charged.
func TestAnOrderTwiceInABatchIsAnsweredWithItsPayment(t *testing.T) {
	for _, sameKey := range []bool{false, true} {
		mem := &memStore{db: newMemDB(newSim(1))}
		g := &heldWrites{Store: mem}
		queued := make(chan struct{}, 4)
		svc, ctx := newTestService(t, g, &staleGateway{cancels: map[string]bool{}}, payment.Config{
			Await: func(_ context.Context, _ string, ready <-chan struct{}) {
				queued <- struct{}{}
				<-ready
			},
		})
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
		g.armed, g.failNext = true, true
		g.entered, g.release = make(chan struct{}), make(chan struct{})
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
		<-queued
		pay(second, o.ID)
		<-queued
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

// heldWrites holds a test's next batch write once armed, until released,
// then fails the one after it when failNext is set, as a dropped
// connection would. It records the wallets every write debits and, with
// locks, checks that their locks are held.
type heldWrites struct {
	payment.Store
	locks    *lockerRefusing // nil: locks are not checked
	mu       sync.Mutex
	armed    bool
	failNext bool
	debits   [][]payment.WalletDebit
	unlocked []string // debited wallets whose lock was not held
	entered  chan struct{}
	release  chan struct{}
}

func (h *heldWrites) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	return h.Store.InTx(ctx, func(q payment.Queries) error { return fn(heldQueries{q, h}) })
}

type heldQueries struct {
	payment.Queries
	h *heldWrites
}

func (q heldQueries) WriteWalletPayments(ctx context.Context, w payment.WalletPaymentsWrite) (payment.WalletPaymentsWritten, error) {
	if err := q.h.write(w); err != nil {
		return payment.WalletPaymentsWritten{}, err
	}
	return q.Queries.WriteWalletPayments(ctx, w)
}

// PayFromWallets is a batch's write at once, held or failed as
// WriteWalletPayments.
func (h *heldWrites) PayFromWallets(ctx context.Context, w payment.WalletPaymentsWrite) (bool, error) {
	if len(w.Debits) == 0 {
		return h.Store.PayFromWallets(ctx, w) // refusals only: not a write the tests hold
	}
	if err := h.write(w); err != nil {
		return false, err
	}
	return h.Store.PayFromWallets(ctx, w)
}

// write records w's debits, holds it when armed, and fails it when
// failNext is set.
func (h *heldWrites) write(w payment.WalletPaymentsWrite) error {
	h.mu.Lock()
	h.debits = append(h.debits, w.Debits)
	for _, d := range w.Debits {
		if h.locks != nil && !h.locks.holds("wallet:"+d.WalletID) {
			h.unlocked = append(h.unlocked, d.WalletID)
		}
	}
	held := h.armed
	fail := !held && h.failNext
	h.armed = false
	if fail {
		h.failNext = false
	}
	h.mu.Unlock()
	if held {
		close(h.entered)
		<-h.release
	}
	if fail {
		return errors.New("connection reset by peer")
	}
	return nil
}

// lockerRefusing hands out locks it keeps track of, and refuses a name as
// many times as it is told to (-1: always), as a wallet held by another
// instance.
type lockerRefusing struct {
	mu     sync.Mutex
	refuse map[string]int
	held   map[string]bool
	// waits: for each lock waited for (a batch's leader's, bounded only
	// by the batch's timeout, not tried for lockTry), the locks held
	// meanwhile.
	waits [][]string
}

// aWait tells a lock waited for from one only tried: a try is bounded by
// 10 ms (lockTry), a wait only by the batch's timeout (5 s by default; the
// tests that use this locker keep it).
func aWait(ctx context.Context) bool {
	deadline, bounded := ctx.Deadline()
	return !bounded || time.Until(deadline) > 100*time.Millisecond // 10 × lockTry
}

func (l *lockerRefusing) Lock(ctx context.Context, name string) (payment.Lock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if aWait(ctx) {
		var held []string
		for name, ok := range l.held {
			if ok {
				held = append(held, name)
			}
		}
		l.waits = append(l.waits, held)
	}
	return l.tryLocked(name)
}

// tryLocked tries name once, l.mu held.
func (l *lockerRefusing) tryLocked(name string) (payment.Lock, error) {
	if n := l.refuse[name]; n != 0 {
		l.refuse[name] = n - 1
		return nil, payment.ErrLockBusy
	}
	if l.held[name] {
		return nil, errors.New("test locker: " + name + " is held already")
	}
	l.held[name] = true
	return &trackedLock{l: l, name: name}, nil
}

func (l *lockerRefusing) Ping(context.Context) error { return nil }

// manyLocker is lockerRefusing as a payment.ManyLocker: each name of a
// TryLocks is tried once, whatever the wait, which takes one of its
// refusals.
type manyLocker struct{ *lockerRefusing }

func (m manyLocker) TryLocks(_ context.Context, names []string, _ time.Duration) ([]payment.Lock, []error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	locks, errs := make([]payment.Lock, len(names)), make([]error, len(names))
	for i, name := range names {
		locks[i], errs[i] = m.tryLocked(name)
	}
	return locks, errs
}

func (m manyLocker) UnlockAll(ctx context.Context, locks []payment.Lock) []error {
	return unlockEach(ctx, locks)
}

func (l *lockerRefusing) holds(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[name]
}

func (l *lockerRefusing) set(name string, refusals int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refuse[name] = refusals
}

type trackedLock struct {
	l    *lockerRefusing
	name string
}

func (k *trackedLock) Until() time.Time { return time.Now().Add(time.Minute) }

func (k *trackedLock) Unlock(context.Context) error {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	delete(k.l.held, k.name)
	return nil
}

// Payments from several wallets that arrive together are one batch, with
// one write debiting each wallet by its own payments, under each wallet's
// lock: each payment gets its own answer (a refusal for one wallet's
// balance fails only itself). A wallet whose lock is busy when the batch
// tries it does not hold the others up: its payments go in the next batch,
// which waits for that lock, and fail retryably only if it stays busy.
// With a locker that tries several at once (ManyLocker), and without.
func TestOneBatchPaysFromSeveralWallets(t *testing.T) {
	t.Run("one by one", func(t *testing.T) { testOneBatchPaysFromSeveralWallets(t, false) })
	t.Run("many at once", func(t *testing.T) { testOneBatchPaysFromSeveralWallets(t, true) })
}

func testOneBatchPaysFromSeveralWallets(t *testing.T, many bool) {
	mem := &memStore{db: newMemDB(newSim(1))}
	locks := &lockerRefusing{refuse: map[string]int{}, held: map[string]bool{}}
	var locker payment.Locker = locks
	// How many tries a batch makes for a wallet other than its leader's:
	// with a ManyLocker, once with all the others and once on its own.
	tries := 1
	if many {
		locker, tries = manyLocker{locks}, 2
	}
	h := &heldWrites{Store: mem, locks: locks, entered: make(chan struct{}), release: make(chan struct{})}
	queued := make(chan struct{}, 16)
	svc := payment.NewService(h, locker, payment.NewIdempotency(h, time.Now, time.Minute), time.Now, payment.Config{
		Gateway: &staleGateway{cancels: map[string]bool{}}, WalletBatches: 1,
		Await: func(_ context.Context, _ string, ready <-chan struct{}) {
			queued <- struct{}{}
			<-ready
		},
	}, slog.New(slog.DiscardHandler))
	users := payment.NewUsers(h, time.Now)
	as := func(name string) context.Context {
		u, err := users.Ensure(context.Background(), name, false)
		require.NoError(t, err)
		return payment.WithUser(context.Background(), u)
	}
	alice, bob := as("alice"), as("bob")
	ops, err := users.Ensure(context.Background(), "ops", true)
	require.NoError(t, err)
	prd, err := svc.UpsertProduct(payment.WithUser(context.Background(), ops), "p", payment.UpsertProductInput{SKU: "tea", Name: "Tea", Price: 100, Stock: 1_000})
	require.NoError(t, err)
	wallets := map[context.Context]string{}
	for ctx, amount := range map[context.Context]int64{alice: 5_000, bob: 1_000} {
		top := topUpOrder(t, svc, ctx, "top", amount)
		_, err := svc.ConfirmPayment(ctx, "c", payment.SourceMutation, payment.ConfirmInput{OrderID: top.ID, PaymentKey: "pk_" + top.ID, Amount: amount})
		require.NoError(t, err)
		w, err := svc.MyWallet(ctx)
		require.NoError(t, err)
		wallets[ctx] = w.ID
	}
	order := func(ctx context.Context, key string, amount int64) payment.Order {
		o, err := svc.CreateOrder(ctx, key, payment.CreateOrderInput{Kind: payment.OrderPurchase,
			Items: []payment.OrderItemInput{{ProductID: prd.ID, Quantity: amount / 100}}})
		require.NoError(t, err)
		return o
	}
	type walletPayment struct {
		ctx   context.Context
		order payment.Order
		code  payment.Code // "" for paid
	}
	// The lead's batch is held in its write while the others queue behind
	// it, in the order given.
	batch := func(lead walletPayment, next ...walletPayment) {
		t.Helper()
		h.mu.Lock()
		h.armed, h.debits = true, nil
		h.entered, h.release = make(chan struct{}), make(chan struct{})
		h.mu.Unlock()
		var wg sync.WaitGroup
		all := append([]walletPayment{lead}, next...)
		errs := make([]error, len(all))
		for i, p := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = svc.PayWithWallet(p.ctx, "pay-"+p.order.ID, p.order.ID)
			}()
			if i == 0 {
				<-h.entered
			} else {
				<-queued
			}
		}
		close(h.release)
		wg.Wait()
		for i, p := range all {
			if p.code == "" {
				require.NoError(t, errs[i], "payment %d", i)
				continue
			}
			var de *payment.Error
			require.ErrorAs(t, errs[i], &de, "payment %d", i)
			require.Equal(t, p.code, de.Code, "payment %d", i)
		}
		require.Empty(t, h.unlocked, "wallets written without their lock")
		require.Empty(t, locks.held, "locks left held")
	}
	balances := func(want map[context.Context]int64) {
		t.Helper()
		for ctx, amount := range want {
			w, err := svc.MyWallet(ctx)
			require.NoError(t, err)
			require.Equal(t, amount, w.Balance.Amount)
		}
	}

	batch(walletPayment{alice, order(alice, "lead", 1_000), ""},
		walletPayment{alice, order(alice, "a1", 3_000), ""},
		walletPayment{bob, order(bob, "b1", 2_000), payment.CodeInsufficientBalance},
		walletPayment{bob, order(bob, "b2", 500), ""})
	require.Len(t, h.debits, 2, "the lead's write, then one for the three behind it")
	require.ElementsMatch(t, []payment.WalletDebit{
		{WalletID: wallets[alice], Version: 2, Amount: 3_000, Count: 1},
		{WalletID: wallets[bob], Version: 1, Amount: 500, Count: 1},
	}, h.debits[1])
	balances(map[context.Context]int64{alice: 1_000, bob: 500})

	// Bob's wallet is busy when the batch tries it: his payment goes in
	// the next batch, which waits for the lock and pays.
	locks.set("wallet:"+wallets[bob], tries)
	batch(walletPayment{alice, order(alice, "lead2", 100), ""},
		walletPayment{alice, order(alice, "a2", 200), ""},
		walletPayment{bob, order(bob, "b3", 300), ""})
	require.Len(t, h.debits, 3, "alice's lead, alice's second, then bob's")
	require.Equal(t, wallets[bob], h.debits[2][0].WalletID)
	balances(map[context.Context]int64{alice: 700, bob: 200})

	// It stays busy: only his payment fails, retryably, and its key is
	// free for the retry.
	locks.set("wallet:"+wallets[bob], -1)
	busy := order(bob, "b4", 100)
	batch(walletPayment{alice, order(alice, "lead3", 100), ""},
		walletPayment{bob, busy, payment.CodeRequestInProgress},
		walletPayment{alice, order(alice, "a3", 100), ""})
	locks.set("wallet:"+wallets[bob], 0)
	res, err := svc.PayWithWallet(bob, "pay-"+busy.ID, busy.ID)
	require.NoError(t, err)
	require.Equal(t, int64(100), res.Wallet.Balance.Amount)
	balances(map[context.Context]int64{alice: 500, bob: 100})

	if many {
		// The leader's wallet is busy when all are tried at once: the
		// batch lets go of the others, waits for its leader's holding
		// none, then takes the others, and pays all in one write.
		locks.set("wallet:"+wallets[bob], 1)
		locks.mu.Lock()
		locks.waits = nil
		locks.mu.Unlock()
		batch(walletPayment{alice, order(alice, "lead4", 100), ""},
			walletPayment{bob, order(bob, "b5", 100), ""},
			walletPayment{alice, order(alice, "a4", 100), ""})
		require.Len(t, h.debits, 2, "alice's lead, then bob's and alice's in one")
		require.Len(t, h.debits[1], 2)
		require.Equal(t, [][]string{nil, nil}, locks.waits, "a wallet waited for while holding another")
		balances(map[context.Context]int64{alice: 300, bob: 0})
	}

	v, err := mem.Violations(context.Background())
	require.NoError(t, err)
	require.Empty(t, v)
}

// A wallet payment that finds a split under way on its order releases the
// split and pays, but only for a request of its own: a late retry of a key
// answered before, or a key another request used, gets the key's answer,
// and the split stays as it was.
func TestAWalletPaymentByAnAnsweredKeyLeavesTheSplit(t *testing.T) {
	setup := func(t *testing.T, funds int64) (*payment.Service, context.Context, *memStore, payment.Order) {
		mem := &memStore{db: newMemDB(newSim(1))}
		svc, ctx, o := teaOrderAndFunds(t, mem, funds, payment.Config{})
		return svc, ctx, mem, o
	}
	splitLeftPending := func(t *testing.T, mem *memStore, orderID string) {
		t.Helper()
		ps, err := mem.PaymentsByOrder(context.Background(), orderID)
		require.NoError(t, err)
		splits := 0
		for _, p := range ps {
			require.NotEqual(t, payment.MethodWallet, p.Method, "paid from the wallet")
			if p.Method == payment.MethodSplit {
				splits++
				require.Equal(t, payment.PaymentPending, p.Status, "the split was voided")
			}
		}
		require.Equal(t, 1, splits)
	}
	t.Run("a late retry", func(t *testing.T) {
		svc, ctx, mem, o := setup(t, 3_000) // the order costs 5,000
		_, err := svc.PayWithWallet(ctx, "K", o.ID)
		require.Equal(t, payment.CodeInsufficientBalance, codeOf(err))
		top := topUpOrder(t, svc, ctx, "top2", 10_000)
		_, err = svc.ConfirmPayment(ctx, "c2", payment.SourceMutation, payment.ConfirmInput{OrderID: top.ID, PaymentKey: "pk_top2", Amount: 10_000})
		require.NoError(t, err)
		_, err = svc.StartSplitPayment(ctx, "S", payment.StartSplitPaymentInput{OrderID: o.ID, WalletAmount: 1_000})
		require.NoError(t, err)
		_, err = svc.PayWithWallet(ctx, "K", o.ID)
		require.Equal(t, payment.CodeInsufficientBalance, codeOf(err), "the key's answer")
		splitLeftPending(t, mem, o.ID)
	})
	t.Run("a key used by the split", func(t *testing.T) {
		svc, ctx, mem, o := setup(t, 20_000)
		_, err := svc.StartSplitPayment(ctx, "K", payment.StartSplitPaymentInput{OrderID: o.ID, WalletAmount: 1_000})
		require.NoError(t, err)
		_, err = svc.PayWithWallet(ctx, "K", o.ID)
		require.ErrorIs(t, err, payment.ErrIdempotencyKeyReused)
		splitLeftPending(t, mem, o.ID)
	})
}

// A wallet payment that finds a split under way on its order (the card
// part not confirmed yet) releases the split's hold and pays the whole
// order from the wallet: on the model, and on the real engines, where
// PostgreSQL finds the split inside the batch's one write.
func TestAWalletPaymentReleasesTheSplitUnderWay(t *testing.T) {
	stores := map[string]func(t *testing.T) payment.Store{"model": func(*testing.T) payment.Store { return &memStore{db: newMemDB(newSim(1))} }}
	for _, eng := range storetest.Engines(t) {
		stores[eng.Name] = func(t *testing.T) payment.Store { return openWithIdleJobs(t, eng.NewDatabase(t)) }
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			svc, ctx, o := teaOrderAndFunds(t, st, 20_000, payment.Config{}) // the order costs 5,000
			_, err := svc.StartSplitPayment(ctx, "S", payment.StartSplitPaymentInput{OrderID: o.ID, WalletAmount: 1_000})
			require.NoError(t, err)
			res, err := svc.PayWithWallet(ctx, "K", o.ID)
			require.NoError(t, err)
			require.Equal(t, int64(15_000), res.Wallet.Balance.Amount, "the whole order from the wallet, the hold given back")
			ps, err := st.PaymentsByOrder(context.Background(), o.ID)
			require.NoError(t, err)
			for _, p := range ps {
				if p.Method == payment.MethodSplit {
					require.Equal(t, payment.PaymentFailed, p.Status, "the split is still under way")
				}
			}
			if mem, ok := st.(*memStore); ok {
				v, err := mem.Violations(context.Background())
				require.NoError(t, err)
				require.Empty(t, v)
			}
		})
	}
}

// teaOrderAndFunds is a service on st with cfg whose caller has funds in
// the wallet and a PENDING order for one tea (5,000).
func teaOrderAndFunds(t *testing.T, st payment.Store, funds int64, cfg payment.Config) (*payment.Service, context.Context, payment.Order) {
	svc, ctx := newTestService(t, st, &staleGateway{cancels: map[string]bool{}}, cfg)
	prd := teaProduct(t, svc, st, 100)
	top := topUpOrder(t, svc, ctx, "top", funds)
	_, err := svc.ConfirmPayment(ctx, "c", payment.SourceMutation, payment.ConfirmInput{OrderID: top.ID, PaymentKey: "pk_top", Amount: funds})
	require.NoError(t, err)
	o, err := svc.CreateOrder(ctx, "o", payment.CreateOrderInput{Kind: payment.OrderPurchase,
		Items: []payment.OrderItemInput{{ProductID: prd.ID, Quantity: 1}}})
	require.NoError(t, err)
	return svc, ctx, o
}

// openWithIdleJobs opens and migrates the database at url, with the jobs
// the payments queue (an order's expiry, a probe, a refund) left undone.
func openWithIdleJobs(t *testing.T, url string) *store.Store {
	st, err := store.Open(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Migrate(context.Background(), slog.New(slog.DiscardHandler)))
	workers := river.NewWorkers()
	river.AddWorker(workers, idle[worker.ExpireOrderArgs]{})
	river.AddWorker(workers, idle[worker.ProbePaymentArgs]{})
	river.AddWorker(workers, idle[worker.RefundArgs]{})
	require.NoError(t, st.StartJobs(context.Background(), store.JobsConfig{Workers: workers, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(func() { _ = st.StopJobs(context.Background()) })
	return st
}

// codeOf is err's domain code, "" when it has none.
func codeOf(err error) payment.Code {
	var de *payment.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// stuckWrites makes a batch's write at once hang, once stuck is set, until
// the batch's context ends, as a database call that never answers would;
// with committed, the write goes through first and only its answer is
// lost.
type stuckWrites struct {
	payment.Store
	stuck     atomic.Bool
	committed bool
}

func (s *stuckWrites) PayFromWallets(ctx context.Context, w payment.WalletPaymentsWrite) (bool, error) {
	if !s.stuck.Load() || len(w.Debits) == 0 {
		return s.Store.PayFromWallets(ctx, w)
	}
	if s.committed {
		if _, err := s.Store.PayFromWallets(ctx, w); err != nil {
			return false, err
		}
	}
	<-ctx.Done()
	return false, ctx.Err()
}

// A wallet payment whose batch is stuck in the database answers
// REQUEST_IN_PROGRESS once the batch's timeout has passed, instead of
// holding its page (and every payment queued behind it) for ever; a retry
// with the same key pays the order once, whether or not the stuck write
// had gone through. It used to wait for ever: the batch ran without a
// deadline.
func TestAStuckWalletBatchAnswersWithinItsTimeout(t *testing.T) {
	for _, committed := range []bool{false, true} {
		name := map[bool]string{false: "nothing written", true: "written, answer lost"}[committed]
		t.Run(name, func(t *testing.T) {
			st := &stuckWrites{Store: &memStore{db: newMemDB(newSim(1))}, committed: committed}
			svc, ctx, o := teaOrderAndFunds(t, st, 20_000, payment.Config{BatchTimeout: 50 * time.Millisecond})
			st.stuck.Store(true)
			res, err := payWithin(t, svc, ctx, "K", o.ID)
			if committed {
				require.NoError(t, err, "the payment went through: the key replays it")
				require.Equal(t, payment.OrderPaid, res.Order.Status)
			} else {
				require.Equal(t, payment.CodeRequestInProgress, codeOf(err), "%v", err)
				w, err := svc.MyWallet(ctx)
				require.NoError(t, err)
				require.Equal(t, int64(20_000), w.Balance.Amount, "nothing charged")
				got, err := svc.Order(ctx, o.ID)
				require.NoError(t, err)
				require.Equal(t, payment.OrderPending, got.Status)
			}

			st.stuck.Store(false)
			res, err = payWithin(t, svc, ctx, "K", o.ID)
			require.NoError(t, err)
			require.Equal(t, payment.OrderPaid, res.Order.Status)
			require.Equal(t, int64(15_000), res.Wallet.Balance.Amount, "charged once")
			v, err := st.Store.(*memStore).Violations(context.Background())
			require.NoError(t, err)
			require.Empty(t, v)
		})
	}
}

// On PostgreSQL a batch whose wallet row another transaction holds locked
// answers REQUEST_IN_PROGRESS within its timeout, its statement cancelled;
// once the row is free, a retry with the same key pays once.
func TestAWalletBatchBlockedOnARowLockAnswersWithinItsTimeout(t *testing.T) {
	eng, ok := storetest.Postgres(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	url := eng.NewDatabase(t)
	st := openWithIdleJobs(t, url)
	svc, ctx, o := teaOrderAndFunds(t, st, 20_000, payment.Config{BatchTimeout: 300 * time.Millisecond})
	w, err := svc.MyWallet(ctx)
	require.NoError(t, err)

	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	holder, err := db.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	defer holder.Rollback()
	_, err = holder.Exec("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", w.ID)
	require.NoError(t, err)

	_, err = payWithin(t, svc, ctx, "K", o.ID)
	require.Equal(t, payment.CodeRequestInProgress, codeOf(err), "%v", err)

	require.NoError(t, holder.Rollback())
	res, err := payWithin(t, svc, ctx, "K", o.ID)
	require.NoError(t, err)
	require.Equal(t, payment.OrderPaid, res.Order.Status)
	require.Equal(t, int64(15_000), res.Wallet.Balance.Amount, "charged once")
}

// within runs f, failing the test if it has not answered within 10 s
// (the timeouts under test are far shorter).
func within[T any](t *testing.T, what string, f func() (T, error)) (T, error) {
	t.Helper()
	type answer struct {
		res T
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := f()
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer in 10 s", what)
		var zero T
		return zero, nil
	}
}

// payWithin pays orderID under key, within 10 s.
func payWithin(t *testing.T, svc *payment.Service, ctx context.Context, key, orderID string) (payment.PayWithWalletResult, error) {
	t.Helper()
	return within(t, "payWithWallet "+key, func() (payment.PayWithWalletResult, error) { return svc.PayWithWallet(ctx, key, orderID) })
}
