package payment_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pago/pago/payment"
)

// The deterministic simulation of the payment state machine and the
// wallet: customers, operators, job workers and the PG's webhook sender
// run as actors under one seeded scheduler (sim_sched_test.go) against an
// in-memory READ COMMITTED database (sim_store_test.go), a Toss-like PG
// with injected faults and a lock whose leases lapse by the fake clock
// (sim_fakes_test.go); batches run out of time where the scheduler says
// (sim.batchContext). After each seed every invariant pago promises is
// checked. A failure names its seed; -sim.seed replays it step for step.

var (
	flagSeed   = flag.Uint64("sim.seed", 0, "replay one seed of TestSimulation, with its trace")
	flagSeeds  = flag.Int("sim.seeds", 0, "how many seeds TestSimulation runs (0: the default)")
	flagRandom = flag.Bool("sim.random", false, "start TestSimulation at a random base seed instead of the fixed one")
	flagTrace  = flag.Bool("sim.trace", false, "with -sim.seed: print the service log and the last steps even if the seed passes")
)

const (
	// defaultSeeds keeps TestSimulation to about 6 s on two idle cores
	// (about twice that while the rest of ./... runs beside it).
	defaultSeeds = 10_000
	// baseSeed makes the default run the same everywhere.
	baseSeed uint64 = 1
)

func TestSimulation(t *testing.T) {
	if *flagSeed != 0 {
		r := runSeed(*flagSeed, true)
		t.Logf("seed %d: %d steps, %d actions", *flagSeed, r.steps, r.actions)
		if len(r.failures) > 0 || *flagTrace {
			t.Logf("service log:\n%s", r.log)
			t.Logf("last steps:\n%s", r.trace)
		}
		for _, f := range r.failures {
			t.Errorf("seed %d: %s", *flagSeed, f)
		}
		return
	}

	base := baseSeed
	if *flagRandom {
		base = uint64(time.Now().UnixNano())
		t.Logf("random base seed %d", base)
	}
	n := defaultSeeds
	if *flagSeeds > 0 {
		n = *flagSeeds
	} else if testing.Short() {
		n = defaultSeeds / 10
	}

	// Same seed, same interleaving: the premise of every replay.
	a, b := runSeed(base, false), runSeed(base, false)
	if a.fingerprint != b.fingerprint || a.steps != b.steps {
		t.Fatalf("seed %d is not deterministic: %d steps (fingerprint %x), then %d (%x)", base, a.steps, a.fingerprint, b.steps, b.fingerprint)
	}

	start := time.Now()
	results := make([]seedResult, n)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				results[i] = runSeed(base+uint64(i), false)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var steps, actions int
	var failed []seedResult
	stats := map[string]int{}
	for _, r := range results {
		steps += r.steps
		actions += r.actions
		if len(r.failures) > 0 {
			failed = append(failed, r)
		}
		for k, v := range r.stats {
			stats[k] += v
		}
	}
	if n >= defaultSeeds {
		// The default run must keep reaching the interleavings it is for; a
		// change to the scenarios that loses one fails here, not silently.
		for _, what := range mustReach {
			if stats[what] == 0 {
				t.Errorf("no seed reached %q any more", what)
			}
		}
	}
	if testing.Verbose() {
		names := slices.Sorted(maps.Keys(stats))
		var b strings.Builder
		for _, k := range names {
			fmt.Fprintf(&b, "\n    %8d  %s", stats[k], k)
		}
		t.Logf("what the seeds did:%s", b.String())
	}
	t.Logf("%d seeds in %s: %.0f seeds/s, %d scheduler steps (%.0f interleaving steps/s), %d service calls",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), steps, float64(steps)/elapsed.Seconds(), actions)
	for i, r := range failed {
		if i == 5 {
			t.Errorf("… and %d more failing seeds", len(failed)-i)
			break
		}
		t.Errorf("seed %d: %s\n    replay: go test ./payment -run TestSimulation -sim.seed=%d -v",
			r.seed, strings.Join(r.failures, "\n    "), r.seed)
	}
}

// mustReach are situations the default run has to produce: the races the
// simulation exists for, and those that found the bugs it fixed.
var mustReach = []string{
	"db: row lock wait",
	"db: one write of two or more wallet payments",              // a batch of wallet payments
	"db: one write from two or more wallets",                    // a batch across wallets
	"db: a refusal stored with wallet payments",                 // one of a batch refused alone
	"db: a wallet batch's answer found its key taken",           // a duplicate answered first: the batch steps it out
	"db: a wallet batch's write found a split under way",        // the split is voided, then the payment goes again
	"db: a wallet batch paid at once",                           // its read outside a transaction, its write in one of its own
	"db: a wallet batch at once found the database not as read", // then it goes again in a transaction
	"lock: second holder let in",
	"lock: several tried at once",
	"lock: the first of several busy, others got", // tried once: the batch lets them go and waits for its leader's
	"lock: lease lapsed under its holder",
	"log: wallet update lost a race; retrying",
	"idempotency: lapsed claim taken over",
	"pg: confirm answer lost",
	"pg: confirm lost on the way",
	"pg: declined",
	"pg: refunded",
	"pg: slow answer",
	"job: ran again after completing",
	"pg: second window for an order",
	// The probe re-confirms under a new key only once the previous attempt
	// cannot be in flight any more (nextAttempt), so a first confirm failing
	// unavailable after a later attempt reached the PG (the race that gave
	// an order back while the PG charged it) needs a stall of a whole
	// ConfirmTimeout; revertToPending refuses it by the attempt number.
	"pg: confirm attempt under a new key",
	"webhook: forged (claims DONE), PG says ABORTED",
	"order: PURCHASE ended EXPIRED",
	"order: PURCHASE ended CANCELED",
	"order: PURCHASE ended FAILED",
	"order: WALLET_TOPUP ended PAID",
	"db: one insert of two or more card payments", // a batch of card intents
	"db: one write of two or more card settles",   // a batch of card settles
	"db: a settle batch written at once",          // from what its confirms hold, in a transaction of its own
	// Then it goes again in a transaction, reading its payments under
	// their locks.
	"db: a settle batch at once found the database not as held",
	"db: one claim of two or more idempotency keys",
	// The batch reads, as PostgreSQL runs them: several rows, one snapshot.
	"db: one read of several rows by OrdersByIDs",
	"db: one read of several orders and their owners' wallets",
	"db: one read of several rows by PaymentsByOrders",
	"db: one read of several rows by PaymentsByPGKeys",
	"log: card confirm steps out of its intent batch",
	"log: card settle left to settle alone: its payment moved meanwhile",
	// Batches that run out of time (Config.BatchTimeout), one of them as
	// its COMMIT is kept but its answer lost.
	"log: wallet batch timed out",
	"log: intent batch timed out",
	"deadline: a batch's commit kept, its answer lost",
}

type seedResult struct {
	seed        uint64
	failures    []string
	steps       int
	actions     int
	fingerprint uint64
	trace       string
	log         string
	stats       map[string]int
}

// countingHandler counts the service's log messages by text (how often a
// race was lost, a transition refused...) and passes them on when tracing.
type countingHandler struct {
	s    *sim
	next slog.Handler
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	what := "log: " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "from", "to", "source", "pg_status":
			what += " " + a.Key + "=" + a.Value.String()
		}
		return true
	})
	h.s.count(what)
	if h.next == nil {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if h.next != nil {
		h.next = h.next.WithAttrs(as)
	}
	return h
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	if h.next != nil {
		h.next = h.next.WithGroup(name)
	}
	return h
}

// knobs are one seed's configuration, drawn from the seed.
type knobs struct {
	lockExpiry, lockWait time.Duration
	walletBatches        int
	split                float64
	idemLease            time.Duration
	probeDelay           time.Duration
	orderTTL             time.Duration
	limit                int64
	faults               pgFaults
	scripts              int
	manyLocks            bool
}

func drawKnobs(s *sim) knobs {
	k := knobs{
		lockExpiry: pick(s, 4*time.Millisecond, 30*time.Millisecond, 2*time.Second),
		lockWait:   pick(s, 0, 20*time.Millisecond, 500*time.Millisecond),
		split:      pick(s, 0, 0, 0.05, 0.3),
		idemLease:  pick(s, 25*time.Millisecond, 2*time.Second, 10*time.Minute),
		probeDelay: pick(s, time.Millisecond, 20*time.Millisecond, 2*time.Second, 15*time.Second),
		orderTTL:   pick(s, 80*time.Millisecond, 3*time.Second, 30*time.Minute),
		limit:      pick[int64](s, 10_000, 20_000),
		faults: pgFaults{
			unavailable:  pick(s, 0, 0.05, 0.2),
			lostRequest:  pick(s, 0, 0.05, 0.2),
			lostResponse: pick(s, 0, 0.1, 0.3),
			decline:      pick(s, 0, 0.2, 0.5),
			lookupFail:   pick(s, 0, 0.1, 0.3),
			slow:         pick(s, 0, 0.2, 0.5),
		},
		scripts: 3 + s.rng.IntN(4),
	}
	s.jump = pick(s, 0, 0.003, 0.02)
	s.crash = pick(s, 0, 0, 0.002, 0.01)
	s.jumpMax = 3 * k.lockExpiry
	k.walletBatches = pick(s, 1, 1, 4)      // one queue: every wallet's payments batch together
	k.manyLocks = pick(s, false, true)      // the locker tries several at once (ManyLocker), as the Redis one does
	s.deadline = pick(s, 0, 0, 0.005, 0.03) // batches run out of time (Config.BatchTimeout)
	return k
}

// world is everything one seed runs against.
type world struct {
	s       *sim
	k       knobs
	db      *memDB
	store   *memStore
	pg      *fakePG
	svc     *payment.Service
	admin   payment.User
	users   []payment.User
	prods   []payment.Product
	keys    int
	hooks   int
	clients int
	actions int
	calls   map[string]*keyCalls // per user and idempotency key
	order   []string
}

// keyCalls is every call made with one idempotency key.
type keyCalls struct {
	op     string
	finals []string // outcomes that must replay
	replay func() (any, error)
}

func runSeed(seed uint64, verbose bool) (res seedResult) {
	s := newSim(seed)
	res.seed = seed
	var logBuf bytes.Buffer
	handler := countingHandler{s: s}
	if verbose {
		handler.next = slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug,
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.String("t", s.now.Format("15:04:05.000"))
				}
				return a
			}})
	}
	w := newWorld(s, slog.New(handler))
	defer func() {
		if r := recover(); r != nil {
			s.failf("panic: %v", r)
		}
		res.failures, res.steps, res.actions, res.stats = s.failures, s.steps, w.actions, s.stats
		res.fingerprint = s.fingerprint()
		if verbose {
			res.trace, res.log = s.traceText(), logBuf.String()
		}
	}()
	if err := w.setUp(); err != nil {
		s.failf("set-up: %v", err)
		return
	}
	w.start()
	if err := s.run(); err != nil {
		s.failf("%v", err)
		return
	}
	w.check()
	return
}

func newWorld(s *sim, log *slog.Logger) *world {
	k := drawKnobs(s)
	db := newMemDB(s)
	store := &memStore{db: db}
	pg := newFakePG(s, k.faults)
	fl := &fakeLocker{s: s, expiry: k.lockExpiry, maxWait: k.lockWait, split: k.split, held: map[string]*fakeLease{}}
	var locker payment.Locker = fl
	if k.manyLocks {
		locker = manyFakeLocker{fl}
	}
	idem := payment.NewIdempotency(store, s.clock, k.idemLease)
	svc := payment.NewService(store, locker, idem, s.clock, payment.Config{
		WalletLimit: payment.Won(k.limit), OrderTTL: k.orderTTL, Gateway: pg, ProbeDelay: k.probeDelay, WalletBatches: k.walletBatches,
		ConfirmWait: -1, RefundWait: -1, // the scheduler owns every goroutine: wait for the outcome
		BatchContext: s.batchContext, // and ends a batch's time at a step it chooses
		// A caller waiting for its batch parks in the scheduler.
		Await: func(_ context.Context, what string, ready <-chan struct{}) {
			s.wait(what, func() bool {
				select {
				case <-ready:
					return true
				default:
					return false
				}
			}, time.Time{})
		},
	}, log)
	w := &world{s: s, k: k, db: db, store: store, pg: pg, svc: svc, calls: map[string]*keyCalls{}}
	pg.onChange = w.sendWebhook
	s.timers = append(s.timers, db.nextJobTime)
	s.onCrash = db.crashed
	return w
}

func (w *world) key(prefix string) string {
	w.keys++
	return fmt.Sprintf("%s-%d", prefix, w.keys)
}

func (w *world) as(u payment.User) context.Context { return payment.WithUser(context.Background(), u) }

// setUp creates users, products and opening balances, one at a time.
func (w *world) setUp() error {
	ctx := context.Background()
	users := payment.NewUsers(w.store, w.s.clock)
	var err error
	if w.admin, err = users.Ensure(ctx, "ops", true); err != nil {
		return err
	}
	for _, name := range []string{"alice", "bora", "chul"}[:2+w.s.rng.IntN(2)] {
		u, err := users.Ensure(ctx, name, false)
		if err != nil {
			return err
		}
		w.users = append(w.users, u)
	}
	for i := range 2 {
		p, err := w.svc.UpsertProduct(w.as(w.admin), w.key("product"), payment.UpsertProductInput{
			SKU: fmt.Sprintf("sku-%d", i), Name: fmt.Sprintf("product %d", i),
			Price: pick[int64](w.s, 1_000, 2_000, 3_000), Stock: 1 + w.s.rng.Int64N(3),
		})
		if err != nil {
			return err
		}
		w.prods = append(w.prods, p)
	}
	for _, u := range w.users {
		if w.s.chance(0.8) {
			_, err := w.svc.AdjustWallet(w.as(w.admin), w.key("opening"), payment.AdjustWalletInput{
				UserID: u.ID, Amount: 1_000 * (1 + w.s.rng.Int64N(w.k.limit/2_000)), Reason: "opening balance"})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// start spawns the seed's customers, operators and attackers, and two job
// workers.
func (w *world) start() {
	scripts := []struct {
		name   string
		weight int
		run    func(name string)
	}{
		{"wallet-pay", 3, w.walletPurchase},
		{"wallet-crowd", 2, w.walletCrowd},
		{"card-pay", 3, func(n string) { w.cardOrder(n, payment.OrderPurchase) }},
		{"card-topup", 2, func(n string) { w.cardOrder(n, payment.OrderWalletTopUp) }},
		{"card-crowd", 2, w.cardCrowd},
		{"adjust", 1, w.adjust},
		{"create-wallet", 1, w.createWallet},
		{"forger", 1, w.forgeWebhooks},
		{"refund", 2, w.refunder},
		{"split", 2, w.splitter},
	}
	total := 0
	for _, sc := range scripts {
		total += sc.weight
	}
	for i := range w.k.scripts {
		r := w.s.rng.IntN(total)
		for _, sc := range scripts {
			if r -= sc.weight; r < 0 {
				name := fmt.Sprintf("%s#%d", sc.name, i)
				w.client(name, func() { sc.run(name) })
				break
			}
		}
	}
	for i := range 2 {
		w.s.spawn(fmt.Sprintf("worker#%d", i), true, w.worker)
	}
}

// client spawns a customer-side actor; when the last one ends, the PG's
// faults stop so that the probes can settle what is left.
func (w *world) client(name string, fn func()) {
	w.clients++
	w.s.spawn(name, false, func() {
		defer func() {
			if w.clients--; w.clients == 0 {
				w.pg.calm = true
			}
		}()
		fn()
	})
}

func (w *world) user() payment.User { return w.users[w.s.rng.IntN(len(w.users))] }

// Customers and operators.

func (w *world) createOrder(u payment.User, kind payment.OrderKind) (payment.Order, bool) {
	in := payment.CreateOrderInput{Kind: kind}
	if kind == payment.OrderWalletTopUp {
		amount := pick[int64](w.s, 1_000, 3_000, 5_000, 8_000)
		in.Amount = &amount
	} else {
		for _, p := range w.prods {
			if w.s.chance(0.6) || (p.ID == w.prods[len(w.prods)-1].ID && len(in.Items) == 0) {
				in.Items = append(in.Items, payment.OrderItemInput{ProductID: p.ID, Quantity: 1 + w.s.rng.Int64N(2)})
			}
		}
	}
	key := w.key("order")
	ctx := w.as(u)
	do := func() (any, error) { return w.svc.CreateOrder(ctx, key, in) }
	if w.s.chance(0.2) { // a double click
		w.client("order-dup", func() { w.call(u, "createOrder", key, do) })
	}
	res, err := w.call(u, "createOrder", key, do)
	if err != nil {
		return payment.Order{}, false
	}
	return res.(payment.Order), true
}

// walletPurchase orders and pays from the wallet from one to three tabs,
// with the same idempotency key (a double click) or not, sometimes racing
// a cancel.
func (w *world) walletPurchase(string) {
	u := w.user()
	o, ok := w.createOrder(u, payment.OrderPurchase)
	if !ok {
		return
	}
	key := w.key("pay")
	for i := range 1 + w.s.rng.IntN(3) {
		k := key
		if i > 0 && w.s.chance(0.5) {
			k = w.key("pay")
		}
		w.client(fmt.Sprintf("pay %s", k), func() {
			for range 3 {
				_, err := w.call(u, "payWithWallet", k, func() (any, error) { return w.svc.PayWithWallet(w.as(u), k, o.ID) })
				if !errors.Is(err, payment.ErrRequestInProgress) && !errors.Is(err, errProcessDied) {
					return
				}
				w.s.sleep(time.Duration(w.s.rng.IntN(50)) * time.Millisecond)
			}
		})
	}
	if w.s.chance(0.2) {
		w.cancel(u, o)
	}
}

// walletCrowd has three purchases paid from wallets at once, the last two
// by two different customers: queued together behind the first one's
// batch, they share the next batch, and its write debits two wallets.
func (w *world) walletCrowd(name string) {
	p, err := w.svc.UpsertProduct(w.as(w.admin), w.key("product"), payment.UpsertProductInput{
		SKU: fmt.Sprintf("crowd-%d", w.s.rng.IntN(1_000_000_000)), Name: "crowd", Price: 1_000, Stock: 3})
	if err != nil {
		return
	}
	type buy struct {
		u payment.User
		o payment.Order
	}
	var buys []buy
	for _, u := range []payment.User{w.user(), w.users[0], w.users[1]} {
		key := w.key("order")
		in := payment.CreateOrderInput{Kind: payment.OrderPurchase, Items: []payment.OrderItemInput{{ProductID: p.ID, Quantity: 1}}}
		res, err := w.call(u, "createOrder", key, func() (any, error) { return w.svc.CreateOrder(w.as(u), key, in) })
		if err == nil {
			buys = append(buys, buy{u, res.(payment.Order)})
		}
	}
	for _, b := range buys {
		k := w.key("pay")
		w.client("crowd pay "+k, func() {
			w.call(b.u, "payWithWallet", k, func() (any, error) { return w.svc.PayWithWallet(w.as(b.u), k, b.o.ID) })
		})
	}
}

// cardCrowd confirms several card purchases at once, so their intents and
// settles are recorded in batches.
func (w *world) cardCrowd(string) {
	type buy struct {
		u  payment.User
		in payment.ConfirmInput
	}
	var buys []buy
	for range 3 + w.s.rng.IntN(4) {
		u := w.user()
		if o, ok := w.createOrder(u, payment.OrderPurchase); ok {
			buys = append(buys, buy{u, payment.ConfirmInput{OrderID: o.ID, PaymentKey: w.pg.authenticate(o.ID, o.Amount.Amount), Amount: o.Amount.Amount}})
		}
	}
	for _, b := range buys {
		key := w.key("redirect")
		w.client("crowd "+b.in.PaymentKey, func() { // all at once, no retries: the probe settles what is left
			w.call(b.u, "confirmPayment", key, func() (any, error) { return w.svc.ConfirmPayment(w.as(b.u), key, payment.SourceRedirect, b.in) })
		})
	}
}

func (w *world) cancel(u payment.User, o payment.Order) {
	w.client("cancel "+o.Name, func() {
		w.s.sleep(time.Duration(w.s.rng.IntN(30)) * time.Millisecond)
		k := w.key("cancel")
		w.call(u, "cancelOrder", k, func() (any, error) { return w.svc.CancelOrder(w.as(u), k, o.ID) })
	})
}

// cardOrder pays a purchase or a wallet top-up by card: the PG's redirect
// and the SPA's mutation confirm the same payment, maybe twice each, while
// probes, webhooks, cancels and expiry race them.
func (w *world) cardOrder(name string, kind payment.OrderKind) {
	u := w.user()
	if kind == payment.OrderWalletTopUp && w.s.chance(0.4) {
		// Another top-up of the same wallet at once: together they may not
		// fit under the limit, and one is refunded at the PG.
		w.client(name+"+", func() { w.cardPayment(u, kind) })
	}
	w.cardPayment(u, kind)
}

func (w *world) cardPayment(u payment.User, kind payment.OrderKind) {
	o, ok := w.createOrder(u, kind)
	if !ok {
		return
	}
	if w.s.chance(0.1) {
		return // abandoned in the PG's window: the order expires
	}
	pk := w.pg.authenticate(o.ID, o.Amount.Amount)
	redirectKey := w.key("redirect")
	w.confirmer(u, "redirect", redirectKey, payment.SourceRedirect, payment.ConfirmInput{OrderID: o.ID, PaymentKey: pk, Amount: o.Amount.Amount})
	if w.s.chance(0.3) { // the success page reloaded
		w.confirmer(u, "reload", redirectKey, payment.SourceRedirect, payment.ConfirmInput{OrderID: o.ID, PaymentKey: pk, Amount: o.Amount.Amount})
	}
	if w.s.chance(0.6) { // the SPA confirms too
		k := w.key("spa")
		if w.s.chance(0.3) {
			k = redirectKey
		}
		w.confirmer(u, "spa", k, payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: pk, Amount: o.Amount.Amount})
	}
	if w.s.chance(0.15) { // a second tab: another PG window for the same order
		pk2 := w.pg.authenticate(o.ID, o.Amount.Amount)
		w.confirmer(u, "tab2", w.key("redirect"), payment.SourceRedirect, payment.ConfirmInput{OrderID: o.ID, PaymentKey: pk2, Amount: o.Amount.Amount})
	}
	if w.s.chance(0.1) { // a tampered redirect
		w.confirmer(u, "tampered", w.key("tampered"), payment.SourceRedirect, payment.ConfirmInput{OrderID: o.ID, PaymentKey: pk, Amount: o.Amount.Amount + 1})
	}
	if w.s.chance(0.25) {
		w.cancel(u, o)
	}
}

// confirmer is one tab confirming: it retries what the API says to retry.
func (w *world) confirmer(u payment.User, who, key, source string, in payment.ConfirmInput) {
	w.client(who+" "+in.PaymentKey, func() {
		w.s.sleep(time.Duration(w.s.rng.IntN(20)) * time.Millisecond)
		for range 3 {
			_, err := w.call(u, "confirmPayment", key, func() (any, error) { return w.svc.ConfirmPayment(w.as(u), key, source, in) })
			if !errors.Is(err, payment.ErrPGUnavailable) && !errors.Is(err, payment.ErrRequestInProgress) && !errors.Is(err, errProcessDied) {
				return
			}
			w.s.sleep(time.Duration(w.s.rng.IntN(100)) * time.Millisecond)
		}
	})
}

func (w *world) adjust(string) {
	u := w.user()
	amount := 1_000 * (1 + w.s.rng.Int64N(w.k.limit/2_000))
	if w.s.chance(0.5) {
		amount = -amount
	}
	in := payment.AdjustWalletInput{UserID: u.ID, Amount: amount, Reason: "goodwill"}
	key := w.key("adjust")
	for i := range 1 + w.s.rng.IntN(2) {
		w.client(fmt.Sprintf("adjust %s/%d", key, i), func() {
			w.call(w.admin, "adjustWallet", key, func() (any, error) { return w.svc.AdjustWallet(w.as(w.admin), key, in) })
		})
	}
}

func (w *world) createWallet(string) {
	u := w.user()
	for range 2 {
		k := w.key("wallet")
		w.client("create-wallet "+k, func() {
			w.call(u, "createWallet", k, func() (any, error) { return w.svc.CreateWallet(w.as(u), k) })
		})
	}
}

// forgeWebhooks posts unsigned webhooks claiming DONE for payments the PG
// knows, whatever their real status: only a re-fetch tells the truth.
func (w *world) forgeWebhooks(string) {
	for i := range 1 + w.s.rng.IntN(4) {
		w.s.sleep(time.Duration(w.s.rng.IntN(300)) * time.Millisecond)
		if len(w.pg.all) == 0 {
			continue
		}
		p := w.pg.all[w.s.rng.IntN(len(w.pg.all))]
		w.s.count("webhook: forged (claims DONE), PG says " + string(p.status))
		w.deliver(fmt.Sprintf("forged-%d-%d", w.keys, i), p.key, payment.GatewayDone)
	}
}

// sendWebhook is the PG announcing a status change: delivered late, maybe
// twice with the same transmission id, maybe again with a new one.
func (w *world) sendWebhook(p *pgPayment) {
	if w.s.cur == nil {
		return // outside the run: nobody to deliver it
	}
	w.hooks++
	id := fmt.Sprintf("tx-%d", w.hooks)
	key, claimed := p.key, p.status
	w.s.spawn("webhook "+id, false, func() {
		for i := range 1 + w.s.rng.IntN(3) {
			w.s.sleep(time.Duration(w.s.rng.IntN(2_000)) * time.Millisecond)
			if i > 0 && w.s.chance(0.3) {
				id += "-retry"
			}
			w.deliver(id, key, claimed)
		}
	})
}

func (w *world) deliver(id, paymentKey string, claimed payment.GatewayStatus) {
	w.actions++
	var err error
	w.s.survive(func() { err = w.svc.AcceptWebhook(context.Background(), id, paymentKey, claimed) })
	if err != nil && !errors.Is(err, errInjected) {
		w.s.failf("%s: accept webhook %s for %s: %v", w.s.cur.name, id, paymentKey, err)
	}
}

// errProcessDied is what a client sees when the process serving its
// request died (a 502 from the load balancer).
var errProcessDied = errors.New("the process serving the request died")

// call runs one service call and keeps its outcome for the idempotency
// checks; an error the operation may not return is a failure.
func (w *world) call(u payment.User, op, key string, do func() (any, error)) (any, error) {
	w.actions++
	var res any
	var err error
	if w.s.survive(func() { res, err = do() }) {
		return nil, errProcessDied
	}
	if err != nil && !allowed(op, err) {
		w.s.failf("%s: %s(%s): unexpected error: %v", w.s.cur.name, op, key, err)
	}
	id := u.ID + "\x00" + key
	kc := w.calls[id]
	if kc == nil {
		kc = &keyCalls{op: op}
		w.calls[id] = kc
		w.order = append(w.order, id)
	}
	if out, final := outcome(res, err); final {
		kc.finals = append(kc.finals, out)
		if kc.replay == nil {
			kc.replay = do
		}
	}
	return res, err
}

// allowed lists what each operation may answer under the simulated faults.
func allowed(op string, err error) bool {
	if errors.Is(err, errInjected) || errors.Is(err, errProcessDied) {
		return true // a fault surfacing: the caller retries
	}
	var de *payment.Error
	if !errors.As(err, &de) {
		return false
	}
	codes := map[string][]payment.Code{
		"createOrder":       {payment.CodeOutOfStock, payment.CodeBalanceLimitExceeded},
		"payWithWallet":     {payment.CodeInsufficientBalance, payment.CodeInvalidState},
		"cancelOrder":       {payment.CodeInvalidState},
		"adjustWallet":      {payment.CodeInsufficientBalance, payment.CodeBalanceLimitExceeded},
		"createWallet":      {},
		"startSplitPayment": {payment.CodeInsufficientBalance, payment.CodeInvalidState, payment.CodeBadUserInput},
		"cancelPayment":     {payment.CodeRefundExceedsPayment, payment.CodeInvalidState, payment.CodeRefundInDoubt},
		"confirmPayment":    {payment.CodePaymentDeclined, payment.CodePaymentInDoubt, payment.CodePGUnavailable, payment.CodeInvalidState, payment.CodeBalanceLimitExceeded, payment.CodeAmountMismatch},
	}[op]
	return de.Code == payment.CodeRequestInProgress || slices.Contains(codes, de.Code)
}

// outcome renders a result or a domain error, and tells whether it is
// final: stored under the idempotency key and replayed from then on.
func outcome(res any, err error) (string, bool) {
	if r, ok := res.(payment.CancelPaymentResult); ok && err == nil {
		// Answered as it stands now (PENDING, later DONE): the key's
		// constant is the refund it recorded.
		return fmt.Sprintf("ok refund %s of %d", r.Refund.ID, r.Refund.Amount.Amount), true
	}
	if err == nil {
		b, jerr := json.Marshal(res)
		if jerr != nil {
			return "unencodable: " + jerr.Error(), true
		}
		return "ok " + string(b), true
	}
	var de *payment.Error
	if !errors.As(err, &de) {
		return "", false
	}
	switch de.Code {
	case payment.CodeRequestInProgress, payment.CodePGUnavailable, payment.CodeInternal, payment.CodeUnauthenticated, payment.CodePaymentInDoubt,
		payment.CodeRefundInDoubt:
		return "", false
	}
	return fmt.Sprintf("error %s %s %q", de.Code, de.PGCode, de.Message), true
}

// Job workers: River in miniature. A job runs once due, is retried with
// backoff on error and discarded after its attempts.

func (db *memDB) nextJob(now time.Time) *simJob {
	for _, j := range db.jobs {
		if j.state == jobAvailable && !j.at.After(now) {
			return j
		}
	}
	return nil
}

func (db *memDB) jobsLeft() bool {
	for _, j := range db.jobs {
		if j.state == jobAvailable || j.state == jobRunning {
			return true
		}
	}
	return false
}

func (db *memDB) nextJobTime() (time.Time, bool) {
	var next time.Time
	for _, j := range db.jobs {
		if j.state == jobAvailable && (next.IsZero() || j.at.Before(next)) {
			next = j.at
		}
	}
	return next, !next.IsZero()
}

func (w *world) worker() {
	ctx := context.Background()
	for {
		w.s.wait("jobs", func() bool {
			return w.db.nextJob(w.s.now) != nil || (w.s.quiet() && !w.db.jobsLeft())
		}, time.Time{})
		j := w.db.nextJob(w.s.now)
		if j == nil {
			return
		}
		j.state = jobRunning
		j.attempts++
		w.actions++
		var err error
		crashed := w.s.survive(func() {
			switch j.kind {
			case jobProbe:
				err = w.svc.ProbePayment(ctx, j.arg)
			case jobExpire:
				err = w.svc.ExpireOrder(ctx, j.arg)
			case jobWebhook:
				err = w.svc.SyncFromGateway(ctx, j.arg)
			case jobRefund:
				err = w.svc.ExecuteRefund(ctx, j.arg)
			}
		})
		j.lastErr = err
		switch {
		case crashed:
			// River rescues a job whose worker died, some minutes later.
			j.state, j.at, j.lastErr = jobAvailable, w.s.now.Add(5*time.Minute), errProcessDied
		case err == nil && !j.rerun && w.s.chance(0.03):
			// At least once: the work was done, but the completion was
			// not recorded before the worker died, so it runs again.
			w.s.count("job: ran again after completing")
			j.rerun = true
			j.state, j.at = jobAvailable, w.s.now.Add(5*time.Minute)
		case err == nil:
			j.state = jobCompleted
		case j.kind != jobWebhook && errors.Is(err, payment.ErrNotFound):
			j.state = jobCompleted // river.JobCancel
		case j.attempts >= j.max:
			j.state = jobDiscarded
		default:
			j.state = jobAvailable
			d := min(time.Second<<min(j.attempts, 10), 30*time.Second)
			if j.kind == jobExpire {
				d = time.Duration(j.attempts*j.attempts*j.attempts*j.attempts) * time.Second
			}
			j.at = w.s.now.Add(d/2 + time.Duration(w.s.rng.Int64N(int64(d/2)+1)))
		}
	}
}

// The invariants, checked once every actor and job has finished.

func (w *world) check() {
	ctx := context.Background()
	s, db := w.s, w.db
	for _, r := range db.refused {
		s.failf("the database refused a write: %s", r)
	}
	violations, err := w.svc.Verify(ctx)
	if err != nil {
		s.failf("verify: %v", err)
	}
	for _, v := range violations {
		s.failf("verify %s: %s", v.Check, v.Detail)
	}
	for _, j := range db.jobs {
		if j.state == jobDiscarded {
			s.failf("%s job for %s discarded after %d attempts: %v", j.kind, j.arg, j.attempts, j.lastErr)
		}
	}

	ledger := visible[payment.LedgerTransaction](db, nil, "ledger")
	perAccount := map[string]int64{}
	ledgerKinds := map[string]map[string]int{} // order → kind → count
	for _, t := range ledger {
		for _, e := range t.Entries {
			perAccount[e.AccountID] += e.Amount
		}
		if t.OrderID != "" {
			if ledgerKinds[t.OrderID] == nil {
				ledgerKinds[t.OrderID] = map[string]int{}
			}
			ledgerKinds[t.OrderID][t.Kind]++
		}
	}
	walletTx := map[string]map[payment.WalletTxType]int{} // order → type → count
	for _, wal := range visible[payment.Wallet](db, nil, "wallets") {
		w.checkWallet(wal, perAccount, walletTx)
	}

	pgByKey := map[string]*pgPayment{}
	approvals := map[string][]string{} // order → keys approved
	refunds := map[string]bool{}       // idempotency keys of refunds
	var pgHeld int64
	for _, p := range w.pg.all {
		pgByKey[p.key] = p
		pgHeld += p.balance
	}
	for _, r := range w.pg.record {
		switch r.op {
		case "confirm":
			approvals[r.orderID] = append(approvals[r.orderID], r.key)
		case "cancel":
			refunds[r.idemKey] = true
		}
	}
	if got := -perAccount[payment.AccountIDPGClearing]; got != pgHeld {
		s.failf("the PG holds %d for pago, the PG clearing account says %d", pgHeld, got)
	}

	for _, o := range visible[payment.Order](db, nil, "orders") {
		s.count(fmt.Sprintf("order: %s ended %s", o.Kind, o.Status))
		w.checkOrder(o, pgByKey, approvals[o.ID], ledgerKinds[o.ID], walletTx[o.ID])
	}
	for _, p := range w.pg.all {
		if p.status != payment.GatewayDone {
			continue
		}
		id, ok := getRow[string](db, nil, "pay_pgkey/"+p.key)
		pay, _ := getRow[payment.Payment](db, nil, "pay/"+id)
		o, _ := getRow[payment.Order](db, nil, "ord/"+p.orderID)
		if !ok || pay.Status != payment.PaymentDone || o.Status != payment.OrderPaid {
			s.failf("the PG charged %s for order %s (%d) but pago has the payment %q and the order %q", p.key, p.orderID, p.amount, pay.Status, o.Status)
		}
	}
	w.checkIdempotency()
}

// checkWallet: the balance is never negative and equals its ledger account
// and its history, a gapless chain of versions.
func (w *world) checkWallet(wal payment.Wallet, perAccount map[string]int64, walletTx map[string]map[payment.WalletTxType]int) {
	s := w.s
	history0 := visible[payment.WalletTransaction](w.db, nil, "wtx/"+wal.ID)
	givenBack := slices.ContainsFunc(history0, func(t payment.WalletTransaction) bool {
		return t.Type == payment.WalletRefund || t.Type == payment.WalletRelease
	})
	if wal.Balance.Amount < 0 || (wal.Balance.Amount > wal.Limit.Amount && !givenBack) {
		s.failf("wallet %s balance %d outside [0, %d] (only money given back may pass the ceiling)", wal.ID, wal.Balance.Amount, wal.Limit.Amount)
	}
	var held int64 // open holds: out of the balance, not yet in the ledger
	for _, h := range visible[payment.Hold](w.db, nil, "holds") {
		if h.WalletID == wal.ID && h.Status == payment.HoldOpen {
			held += h.Amount.Amount
		}
	}
	if perAccount[wal.AccountID]-held != wal.Balance.Amount {
		s.failf("wallet %s balance %d, its ledger account sums to %d, open holds %d", wal.ID, wal.Balance.Amount, perAccount[wal.AccountID], held)
	}
	history := visible[payment.WalletTransaction](w.db, nil, "wtx/"+wal.ID)
	slices.SortFunc(history, func(a, b payment.WalletTransaction) int { return cmp.Compare(a.Seq, b.Seq) })
	var bal int64
	for i, t := range history {
		bal += t.Amount.Amount
		if t.Seq != int64(i+1) || t.BalanceAfter.Amount != bal {
			s.failf("wallet %s history breaks at seq %d: expected seq %d balance %d, has balance %d", wal.ID, t.Seq, i+1, bal, t.BalanceAfter.Amount)
			return
		}
		if t.OrderID != "" {
			if walletTx[t.OrderID] == nil {
				walletTx[t.OrderID] = map[payment.WalletTxType]int{}
			}
			walletTx[t.OrderID][t.Type]++
		}
	}
	if bal != wal.Balance.Amount || int64(len(history)) != wal.Version {
		s.failf("wallet %s balance %d version %d, its history sums to %d over %d changes", wal.ID, wal.Balance.Amount, wal.Version, bal, len(history))
	}
}

// legalMoves are the payment state machine's edges.
var legalMoves = map[[2]payment.PaymentStatus]bool{
	{payment.PaymentPending, payment.PaymentInDoubt}:  true,
	{payment.PaymentInDoubt, payment.PaymentInDoubt}:  true, // the probe re-sends the confirm
	{payment.PaymentInDoubt, payment.PaymentPending}:  true, // the PG was never reached
	{payment.PaymentInDoubt, payment.PaymentDone}:     true,
	{payment.PaymentInDoubt, payment.PaymentFailed}:   true,
	{payment.PaymentInDoubt, payment.PaymentCanceled}: true, // a top-up the wallet could not hold
	{payment.PaymentPending, payment.PaymentDone}:     true, // paid from the wallet
	{payment.PaymentPending, payment.PaymentFailed}:   true, // a split whose card never went through
	// refunds
	{payment.PaymentDone, payment.PaymentPartiallyCanceled}:              true,
	{payment.PaymentDone, payment.PaymentCanceled}:                       true,
	{payment.PaymentPartiallyCanceled, payment.PaymentPartiallyCanceled}: true,
	{payment.PaymentPartiallyCanceled, payment.PaymentCanceled}:          true,
}

// checkOrder: an order is PAID exactly when one payment for it completed
// (at the PG, once, for a card), nothing is left in doubt, and the ledger
// and wallet saw its money exactly once.
func (w *world) checkOrder(o payment.Order, pgByKey map[string]*pgPayment, approved []string, kinds map[string]int, wtx map[payment.WalletTxType]int) {
	s, db := w.s, w.db
	switch {
	case o.Status == payment.OrderInDoubt:
		s.failf("order %s left IN_DOUBT", o.ID)
	case o.Status == payment.OrderPending && !s.now.Before(o.ExpiresAt):
		s.failf("order %s still PENDING (holding its stock) %s after it expired, every job done; %s", o.ID, s.now.Sub(o.ExpiresAt), w.history(o))
	}
	if len(approved) > 1 {
		s.failf("order %s charged %d times at the PG: %v", o.ID, len(approved), approved)
	}
	var done []payment.Payment
	for _, p := range visible[payment.Payment](db, nil, "pay/"+o.ID) {
		if p.Status == payment.PaymentInDoubt {
			s.failf("payment %s (%s) left IN_DOUBT", p.ID, p.PGPaymentKey)
		}
		if p.Status == payment.PaymentDone || p.Status == payment.PaymentPartiallyCanceled ||
			(p.Status == payment.PaymentCanceled && p.RefundedAmount.Amount > 0) {
			done = append(done, p) // completed, refunded or not
		}
		events := visible[payment.PaymentEvent](db, nil, "pev/"+p.ID)
		at := payment.PaymentPending
		for _, e := range events {
			if e.FromStatus != at || !legalMoves[[2]payment.PaymentStatus{e.FromStatus, e.ToStatus}] {
				s.failf("payment %s (%s) moved %s→%s (by %s: %s) while %s", p.ID, p.PGPaymentKey, e.FromStatus, e.ToStatus, e.Source, e.Detail, at)
			}
			at = e.ToStatus
		}
		if at != p.Status {
			s.failf("payment %s is %s but its history ends at %s", p.ID, p.Status, at)
		}
		if p.Method == payment.MethodCard || (p.Method == payment.MethodSplit && p.PGPaymentKey != "") {
			g := pgByKey[p.PGPaymentKey]
			switch {
			case p.Status == payment.PaymentDone && (g == nil || g.status != payment.GatewayDone):
				s.failf("payment %s (%s) is DONE but the PG says %v", p.ID, p.PGPaymentKey, pgStatus(g))
			case p.Status == payment.PaymentCanceled && (g == nil || g.status != payment.GatewayCanceled):
				s.failf("payment %s (%s) is CANCELED but the PG says %v", p.ID, p.PGPaymentKey, pgStatus(g))
			case p.Status == payment.PaymentPartiallyCanceled && (g == nil || g.status != payment.GatewayPartialCanceled || g.balance != p.Amount.Amount-p.RefundedAmount.Amount):
				s.failf("payment %s (%s) is PARTIALLY_CANCELED with %d refunded but the PG says %v", p.ID, p.PGPaymentKey, p.RefundedAmount.Amount, pgStatus(g))
			}
		}
	}
	paid := o.Status == payment.OrderPaid || o.Status == payment.OrderPartiallyRefunded || o.Status == payment.OrderRefunded
	switch {
	case paid && len(done) != 1:
		s.failf("order %s is PAID with %d DONE payments", o.ID, len(done))
	case !paid && len(done) > 0:
		s.failf("order %s is %s with a DONE payment %s", o.ID, o.Status, done[0].ID)
	}
	card := paid && len(done) == 1 && (done[0].Method == payment.MethodCard || done[0].Method == payment.MethodSplit)
	split := card && done[0].Method == payment.MethodSplit
	byWallet := paid && len(done) == 1 && done[0].Method == payment.MethodWallet
	if card && (len(approved) != 1 || approved[0] != done[0].PGPaymentKey) {
		s.failf("order %s is PAID by card %s but the PG approved %v", o.ID, done[0].PGPaymentKey, approved)
	}
	if byWallet && len(approved) > 0 {
		s.failf("order %s is PAID from the wallet and by card %v", o.ID, approved)
	}
	if card {
		if g := pgByKey[done[0].PGPaymentKey]; g != nil && !split && g.balance != o.Amount.Amount-o.RefundedAmount.Amount {
			s.failf("order %s paid %d by card, refunded %d, but the PG holds %d", o.ID, o.Amount.Amount, o.RefundedAmount.Amount, g.balance)
		}
	}
	w.checkRefunds(o, kinds, wtx)
	w.checkHolds(o, wtx)
	if !paid {
		for _, k := range approved {
			if g := pgByKey[k]; g.status != payment.GatewayCanceled {
				s.failf("order %s is %s but the PG holds %d for it (%s %s)", o.ID, o.Status, g.balance, k, g.status)
			}
		}
	}
	want := map[string]int{}
	wantTx := map[payment.WalletTxType]int{}
	switch {
	case card && o.Kind == payment.OrderWalletTopUp:
		want["TOPUP"], wantTx[payment.WalletCharge] = 1, 1
	case split:
		want["CARD_PAYMENT"], want["WALLET_PAYMENT"] = 1, 1
	case card:
		want["CARD_PAYMENT"] = 1
	case byWallet:
		want["WALLET_PAYMENT"], wantTx[payment.WalletPayment] = 1, 1
	}
	for _, kind := range []string{"TOPUP", "CARD_PAYMENT", "WALLET_PAYMENT"} {
		if kinds[kind] != want[kind] {
			s.failf("order %s (%s, %s) has %d %s ledger transactions, expected %d", o.ID, o.Kind, o.Status, kinds[kind], kind, want[kind])
		}
	}
	for _, typ := range []payment.WalletTxType{payment.WalletCharge, payment.WalletPayment} {
		if wtx[typ] != wantTx[typ] {
			s.failf("order %s (%s, %s) has %d %s wallet transactions, expected %d", o.ID, o.Kind, o.Status, wtx[typ], typ, wantTx[typ])
		}
	}
}

// history tells an order's payments' stories, for failure messages.
func (w *world) history(o payment.Order) string {
	var b strings.Builder
	fmt.Fprintf(&b, "order created %s, expires %s", o.CreatedAt.Format("15:04:05.000"), o.ExpiresAt.Format("15:04:05.000"))
	for _, p := range visible[payment.Payment](w.db, nil, "pay/"+o.ID) {
		fmt.Fprintf(&b, "; payment %s (%s):", p.PGPaymentKey, p.Method)
		for _, e := range visible[payment.PaymentEvent](w.db, nil, "pev/"+p.ID) {
			fmt.Fprintf(&b, " %s %s→%s by %s,", e.CreatedAt.Format("15:04:05.000"), e.FromStatus, e.ToStatus, e.Source)
		}
	}
	for _, j := range w.db.jobs {
		if j.arg == o.ID {
			fmt.Fprintf(&b, "; %s job ran %d× (last %v)", j.kind, j.attempts, j.lastErr)
		}
	}
	return b.String()
}

func pgStatus(g *pgPayment) string {
	if g == nil {
		return "nothing"
	}
	return string(g.status)
}

// checkIdempotency: every call that got a final answer under a key got
// the same one, and asking again now replays it.
func (w *world) checkIdempotency() {
	for _, id := range w.order {
		kc := w.calls[id]
		if len(kc.finals) == 0 {
			continue
		}
		for _, f := range kc.finals[1:] {
			if f != kc.finals[0] {
				w.s.failf("%s key %q answered %s, then %s", kc.op, strings.ReplaceAll(id, "\x00", " "), kc.finals[0], f)
				break
			}
		}
		res, err := kc.replay()
		if got, _ := outcome(res, err); got != kc.finals[0] {
			w.s.failf("%s key %q answered %s, its replay %s (%v)", kc.op, strings.ReplaceAll(id, "\x00", " "), kc.finals[0], got, err)
		}
	}
}

// fingerprint identifies the interleaving: which actor ran at each step.
func (s *sim) fingerprint() uint64 { return s.order ^ uint64(s.steps) }
