package payment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// PayWithWalletResult is what paying from the wallet changed.
type PayWithWalletResult struct {
	Order   Order
	Payment Payment
	Wallet  Wallet
}

// PayWithWallet pays the caller's PENDING purchase from its wallet: the
// debit, the order's move to PAID, the payment, its event and the ledger
// entries are applied together, under the wallet's mutex. The debit is
// conditional on balance and version, so the mutex is never what keeps the
// balance right.
//
// Payments of one wallet that arrive together on this instance are applied
// in one transaction under one hold of the lock (payBatch): a hot wallet
// then costs one lock, one wallet read, a fixed number of statements and
// one commit per batch instead of per payment. Each payment keeps its own
// idempotency record, so a refusal (INSUFFICIENT_BALANCE, an order no
// longer PENDING) fails only itself and every caller gets its own answer.
// The idempotency record is written in that same transaction (RunInTx): no
// separate claim commit.
func (s *Service) PayWithWallet(ctx context.Context, key, orderID string) (PayWithWalletResult, error) {
	u, err := caller(ctx)
	if err != nil {
		return PayWithWalletResult{}, err
	}
	if err := checkID("orderId", orderID); err != nil {
		return PayWithWalletResult{}, err
	}
	type input struct{ OrderID string }
	return RunInTx(ctx, s.idem, u.ID, key, "payWithWallet", input{orderID}, func(ctx context.Context, call *TxCall) (PayWithWalletResult, error) {
		o, err := s.ownOrder(ctx, s.store, u, orderID)
		if err != nil {
			return PayWithWalletResult{}, err
		}
		if o.UserID != u.ID {
			return PayWithWalletResult{}, errorf(CodeForbidden, "only the order's owner pays it")
		}
		if o.Kind != OrderPurchase {
			return PayWithWalletResult{}, errorf(CodeInvalidState, "a %s order is paid by card, not from the wallet", o.Kind)
		}
		if o.Status != OrderPending {
			return PayWithWalletResult{}, errorf(CodeInvalidState, "order %s is %s, not PENDING", o.ID, o.Status)
		}
		for retried := false; ; retried = true {
			op := &walletPay{order: o, call: call, ready: make(chan struct{})}
			s.payBatched(ctx, u.ID, op) // one wallet per user: its payments batch together
			// By identity: errors.Is would match any REQUEST_IN_PROGRESS.
			if op.err != errOpenSplit || retried {
				return op.res, op.err
			}
			// A split started on this order gives its hold back first, in
			// its own transaction: the batch decides balances from the
			// wallet as it reads it. Rare, so looked for only in the batch.
			err := s.underWallet(ctx, u.ID, func() error {
				return s.store.InTx(ctx, func(q Queries) error { return s.voidSplits(ctx, q, o, SourceWallet, s.now().UTC()) })
			})
			if err != nil {
				return PayWithWalletResult{}, err
			}
		}
	})
}

// errOpenSplit steps a payment out of its batch: its order has a split
// payment holding part of the wallet, which PayWithWallet releases before
// trying once more. Retryable if it ever reaches a caller.
var errOpenSplit = &Error{Code: CodeRequestInProgress, Message: "a split payment of this order is under way; retry"}

// walletIDs remembers each user's wallet id: a user has one wallet, never
// replaced, so a remembered id is never stale, and a wallet payment skips
// the read. Bounded: past maxWalletIDs it starts over.
type walletIDs struct {
	mu  sync.Mutex
	ids map[string]string
}

const maxWalletIDs = 100_000

// walletID is userID's wallet id, or ErrNotFound if it has none yet.
func (s *Service) walletID(ctx context.Context, userID string) (string, error) {
	c := &s.wallets
	c.mu.Lock()
	id, ok := c.ids[userID]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	w, err := s.store.WalletByUser(ctx, userID)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.ids) >= maxWalletIDs {
		clear(c.ids)
	}
	c.ids[userID] = w.ID
	c.mu.Unlock()
	return w.ID, nil
}

// maxBatch bounds the payments of one batch: its statements grow with it
// (VALUES lists, row locks held until commit), and a payment arriving
// behind a full batch waits for it.
const maxBatch = 32

// errBatchAbandoned answers the payments of a batch whose leader died
// before telling them the outcome: retryable, and a retry replays whatever
// was committed.
var errBatchAbandoned = &Error{Code: CodeRequestInProgress, Message: "the payment was interrupted; retry shortly"}

// walletPay is one payment waiting in, or applied by, a batch.
type walletPay struct {
	order Order
	call  *TxCall
	res   PayWithWalletResult
	err   error
	// ready is closed when the payment is done or its goroutine is to
	// lead the next batch (lead).
	ready chan struct{}
	lead  bool
	// out: the payment stepped out of its batch with err as its answer.
	out bool
}

// walletBatches queues payments per wallet (by its owner: one wallet per
// user). The first payment of an idle
// wallet leads: it takes up to maxBatch queued payments (its own first),
// applies them, answers them, and hands the lead to the oldest payment
// still queued, whose goroutine runs the next batch. Payments arriving
// while a batch runs therefore form the next one: group commit, with no
// added wait when the wallet is idle.
type walletBatches struct {
	mu     sync.Mutex
	queues map[string]*walletQueue
}

// walletQueue is a wallet's payments waiting for the next batch. It is in
// walletBatches.queues exactly while a batch of its wallet runs (or its
// next leader is waking).
type walletQueue struct {
	ops []*walletPay
}

// payBatched applies op in a batch of the payments from userID's wallet and
// sets its res and err.
func (s *Service) payBatched(ctx context.Context, userID string, op *walletPay) {
	b := &s.batches
	b.mu.Lock()
	q, running := b.queues[userID]
	if !running {
		q = &walletQueue{}
		b.queues[userID] = q
	}
	q.ops = append(q.ops, op)
	if running {
		b.mu.Unlock()
		s.awaitBatch(ctx, userID, q, op)
		if !op.lead {
			return // another goroutine applied it
		}
		b.mu.Lock()
	}
	batch := q.ops[:min(len(q.ops), maxBatch)]
	q.ops = q.ops[len(batch):]
	b.mu.Unlock()

	answered := false
	defer func() {
		// Runs on a panic too (a crash in the simulation): the followers
		// must not wait for a leader that is gone.
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range batch {
			if !answered {
				p.res, p.err = PayWithWalletResult{}, errBatchAbandoned
			}
			if p != op {
				close(p.ready)
			}
		}
		b.handOffLocked(userID, q)
	}()
	// The batch answers other callers: the leader's client leaving must not
	// roll their payments back.
	s.payBatch(context.WithoutCancel(ctx), userID, batch)
	answered = true
}

// awaitBatch waits until op is applied or its goroutine is to lead. If the
// wait unwinds instead (the simulation kills a process there), op leaves
// the queue, and a lead handed to it passes on: no payment may wait for a
// goroutine that is gone.
func (s *Service) awaitBatch(ctx context.Context, userID string, q *walletQueue, op *walletPay) {
	waited := false
	defer func() {
		if waited {
			return
		}
		b := &s.batches
		b.mu.Lock()
		defer b.mu.Unlock()
		i := slices.Index(q.ops, op)
		if i < 0 {
			return // in a running batch, whose leader answers it
		}
		q.ops = slices.Delete(q.ops, i, i+1)
		if op.lead {
			b.handOffLocked(userID, q)
		}
	}()
	s.cfg.Await(ctx, op.ready)
	waited = true
}

// handOffLocked wakes the oldest queued payment of q to lead the next
// batch, or marks the wallet idle.
func (b *walletBatches) handOffLocked(userID string, q *walletQueue) {
	if len(q.ops) > 0 {
		next := q.ops[0]
		next.lead = true
		close(next.ready)
		return
	}
	delete(b.queues, userID)
}

// payBatch applies batch in one transaction under the wallet's lock, with
// a fixed number of statements however many payments it holds: the
// balance is decided in memory, in queue order, from the wallet read at
// the start; one UPDATE moves the paid orders to PAID; one read looks for
// splits started on them (their rows are locked now); one INSERT records
// every payment's answer under its key, refusals included; and one write
// (WriteWalletPayments) debits the wallet by the batch's total, conditional
// on the version read, with every payment's ledger, history, payment and
// event rows. A lost race (another instance wrote the wallet) rolls the
// batch back and retries it.
//
// A payment whose order was no longer PENDING, whose order has a split
// under way, or whose key a duplicate answered meanwhile steps out: the
// batch rolls back, that payment gets its answer (stored or replayed by
// RunInTx, the split released by PayWithWallet) and the others are applied
// again without it, so no refusal is decided from a balance that counted
// a payment which did not happen. All three are rare; a database error
// fails the whole batch, retryably.
func (s *Service) payBatch(ctx context.Context, userID string, batch []*walletPay) {
	for len(batch) > 0 {
		err := s.payBatchOf(ctx, userID, batch)
		if !errors.Is(err, errStepOut) {
			if err != nil {
				for _, p := range batch {
					p.res, p.err, p.call.done = PayWithWalletResult{}, err, false
				}
			}
			return
		}
		// Rolled back: the payments that stepped out keep their answer,
		// the others go again.
		batch = slices.DeleteFunc(slices.Clone(batch), func(p *walletPay) bool { return p.out })
	}
}

// errStepOut rolls a batch back when one of its payments must step out of
// it (walletPay.out); payBatch applies the others again.
var errStepOut = errors.New("a payment steps out of its batch")

func (s *Service) payBatchOf(ctx context.Context, userID string, batch []*walletPay) error {
	walletID, err := s.walletID(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return errorf(CodeInsufficientBalance, "no wallet yet: create and charge one first")
	}
	if err != nil {
		return err
	}
	if !canMoveOrder(OrderPending, OrderPaid, SourceWallet) {
		return illegalMove("order", batch[0].order.ID, OrderPending, OrderPaid, SourceWallet)
	}
	return s.withWalletLock(ctx, walletID, func() error {
		return s.store.InTx(ctx, func(q Queries) error {
			w, err := q.Wallet(ctx, walletID)
			if err != nil {
				return err
			}
			now := s.now().UTC()
			// Decide in queue order. A retried batch starts over: nothing of
			// the attempt rolled back is recorded, the keys' records included.
			var paying []*walletPay
			var ids []string
			balance := w.Balance.Amount
			for _, p := range batch {
				p.res, p.err, p.call.done = PayWithWalletResult{}, nil, false
				switch amount := p.order.Amount.Amount; {
				case slices.Contains(ids, p.order.ID):
					// The same order under another key (or the same key
					// twice): the first pays it, and this answer commits or
					// rolls back with that payment. A repeated key is taken
					// by the first's answer and replays it.
					p.err = errorf(CodeInvalidState, "order %s is %s, not PENDING", p.order.ID, OrderPaid)
				case amount > balance:
					p.err = errorf(CodeInsufficientBalance, "the wallet holds %s, %s is needed", Money{balance, w.Balance.Currency}, p.order.Amount)
				default:
					balance -= amount
					paying, ids = append(paying, p), append(ids, p.order.ID)
				}
			}
			if len(paying) > 0 {
				moved, err := q.TransitionOrders(ctx, ids, OrderPending, OrderPaid, now)
				if err != nil {
					return err
				}
				if err := stepOutUnmoved(ctx, q, paying, moved); err != nil {
					return err
				}
				byOrder, err := readByParent(ctx, q, ids, BatchQueries.PaymentsByOrders, q.PaymentsByOrder, func(p Payment) string { return p.OrderID })
				if err != nil {
					return err
				}
				out := false
				for _, p := range paying {
					if slices.ContainsFunc(byOrder[p.order.ID], isOpenSplit) {
						p.err, p.out, out = errOpenSplit, true, true
					}
				}
				if out {
					return errStepOut
				}
			}
			write := WalletPaymentsWrite{WalletID: w.ID, Version: w.Version, Now: now}
			recs := make([]IdempotencyRecord, len(batch))
			for i, p := range batch {
				var de *Error
				if p.err != nil {
					errors.As(p.err, &de)
				} else {
					var rows WalletPaymentsWrite
					if p.res, rows, err = paidFromWallet(w, p.order, now); err != nil {
						return err
					}
					w = p.res.Wallet
					write.Ledger = append(write.Ledger, rows.Ledger...)
					write.History = append(write.History, rows.History...)
					write.Payments = append(write.Payments, rows.Payments...)
					write.Events = append(write.Events, rows.Events...)
				}
				if recs[i], err = p.call.answer(p.res, de); err != nil {
					return err
				}
			}
			taken, err := q.InsertIdempotencyDoneMany(ctx, recs)
			if err != nil {
				return fmt.Errorf("record idempotency keys: %w", err)
			}
			if len(taken) > 0 {
				for _, i := range taken {
					batch[i].err, batch[i].out = errKeyTaken, true // a duplicate finished first: RunInTx replays it
				}
				return errStepOut
			}
			for _, p := range batch {
				p.call.recorded()
			}
			if write.Count() == 0 {
				return nil
			}
			ok, err := q.WriteWalletPayments(ctx, write)
			if err != nil {
				return fmt.Errorf("write wallet payments: %w", err)
			}
			if !ok {
				return ErrConflict
			}
			return nil
		})
	})
}

// stepOutUnmoved steps out the payments whose order the batch's UPDATE did
// not move to PAID (paying holds each order once), with the order's status
// in their answer. An order read back PENDING moved away and back meanwhile
// (a card confirm that never reached the PG): no answer is kept, the
// caller retries.
func stepOutUnmoved(ctx context.Context, q Queries, paying []*walletPay, moved []string) error {
	out := false
	for _, p := range paying {
		if slices.Contains(moved, p.order.ID) {
			continue
		}
		cur, err := q.Order(ctx, p.order.ID)
		if err != nil {
			return err
		}
		p.err, p.out, out = errorf(CodeInvalidState, "order %s is %s, not PENDING", p.order.ID, cur.Status), true, true
		if cur.Status == OrderPending {
			p.err = errorf(CodeRequestInProgress, "order %s is changing; retry shortly", p.order.ID)
		}
	}
	if out {
		return errStepOut
	}
	return nil
}

// paidFromWallet is order o paid from wallet w at now: the result, and
// the rows WriteWalletPayments writes for it. o's order has moved to PAID.
func paidFromWallet(w Wallet, o Order, now time.Time) (PayWithWalletResult, WalletPaymentsWrite, error) {
	amount := o.Amount.Amount
	o.Status, o.UpdatedAt = OrderPaid, now
	ltx := LedgerTransaction{ID: NewID("ltx", now), Kind: "WALLET_PAYMENT", OrderID: o.ID, Description: "wallet payment for " + o.ID,
		CreatedAt: now, Entries: []LedgerEntry{
			{ID: NewID("ent", now), AccountID: w.AccountID, Amount: -amount},
			{ID: NewID("ent", now), AccountID: AccountIDRevenue, Amount: amount},
		}}
	w.Version++
	w.Balance.Amount -= amount
	w.UpdatedAt = now
	hist := WalletTransaction{ID: NewID("wtx", now), WalletID: w.ID, Seq: w.Version, Type: WalletPayment,
		Amount: Money{-amount, w.Balance.Currency}, BalanceAfter: w.Balance, OrderID: o.ID, LedgerTransactionID: ltx.ID, CreatedAt: now}
	pay := Payment{ID: NewID("pay", now), OrderID: o.ID, Method: MethodWallet, Status: PaymentDone,
		Amount: o.Amount, RefundedAmount: Money{0, o.Amount.Currency}, ApprovedAt: &now, CreatedAt: now, UpdatedAt: now}
	ev, err := newEvent(pay, PaymentPending, EventPaidFromWallet, SourceWallet, "wallet "+w.ID, now)
	if err != nil {
		return PayWithWalletResult{}, WalletPaymentsWrite{}, err
	}
	rows := WalletPaymentsWrite{Ledger: []LedgerTransaction{ltx}, History: []WalletTransaction{hist},
		Payments: []Payment{pay}, Events: []PaymentEvent{ev}}
	return PayWithWalletResult{Order: o, Payment: pay, Wallet: w}, rows, nil
}
