package payment

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
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
// Wallet payments that arrive together on this instance, from one wallet
// or several, are applied together, all or nothing, under one hold of each
// wallet's lock (payBatch): a hot wallet then costs one lock, one read, a
// fixed number of statements and one commit per batch instead of per
// payment, and payments spread over many wallets share the commit and the
// statements. Each payment keeps its own idempotency record, so a refusal
// (INSUFFICIENT_BALANCE, an order no longer PENDING) fails only itself and
// every caller gets its own answer. The idempotency record is written with
// the payment, all or nothing (RunInTx): no separate claim commit.
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
		for retried := false; ; retried = true {
			op := &walletPay{user: u, orderID: orderID, call: call, ready: make(chan struct{})}
			s.payBatched(ctx, op)
			// By identity: errors.Is would match any REQUEST_IN_PROGRESS.
			if op.err != errOpenSplit || retried {
				return op.res, op.err
			}
			// A split started on this order gives its hold back first, in
			// its own transaction: the batch decides balances from the
			// wallet as it reads it. Rare, so looked for only in the batch.
			err := s.underWallet(ctx, u.ID, func() error {
				return s.store.InTx(ctx, func(q Queries) error { return s.voidSplits(ctx, q, op.order, SourceWallet, s.now().UTC()) })
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
	user     User
	orderID  string
	walletID string // the user's wallet, found by the batch
	order    Order  // as the batch read it
	call     *TxCall
	res      PayWithWalletResult
	err      error
	// ready is closed when the payment is done or its goroutine is to
	// lead the next batch (lead).
	ready chan struct{}
	lead  bool
	// out: the payment stepped out of its batch with err as its answer.
	out bool
	// again: its wallet's lock was busy; it is not answered but goes
	// first in the queue's next batch, whose leader waits for that lock.
	again bool
	// gone: its goroutine stopped waiting (awaitBatch), so it never goes
	// again. Under walletBatches.mu.
	gone bool
}

// walletBatches queues wallet payments in Config.WalletBatches queues, a
// user's always in the same one (one wallet per user), so one wallet's
// payments are applied in the order they arrived. The first payment of an idle
// queue leads: it takes up to maxBatch queued payments (its own first),
// applies them, answers them, and hands the lead to the oldest payment
// still queued, whose goroutine runs the next batch. Payments arriving
// while a batch runs therefore form the next one: group commit, with no
// added wait when the queue is idle. Each queue runs one batch at a time;
// the queues let batches of different wallets run side by side.
type walletBatches struct {
	mu     sync.Mutex
	queues []*walletQueue // nil while idle
}

// shard is the queue of userID's payments.
func (b *walletBatches) shard(userID string) int {
	h := fnv.New32a()
	h.Write([]byte(userID))
	return int(h.Sum32() % uint32(len(b.queues)))
}

// walletQueue is one queue's payments waiting for the next batch. It is
// in walletBatches.queues exactly while a batch of its queue runs (or its
// next leader is waking).
type walletQueue struct {
	ops []*walletPay
}

// payBatched applies op in a batch of the wallet payments of its queue
// and sets its res and err.
func (s *Service) payBatched(ctx context.Context, op *walletPay) {
	b := &s.batches
	shard := b.shard(op.user.ID)
	b.mu.Lock()
	q := b.queues[shard]
	running := q != nil
	if !running {
		q = &walletQueue{}
		b.queues[shard] = q
	}
	q.ops = append(q.ops, op)
	if running {
		b.mu.Unlock()
		s.awaitBatch(ctx, shard, q, op)
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
		var again []*walletPay
		for _, p := range batch {
			switch {
			case !answered:
				p.res, p.err = PayWithWalletResult{}, errBatchAbandoned
			case p.again && !p.gone:
				again = append(again, p) // still waiting: first in the next batch
				continue
			}
			if p != op {
				close(p.ready)
			}
		}
		q.ops = append(again, q.ops...)
		b.handOffLocked(shard, q)
	}()
	// The batch answers other callers: the leader's client leaving must not
	// roll their payments back (batchContext), and it is bounded all the same.
	bctx, cancel := s.batchContext(ctx)
	defer cancel()
	s.payBatch(bctx, batch)
	answered = true
}

// awaitBatch waits until op is applied or its goroutine is to lead. If the
// wait unwinds instead (the simulation kills a process there), op leaves
// the queue, and a lead handed to it passes on: no payment may wait for a
// goroutine that is gone.
func (s *Service) awaitBatch(ctx context.Context, shard int, q *walletQueue, op *walletPay) {
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
			op.gone = true // in a running batch, whose leader answers it
			return
		}
		q.ops = slices.Delete(q.ops, i, i+1)
		if op.lead {
			b.handOffLocked(shard, q)
		}
	}()
	s.cfg.Await(ctx, "wallet batch", op.ready)
	waited = true
}

// handOffLocked wakes the oldest queued payment of q to lead the next
// batch, or marks the queue idle.
func (b *walletBatches) handOffLocked(shard int, q *walletQueue) {
	if len(q.ops) > 0 {
		next := q.ops[0]
		next.lead = true
		close(next.ready)
		return
	}
	b.queues[shard] = nil
}

// payBatch applies batch, whose payments may come from several wallets,
// under the lock of each of its wallets (lockWallets), in one transaction
// with a fixed number of statements however many payments it holds
// (payBatchOf). A lost race (another instance wrote one of the wallets)
// rolls the batch back and applies it again.
//
// A payment whose order was no longer PENDING, whose order has a split
// under way, or whose key a duplicate answered meanwhile steps out: the
// batch rolls back, that payment gets its answer (stored or replayed by
// RunInTx, the split released by PayWithWallet) and the others are applied
// again without it, so no refusal is decided from a balance that counted
// a payment which did not happen. All three are rare; a database error
// fails the whole batch, retryably.
func (s *Service) payBatch(ctx context.Context, batch []*walletPay) {
	for _, p := range batch {
		p.res, p.err, p.out, p.again = PayWithWalletResult{}, nil, false, false
	}
	held := map[string]Lock{}
	defer s.unlockWallets(ctx, held)
	s.lockWallets(ctx, batch, held)
	batch = slices.DeleteFunc(slices.Clone(batch), func(p *walletPay) bool { return p.out || p.again })
	for len(batch) > 0 {
		err := s.retryLostRaces(ctx, fmt.Sprintf("a batch of %d wallet payments", len(batch)), func() error { return s.payBatchOf(ctx, batch) })
		if errors.Is(err, errStepOut) {
			// Rolled back: the payments that stepped out keep their answer,
			// the others go again.
			batch = slices.DeleteFunc(batch, func(p *walletPay) bool { return p.out })
			continue
		}
		if err != nil && ctx.Err() != nil {
			s.log.WarnContext(ctx, "wallet batch timed out", "payments", len(batch), "err", err)
			err = errBatchTimedOut
		}
		var de *Error
		if errors.As(err, &de) && replayable(de.Code) {
			// Not any one payment's answer: a failure to retry, never
			// stored under every key of the batch.
			err = fmt.Errorf("wallet batch: %s", err)
		}
		if err != nil {
			for _, p := range batch {
				p.res, p.err, p.call.done = PayWithWalletResult{}, err, false
			}
		}
		return
	}
}

// lockTry bounds how long a batch waits for the lock of a wallet other
// than its leader's: holding some locks, it never waits long for another.
const lockTry = 10 * time.Millisecond

// lockWallets finds the wallet of each payment of batch and takes the
// wallets' locks into held. The leader's wallet (batch[0]'s) is waited for
// as any wallet lock is, while the batch holds no other; each other wallet
// is only tried, briefly, so a batch holding locks never waits long for
// another and two batches (on two instances) never wait for each other in
// a cycle. A payment whose wallet is busy goes again, first in the next
// batch (walletPay.again); one whose leader's wallet could not be locked
// steps out with that answer. With a ManyLocker every wallet is first
// tried once, together: one round trip when they are free.
func (s *Service) lockWallets(ctx context.Context, batch []*walletPay, held map[string]Lock) {
	var others []string
	for i, p := range batch {
		id, err := s.walletID(ctx, p.user.ID)
		if errors.Is(err, ErrNotFound) {
			continue // the batch answers it, once it has read the order
		}
		if err != nil {
			p.err, p.out = timedOut(ctx, err), true
			continue
		}
		p.walletID = id
		if i > 0 && id != batch[0].walletID {
			others = append(others, id)
		}
	}
	slices.Sort(others)
	others = slices.Compact(others)
	lead := batch[0].walletID
	if m, ok := s.locker.(ManyLocker); ok && lead != "" && len(others) > 0 {
		if others = s.lockAllOnce(ctx, m, lead, others, held); others == nil {
			return
		}
	}
	if lead != "" && held[lead] == nil {
		lock, err := s.locker.Lock(ctx, "wallet:"+lead)
		if err != nil {
			err = timedOut(ctx, err)
			for _, p := range batch {
				if p.walletID == lead {
					p.err, p.out = err, true
				}
			}
		} else {
			held[lead] = lock
		}
	}
	locks, errs := s.tryLocks(ctx, walletLocks(others))
	for i, id := range others {
		lock, err := locks[i], errs[i]
		if err != nil {
			for _, p := range batch {
				if p.walletID == id && !p.out {
					p.again = true
				}
			}
			continue
		}
		held[id] = lock
	}
}

// lockAllOnce tries the leader's wallet and the others once, together,
// into held, and tells which of others lockWallets still has to try: the
// ones it did not get, or all of them when the leader's was not got (those
// it got are released, so that the batch waits for its leader's wallet
// holding none). nil: all were got.
func (s *Service) lockAllOnce(ctx context.Context, m ManyLocker, lead string, others []string, held map[string]Lock) []string {
	locks, errs := m.TryLocks(ctx, walletLocks(append([]string{lead}, others...)), 0)
	if errs[0] != nil {
		var got []Lock
		var ids []string
		for i, lock := range locks {
			if lock != nil {
				got, ids = append(got, lock), append(ids, others[i-1])
			}
		}
		for i, err := range m.UnlockAll(context.WithoutCancel(ctx), got) {
			if err != nil {
				s.log.WarnContext(ctx, "wallet unlock", "wallet", ids[i], "err", err)
			}
		}
		return others
	}
	held[lead] = locks[0]
	var left []string
	for i, id := range others {
		if errs[i+1] != nil {
			left = append(left, id)
			continue
		}
		held[id] = locks[i+1]
	}
	return left
}

// walletLocks are the lock names of wallets ids.
func walletLocks(ids []string) []string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = "wallet:" + id
	}
	return names
}

// tryLocks tries each of names for at most lockTry: all at once when the
// locker can (ManyLocker), else one after another.
func (s *Service) tryLocks(ctx context.Context, names []string) ([]Lock, []error) {
	if m, ok := s.locker.(ManyLocker); ok {
		return m.TryLocks(ctx, names, lockTry)
	}
	locks, errs := make([]Lock, len(names)), make([]error, len(names))
	for i, name := range names {
		tctx, cancel := context.WithTimeout(ctx, lockTry)
		locks[i], errs[i] = s.locker.Lock(tctx, name)
		cancel()
	}
	return locks, errs
}

// unlockWallets releases the locks lockWallets took: all at once when the
// locker can (ManyLocker).
func (s *Service) unlockWallets(ctx context.Context, held map[string]Lock) {
	ctx = context.WithoutCancel(ctx)
	ids := slices.Sorted(maps.Keys(held))
	errs := make([]error, len(ids))
	if m, ok := s.locker.(ManyLocker); ok && len(ids) > 1 {
		locks := make([]Lock, len(ids))
		for i, id := range ids {
			locks[i] = held[id]
		}
		errs = m.UnlockAll(ctx, locks)
	} else {
		for i, id := range ids {
			errs[i] = held[id].Unlock(ctx)
		}
	}
	for i, err := range errs {
		if err != nil {
			s.log.WarnContext(ctx, "wallet unlock", "wallet", ids[i], "err", err)
		}
	}
}

// errStepOut rolls a batch back when one of its payments must step out of
// it (walletPay.out); payBatch applies the others again.
var errStepOut = errors.New("a payment steps out of its batch")

// payBatchOf applies batch, its wallets locked: one read for its orders
// and their owners' wallets; every payment decided in memory, in queue
// order (the order is the caller's purchase and PENDING, the balance
// covers it); then every answer recorded under its key, refusals included,
// the paid orders moved to PAID and each wallet debited by its payments'
// total, conditional on the version read, with every payment's ledger,
// history, payment and event rows.
//
// It goes at once first: the read outside any transaction, then
// PayFromWallets, all or nothing, in one round trip on PostgreSQL (a batch
// of refusals only records its answers). Should
// the database no longer be as read (a key answered, an order no longer
// PENDING, a split under way, a wallet written elsewhere), that wrote
// nothing, and the batch goes again in a transaction that tells which:
// the read, one UPDATE moving the paid orders to PAID (which locks them),
// and one write (WriteWalletPayments) that looks for splits started on
// them and reports keys already answered.
func (s *Service) payBatchOf(ctx context.Context, batch []*walletPay) error {
	if !canMoveOrder(OrderPending, OrderPaid, SourceWallet) {
		return illegalMove("order", batch[0].orderID, OrderPending, OrderPaid, SourceWallet)
	}
	var orderIDs []string
	for _, p := range batch {
		orderIDs = append(orderIDs, p.orderID)
	}
	slices.Sort(orderIDs)
	orderIDs = slices.Compact(orderIDs)
	os, ws, err := s.store.OrdersWithWallets(ctx, orderIDs)
	if err != nil {
		return err
	}
	read, ids, err := decideBatch(batch, os, ws)
	if err != nil {
		return err
	}
	write, err := buildBatch(batch, read, ids, s.now().UTC())
	if err != nil {
		return err
	}
	if len(write.Debits) == 0 {
		// Refusals only: nothing in the batch pays, so each answer stands
		// alone, and one statement records them all. A key answered
		// meanwhile (a retry of a payment done, the common case here)
		// answers its payment instead.
		taken, err := s.store.InsertIdempotencyDoneMany(ctx, write.Answers)
		if err != nil {
			return fmt.Errorf("record idempotency keys: %w", err)
		}
		for i, p := range batch {
			if slices.Contains(taken, i) {
				p.err, p.out = errKeyTaken, true // RunInTx replays the key's answer
				continue
			}
			p.call.recorded()
		}
		return nil
	}
	switch done, err := s.store.PayFromWallets(ctx, write); {
	case err != nil:
		return err
	case done:
		for _, p := range batch {
			p.call.recorded()
		}
		return nil
	}
	return s.store.InTx(ctx, func(q Queries) error {
		os, ws, err := q.OrdersWithWallets(ctx, orderIDs)
		if err != nil {
			return err
		}
		read, ids, err := decideBatch(batch, os, ws)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		if len(ids) > 0 {
			moved, err := q.TransitionOrders(ctx, ids, OrderPending, OrderPaid, now)
			if err != nil {
				return err
			}
			if err := stepOutUnmoved(ctx, q, batch, moved); err != nil {
				return err
			}
		}
		write, err := buildBatch(batch, read, ids, now)
		if err != nil {
			return err
		}
		got := WalletPaymentsWritten{Done: true}
		if len(write.Debits) == 0 {
			// Refusals only (nothing paying, so no split to look for):
			// their answers alone.
			if got.Taken, err = q.InsertIdempotencyDoneMany(ctx, write.Answers); err != nil {
				return fmt.Errorf("record idempotency keys: %w", err)
			}
		} else if got, err = q.WriteWalletPayments(ctx, write); err != nil {
			return fmt.Errorf("write wallet payments: %w", err)
		}
		// A key answered already answers its payment first: a late retry,
		// or a key another request used, never voids the order's split
		// (PayWithWallet voids it for a payment that steps out with
		// errOpenSplit). The write finds both in one step.
		if len(got.Taken) > 0 {
			for _, i := range got.Taken {
				batch[i].err, batch[i].out = errKeyTaken, true // a duplicate finished first: RunInTx replays it
			}
			return errStepOut
		}
		if len(got.Splits) > 0 {
			out := false
			for _, p := range batch {
				if p.err == nil && slices.Contains(got.Splits, p.order.ID) {
					p.err, p.out, out = errOpenSplit, true, true
				}
			}
			if !out { // else the batch would run again as it is, forever
				return fmt.Errorf("the write found splits on orders it does not pay: %v", got.Splits)
			}
			return errStepOut
		}
		if !got.Done {
			return ErrConflict
		}
		for _, p := range batch {
			p.call.recorded()
		}
		return nil
	})
}

// decideBatch decides each payment of batch, in queue order, from its
// orders (os) and their owners' wallets (ws) as read: a payment that goes
// through has no err, the others their refusal. It returns the wallets as
// read, by id, and the orders paid (each once). A wallet read may be one
// the batch did not lock (the owner of an order someone else tried to
// pay): only the wallets of payments that pass these checks are written,
// and the payer's wallet is the owner's for every one of those.
func decideBatch(batch []*walletPay, os []Order, ws []Wallet) (map[string]Wallet, []string, error) {
	orders := make(map[string]Order, len(os))
	for _, o := range os {
		orders[o.ID] = o
	}
	read := make(map[string]Wallet, len(ws))
	balance := make(map[string]int64, len(ws))
	for _, w := range ws {
		read[w.ID] = w
		balance[w.ID] = w.Balance.Amount
	}
	// A batch that goes again starts over: nothing of the attempt before
	// is recorded, the keys' records included.
	var ids []string
	for _, p := range batch {
		p.res, p.err, p.call.done = PayWithWalletResult{}, nil, false
		p.order = orders[p.orderID]
		switch amount := p.order.Amount.Amount; {
		case p.order.ID == "" || (p.order.UserID != p.user.ID && !p.user.IsAdmin):
			p.err = errorf(CodeNotFound, "order not found")
		case p.order.UserID != p.user.ID:
			p.err = errorf(CodeForbidden, "only the order's owner pays it")
		case p.order.Kind != OrderPurchase:
			p.err = errorf(CodeInvalidState, "a %s order is paid by card, not from the wallet", p.order.Kind)
		case p.order.Status != OrderPending:
			p.err = errorf(CodeInvalidState, "order %s is %s, not PENDING", p.order.ID, p.order.Status)
		case p.walletID == "":
			p.err = errorf(CodeInsufficientBalance, "no wallet yet: create and charge one first")
		case read[p.walletID].ID == "":
			return nil, nil, fmt.Errorf("wallet %s of a batch is missing", p.walletID) // wallets are never deleted
		case slices.Contains(ids, p.order.ID):
			// The same order under another key (or the same key twice):
			// the first pays it, and this answer commits or rolls back
			// with that payment. A repeated key is taken by the first's
			// answer and replays it.
			p.err = errorf(CodeInvalidState, "order %s is %s, not PENDING", p.order.ID, OrderPaid)
		case amount > balance[p.walletID]:
			p.err = errorf(CodeInsufficientBalance, "the wallet holds %s, %s is needed",
				Money{balance[p.walletID], read[p.walletID].Balance.Currency}, p.order.Amount)
		default:
			balance[p.walletID] -= amount
			ids = append(ids, p.order.ID)
		}
	}
	return read, ids, nil
}

// buildBatch is what batch writes at now, decided (decideBatch) from the
// wallets read: every payment's answer, and for those that go through
// (ids, their orders) the debits and rows. It sets each payment's result.
func buildBatch(batch []*walletPay, read map[string]Wallet, ids []string, now time.Time) (WalletPaymentsWrite, error) {
	write := WalletPaymentsWrite{Now: now, Paying: ids, Answers: make([]IdempotencyRecord, len(batch))}
	after := maps.Clone(read)
	for i, p := range batch {
		var de *Error
		if p.err != nil {
			errors.As(p.err, &de)
		} else {
			write.PayingRead = append(write.PayingRead, p.order.UpdatedAt) // in ids' order: the payments with no err
			var rows WalletPaymentsWrite
			var err error
			if p.res, rows, err = paidFromWallet(after[p.walletID], p.order, now); err != nil {
				return WalletPaymentsWrite{}, err
			}
			after[p.walletID] = p.res.Wallet
			write.Ledger = append(write.Ledger, rows.Ledger...)
			write.History = append(write.History, rows.History...)
			write.Payments = append(write.Payments, rows.Payments...)
			write.Events = append(write.Events, rows.Events...)
		}
		var err error
		if write.Answers[i], err = p.call.answer(p.res, de); err != nil {
			return WalletPaymentsWrite{}, err
		}
	}
	for _, id := range slices.Sorted(maps.Keys(read)) {
		w, a := read[id], after[id]
		if a.Version != w.Version {
			write.Debits = append(write.Debits, WalletDebit{WalletID: id, Version: w.Version,
				Amount: w.Balance.Amount - a.Balance.Amount, Count: a.Version - w.Version})
		}
	}
	return write, nil
}

// stepOutUnmoved steps out the payments of batch going through (no err;
// each order once) whose order the batch's UPDATE did not move to PAID, with the order's status
// in their answer. An order read back PENDING moved away and back meanwhile
// (a card confirm that never reached the PG): no answer is kept, the
// caller retries.
func stepOutUnmoved(ctx context.Context, q Queries, batch []*walletPay, moved []string) error {
	out := false
	for _, p := range batch {
		if p.err != nil || slices.Contains(moved, p.order.ID) {
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
