package payment_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pago/pago/payment"
)

// errInjected marks the faults the simulation injects, so an error caused
// by one is told from an error pago made up by itself.
var errInjected = errors.New("injected fault")

// pgFaults are one seed's odds of each PG failure.
type pgFaults struct {
	unavailable  float64 // the request was never sent
	lostRequest  float64 // timed out before the PG did anything
	lostResponse float64 // the PG committed, then the answer was lost
	decline      float64 // the card is refused
	lookupFail   float64 // a read fails
	slow         float64 // an answer takes up to slowMax on the way back
}

// slowMax is the longest an answer travels: long enough for a refund, a
// probe and a webhook to happen before the caller reads a stale answer.
const slowMax = 300 * time.Millisecond

// fakePG is a payment.Gateway with Toss's semantics (docs/toss.md, pg/sandbox):
// a payment is authenticated (IN_PROGRESS) before pago confirms it; a
// confirm is idempotent per Idempotency-Key (same key: the first answer,
// errors included; while the first is still in flight: an unknown outcome);
// a second confirm of a processed payment is ALREADY_PROCESSED_PAYMENT; an
// unconfirmed payment expires after the confirm window. Each call yields on
// the way in and on the way out, so an answer can be stale by the time its
// caller acts on it. record keeps every approval and refund for the checks.
type fakePG struct {
	s        *sim
	faults   pgFaults
	calm     bool // set once the customers are done: the PG recovers
	window   time.Duration
	payments map[string]*pgPayment
	all      []*pgPayment
	byOrder  map[string][]*pgPayment
	idem     map[string]*pgIdem
	// confirmsSent counts the confirms that reached the PG, per payment key;
	// firstKeys is the first Idempotency-Key a payment key was confirmed with.
	confirmsSent map[string]int
	firstKeys    map[string]string
	record       []pgRecord
	onChange     func(p *pgPayment)
}

type pgPayment struct {
	key, orderID     string
	amount, balance  int64
	status           payment.GatewayStatus
	authAt, approved time.Time
	failCode         string
	failMsg          string
	cancels          []payment.GatewayCancel
}

type pgIdem struct {
	done bool
	res  payment.GatewayPayment
	err  error
}

type pgRecord struct {
	op      string // "confirm" or "cancel"
	key     string
	orderID string
	amount  int64
	idemKey string
	txKey   string // a cancel's transactionKey
}

var _ payment.Gateway = (*fakePG)(nil)

func newFakePG(s *sim, f pgFaults) *fakePG {
	return &fakePG{s: s, faults: f, window: 10 * time.Minute, payments: map[string]*pgPayment{},
		byOrder: map[string][]*pgPayment{}, idem: map[string]*pgIdem{}, confirmsSent: map[string]int{}, firstKeys: map[string]string{}}
}

func (g *fakePG) fault(p float64) bool { return !g.calm && g.s.chance(p) }

// travel is an answer on its way back to pago: a yield, or a slow network.
func (g *fakePG) travel(label string) {
	if g.s.chance(g.faults.slow) {
		g.s.count("pg: slow answer")
		g.s.sleep(time.Duration(g.s.rng.Int64N(int64(slowMax))))
		return
	}
	g.s.yield(label)
}

func unavailable(op string) error {
	return fmt.Errorf("%w: %s: %w", payment.ErrGatewayUnavailable, op, errInjected)
}

func unknownOutcome(op, why string) error {
	return fmt.Errorf("%w: %s: %s: %w", payment.ErrGatewayUnknownOutcome, op, why, errInjected)
}

// authenticate is the customer paying in the PG's window: the PG now holds
// an IN_PROGRESS payment for orderID and redirects with its key.
func (g *fakePG) authenticate(orderID string, amount int64) string {
	g.s.yield("pg.authenticate")
	if len(g.byOrder[orderID]) > 0 {
		g.s.count("pg: second window for an order")
	}
	p := &pgPayment{key: fmt.Sprintf("tpk_%04d", len(g.all)+1), orderID: orderID, amount: amount,
		status: payment.GatewayInProgress, authAt: g.s.now}
	g.payments[p.key] = p
	g.all = append(g.all, p)
	g.byOrder[orderID] = append(g.byOrder[orderID], p)
	return p.key
}

func (g *fakePG) changed(p *pgPayment) {
	if g.onChange != nil {
		g.onChange(p)
	}
}

// refresh lapses an unconfirmed payment past its window, lazily as Toss
// (and the sandbox) does.
func (g *fakePG) refresh(p *pgPayment) {
	if p.status == payment.GatewayInProgress && g.s.now.After(p.authAt.Add(g.window)) {
		g.s.count("pg: expired unconfirmed")
		p.status, p.failCode, p.failMsg = payment.GatewayExpired, "EXPIRED_PAYMENT", "the confirm window lapsed"
		g.changed(p)
	}
}

func (g *fakePG) view(p *pgPayment) payment.GatewayPayment {
	out := payment.GatewayPayment{PaymentKey: p.key, OrderID: p.orderID, Status: p.status, TotalAmount: p.amount,
		BalanceAmount: p.amount, FailureCode: p.failCode, FailureMessage: p.failMsg}
	if !p.approved.IsZero() {
		at := p.approved
		out.ApprovedAt, out.BalanceAmount = &at, p.balance
	}
	out.Cancels = append([]payment.GatewayCancel(nil), p.cancels...)
	return out
}

// firstKey is the first Idempotency-Key seen for paymentKey's confirms.
func (g *fakePG) firstKey(paymentKey, idemKey string) string {
	if k, ok := g.firstKeys[paymentKey]; ok {
		return k
	}
	g.firstKeys[paymentKey] = idemKey
	return idemKey
}

// Confirm implements payment.Gateway.
func (g *fakePG) Confirm(_ context.Context, paymentKey, orderID string, amount int64, idemKey string) (payment.GatewayPayment, error) {
	g.s.yield("pg.Confirm send " + paymentKey)
	scope := "confirm\x00" + idemKey
	first := g.firstKey(paymentKey, idemKey)
	if g.fault(g.faults.unavailable) {
		g.s.count("pg: confirm unavailable")
		if g.idem[scope] != nil {
			g.s.count("pg: confirm unavailable after another with its key reached the PG")
		}
		if g.confirmsSent[paymentKey] > 0 {
			g.s.count("pg: confirm unavailable after another attempt for its payment reached the PG")
		}
		return payment.GatewayPayment{}, unavailable("confirm")
	}
	if g.fault(g.faults.lostRequest) {
		g.s.count("pg: confirm lost on the way")
		g.s.yield("pg.Confirm timeout")
		return payment.GatewayPayment{}, unknownOutcome("confirm", "timeout before the PG answered")
	}
	if e, ok := g.idem[scope]; ok {
		if !e.done {
			g.s.count("pg: confirm while the same key is in flight")
			return payment.GatewayPayment{}, unknownOutcome("confirm", "IDEMPOTENT_REQUEST_PROCESSING")
		}
		g.s.count("pg: confirm replayed by idempotency key")
		g.s.yield("pg.Confirm replay")
		return e.res, e.err
	}
	if g.idem[scope] == nil && idemKey != first {
		g.s.count("pg: confirm attempt under a new key")
	}
	g.confirmsSent[paymentKey]++
	e := g.process("pg confirms "+paymentKey, scope, func() (payment.GatewayPayment, error) {
		return g.confirmNow(paymentKey, orderID, amount, idemKey)
	})
	if g.fault(g.faults.lostResponse) {
		g.s.count("pg: confirm answer lost")
		g.s.yield("pg.Confirm answer lost")
		return payment.GatewayPayment{}, unknownOutcome("confirm", "connection reset after the PG committed")
	}
	g.travel("pg.Confirm answer")
	return e.res, e.err
}

// process does the PG's side of a mutating call under scope's idempotency
// key as an actor of its own, and waits for it: the PG finishes what it
// started even if the pago process waiting for the answer dies.
func (g *fakePG) process(name, scope string, work func() (payment.GatewayPayment, error)) *pgIdem {
	e := &pgIdem{}
	g.idem[scope] = e
	g.s.spawn(name, false, func() {
		g.s.yield(name)
		e.res, e.err = work()
		e.done = true
	})
	g.s.wait("the PG's answer", func() bool { return e.done }, time.Time{})
	return e
}

func (g *fakePG) confirmNow(key, orderID string, amount int64, idemKey string) (payment.GatewayPayment, error) {
	p := g.payments[key]
	if p == nil {
		return payment.GatewayPayment{}, fmt.Errorf("%w: NOT_FOUND_PAYMENT %s", payment.ErrGatewayNotFound, key)
	}
	g.refresh(p)
	switch p.status {
	case payment.GatewayExpired:
		return payment.GatewayPayment{}, &payment.DeclinedError{Code: "NOT_FOUND_PAYMENT_SESSION", Message: "the confirm window lapsed"}
	case payment.GatewayInProgress:
	default:
		g.s.count("pg: confirm ALREADY_PROCESSED")
		return payment.GatewayPayment{}, fmt.Errorf("%w: ALREADY_PROCESSED_PAYMENT %s", payment.ErrGatewayAlreadyProcessed, key)
	}
	if p.orderID != orderID {
		return payment.GatewayPayment{}, &payment.DeclinedError{Code: "NOT_FOUND_PAYMENT_SESSION", Message: "orderId differs"}
	}
	if amount != p.amount {
		return payment.GatewayPayment{}, &payment.DeclinedError{Code: "INVALID_REQUEST", Message: "amount differs"}
	}
	for _, o := range g.byOrder[orderID] {
		if o != p && !o.approved.IsZero() {
			g.s.count("pg: confirm DUPLICATED_ORDER_ID")
			return payment.GatewayPayment{}, &payment.DeclinedError{Code: "DUPLICATED_ORDER_ID", Message: "the order was paid already"}
		}
	}
	if g.fault(g.faults.decline) {
		g.s.count("pg: declined")
		p.status, p.failCode, p.failMsg = payment.GatewayAborted, "REJECT_CARD_PAYMENT", "limit exceeded"
		g.changed(p)
		return payment.GatewayPayment{}, &payment.DeclinedError{Code: p.failCode, Message: p.failMsg}
	}
	g.s.count("pg: approved")
	p.status, p.approved, p.balance = payment.GatewayDone, g.s.now, p.amount
	g.record = append(g.record, pgRecord{op: "confirm", key: key, orderID: orderID, amount: amount, idemKey: idemKey})
	g.changed(p)
	return g.view(p), nil
}

// lookup is GET /v1/payments/{paymentKey} or /v1/payments/orders/{orderId}.
func (g *fakePG) lookup(what string, find func() *pgPayment) (payment.GatewayPayment, error) {
	g.s.yield("pg.lookup " + what)
	if g.fault(g.faults.lookupFail) {
		g.s.count("pg: lookup failed")
		return payment.GatewayPayment{}, unavailable("lookup")
	}
	p := find()
	if p == nil {
		return payment.GatewayPayment{}, fmt.Errorf("%w: NOT_FOUND_PAYMENT %s", payment.ErrGatewayNotFound, what)
	}
	g.refresh(p)
	v := g.view(p)
	g.travel("pg.lookup answer")
	return v, nil
}

// Payment implements payment.Gateway.
func (g *fakePG) Payment(_ context.Context, paymentKey string) (payment.GatewayPayment, error) {
	return g.lookup(paymentKey, func() *pgPayment { return g.payments[paymentKey] })
}

// PaymentByOrderID implements payment.Gateway: the approved attempt if any,
// else the latest, as the sandbox answers.
func (g *fakePG) PaymentByOrderID(_ context.Context, orderID string) (payment.GatewayPayment, error) {
	return g.lookup("order", func() *pgPayment {
		ps := g.byOrder[orderID]
		for _, p := range ps {
			if !p.approved.IsZero() {
				return p
			}
		}
		if len(ps) == 0 {
			return nil
		}
		return ps[len(ps)-1]
	})
}

// Cancel implements payment.Gateway: a full cancel (amount nil: pago
// refunds a top-up the wallet cannot hold) or a partial one (a refund),
// each recorded in the payment's cancels[].
func (g *fakePG) Cancel(_ context.Context, paymentKey string, amount *int64, reason, idemKey string) (payment.GatewayPayment, error) {
	g.s.yield("pg.Cancel send " + paymentKey)
	if g.fault(g.faults.unavailable) {
		return payment.GatewayPayment{}, unavailable("cancel")
	}
	scope := "cancel\x00" + idemKey
	if e, ok := g.idem[scope]; ok {
		if !e.done {
			return payment.GatewayPayment{}, unknownOutcome("cancel", "IDEMPOTENT_REQUEST_PROCESSING")
		}
		g.s.yield("pg.Cancel replay")
		return e.res, e.err
	}
	e := g.process("pg cancels "+paymentKey, scope, func() (payment.GatewayPayment, error) {
		return g.cancelNow(paymentKey, amount, idemKey)
	})
	if g.fault(g.faults.lostResponse) {
		g.s.yield("pg.Cancel answer lost")
		return payment.GatewayPayment{}, unknownOutcome("cancel", "connection reset after the PG committed")
	}
	g.travel("pg.Cancel answer")
	return e.res, e.err
}

func (g *fakePG) cancelNow(key string, amount *int64, idemKey string) (payment.GatewayPayment, error) {
	p := g.payments[key]
	switch {
	case p == nil:
		return payment.GatewayPayment{}, fmt.Errorf("%w: NOT_FOUND_PAYMENT %s", payment.ErrGatewayNotFound, key)
	case p.status == payment.GatewayCanceled:
		return payment.GatewayPayment{}, fmt.Errorf("%w: %s", payment.ErrGatewayAlreadyCanceled, key)
	case p.status != payment.GatewayDone && p.status != payment.GatewayPartialCanceled:
		return payment.GatewayPayment{}, &payment.DeclinedError{Code: "NOT_CANCELABLE_PAYMENT", Message: string(p.status)}
	case amount != nil && (*amount <= 0 || *amount > p.balance):
		return payment.GatewayPayment{}, &payment.DeclinedError{Code: "NOT_CANCELABLE_AMOUNT", Message: "more than the balance"}
	}
	n := p.balance
	if amount != nil {
		n = *amount
	}
	g.s.count("pg: refunded")
	tx := fmt.Sprintf("tx_%s_%d", key, len(p.cancels)+1)
	g.record = append(g.record, pgRecord{op: "cancel", key: key, orderID: p.orderID, amount: n, idemKey: idemKey, txKey: tx})
	p.cancels = append(p.cancels, payment.GatewayCancel{TransactionKey: tx, Amount: n, Status: "DONE"})
	p.balance -= n
	p.status = payment.GatewayPartialCanceled
	if p.balance == 0 {
		p.status = payment.GatewayCanceled
	}
	g.changed(p)
	return g.view(p), nil
}

// fakeLocker is a payment.Locker whose leases lapse by the simulated clock
// and which, with probability split, lets a second holder in while the
// first still believes it holds the lock (a Redis failover): correctness
// must rest on the database.
type fakeLocker struct {
	s       *sim
	expiry  time.Duration
	maxWait time.Duration
	split   float64
	held    map[string]*fakeLease
}

type fakeLease struct {
	l     *fakeLocker
	name  string
	until time.Time
	gone  bool
}

var _ payment.Locker = (*fakeLocker)(nil)

// Lock implements payment.Locker.
func (l *fakeLocker) Lock(_ context.Context, name string) (payment.Lock, error) {
	l.s.yield("lock " + name)
	return l.lockUntil(name, l.s.now.Add(l.maxWait))
}

// lockUntil takes name, waiting for it until deadline; it tries once when
// the deadline has come.
func (l *fakeLocker) lockUntil(name string, deadline time.Time) (payment.Lock, error) {
	for {
		if lease := l.try(name); lease != nil {
			return lease, nil
		}
		if !l.s.now.Before(deadline) {
			l.s.count("lock: busy")
			return nil, payment.ErrLockBusy
		}
		h := l.held[name]
		l.s.wait("lock "+name, func() bool { return l.free(name) || !l.s.now.Before(deadline) }, minTime(h.until, deadline))
	}
}

// free tells whether name's lock is free: never held, let go, or lapsed.
func (l *fakeLocker) free(name string) bool {
	h := l.held[name]
	return h == nil || h.gone || !l.s.now.Before(h.until)
}

// try takes name's lock if it is free (or, by chance, lets a second holder
// in), else answers nil.
func (l *fakeLocker) try(name string) *fakeLease {
	h := l.held[name]
	split := !l.free(name) && l.s.chance(l.split)
	switch {
	case split:
		l.s.count("lock: second holder let in")
	case h != nil && !h.gone && !l.s.now.Before(h.until):
		l.s.count("lock: lease lapsed under its holder")
	}
	if !split && !l.free(name) {
		return nil
	}
	lease := &fakeLease{l: l, name: name, until: l.s.now.Add(l.expiry)}
	l.held[name] = lease
	return lease
}

// manyFakeLocker is fakeLocker as a payment.ManyLocker, as store.Locker
// with one Redis: every name is tried in one step (a pipeline), then each
// one not got is waited for on its own until wait has passed.
type manyFakeLocker struct{ *fakeLocker }

var _ payment.ManyLocker = manyFakeLocker{}

// TryLocks implements payment.ManyLocker.
func (m manyFakeLocker) TryLocks(_ context.Context, names []string, wait time.Duration) ([]payment.Lock, []error) {
	l := m.fakeLocker
	l.s.yield("lock several")
	if len(names) > 1 {
		l.s.count("lock: several tried at once")
	}
	locks, errs := make([]payment.Lock, len(names)), make([]error, len(names))
	var left []int
	for i, name := range names {
		if lease := l.try(name); lease != nil {
			locks[i] = lease
			continue
		}
		left = append(left, i)
	}
	if wait == 0 && len(left) > 0 && left[0] == 0 && len(left) < len(names) {
		l.s.count("lock: the first of several busy, others got")
	}
	deadline := l.s.now.Add(wait)
	for _, i := range left {
		locks[i], errs[i] = l.lockUntil(names[i], deadline)
	}
	return locks, errs
}

// UnlockAll implements payment.ManyLocker.
func (m manyFakeLocker) UnlockAll(ctx context.Context, locks []payment.Lock) []error {
	return unlockEach(ctx, locks)
}

// unlockEach releases locks one by one: a test ManyLocker's UnlockAll.
func unlockEach(ctx context.Context, locks []payment.Lock) []error {
	errs := make([]error, len(locks))
	for i, lock := range locks {
		errs[i] = lock.Unlock(ctx)
	}
	return errs
}

// Ping implements payment.Locker.
func (l *fakeLocker) Ping(context.Context) error { return nil }

// Until implements payment.Lock.
func (k *fakeLease) Until() time.Time {
	k.l.s.yield("lock until " + k.name)
	return k.until
}

// Unlock implements payment.Lock.
func (k *fakeLease) Unlock(context.Context) error {
	k.l.s.yield("unlock " + k.name)
	if k.l.held[k.name] != k || !k.l.s.now.Before(k.until) {
		k.l.s.count("lock: unlocked after losing the lease")
		return errors.New("unlock: the lease lapsed or another holder has it")
	}
	k.gone = true
	delete(k.l.held, k.name)
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
