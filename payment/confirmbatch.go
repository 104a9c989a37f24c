package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// Card confirms arriving together are recorded together: the intents of
// fresh card payments (order and payment IN_DOUBT, probe queued) in one
// transaction, and the settles of the approvals that come back (payment
// DONE, order PAID, ledger, idempotent answer) in another, each with a fixed
// number of statements however many confirms it holds. A confirm the batch
// cannot decide from what it read (its order moved, its payment key was
// taken, its payment settled meanwhile, a top-up, a split, a decline) steps
// out and is recorded alone by the one-confirm code (sendIntent, settle),
// which gives it the answer it has always had.

// maxConfirmBatch bounds the confirms (and claims) of one batch. A batch
// runs one at a time per kind, so under a burst the number of batches in a
// row is what a caller waits for; the rows a batch locks are its own
// confirms' (no two batches of a kind contend), so it may be larger than a
// wallet batch, whose payments share wallets.
const maxConfirmBatch = 128

// intentOp is one fresh card payment's intent in a batch.
type intentOp struct {
	p      Payment // built by ConfirmPayment, PENDING
	o      Order   // as read, PENDING
	source string
	// logCtx is the caller's context: the batch logs about this intent
	// with it, so the line carries the caller's request, not the leader's.
	logCtx context.Context
	err    error
	// single: not recorded by the batch; its caller records it alone.
	single bool
}

// recordIntent is sendIntent for a new card payment, in a batch of the
// intents arriving together (intentBatch).
func (s *Service) recordIntent(ctx context.Context, p *Payment, o *Order, source string) error {
	op := &intentOp{p: *p, o: *o, source: source, logCtx: ctx}
	s.intents.do(ctx, s.cfg.Await, "intent batch", op, maxConfirmBatch, s.intentBatch,
		func(op *intentOp) { op.err, op.single = errBatchAbandoned, false })
	if op.single {
		return s.sendIntent(ctx, p, o, true, source)
	}
	if op.err != nil {
		return op.err
	}
	*p, *o = op.p, op.o
	return nil
}

// intentBatch records batch's intents in one transaction (intentBatchOf).
// A second intent for an order or payment key already in the batch goes
// alone, after it, as it would have gone after it one by one.
func (s *Service) intentBatch(ctx context.Context, batch []*intentOp) {
	orders, keys := map[string]bool{}, map[string]bool{}
	var todo []*intentOp
	for _, op := range batch {
		op.err, op.single = nil, false
		if orders[op.o.ID] || keys[op.p.PGPaymentKey] || !canMoveOrder(op.o.Status, OrderInDoubt, op.source) {
			op.single = true
			continue
		}
		orders[op.o.ID], keys[op.p.PGPaymentKey] = true, true
		todo = append(todo, op)
	}
	for len(todo) > 0 {
		rolledBack, err := s.intentBatchOf(ctx, todo)
		if err != nil && ctx.Err() != nil {
			// Out of its time, committed or not: none of todo's intents goes
			// to the PG from here, nor is recorded alone, which would wait on
			// the same database for its caller. (Those that stepped out
			// before are recorded alone, as always.) A committed one is an
			// IN_DOUBT payment with its probe queued: the probe, or a retry
			// with the same key, confirms it.
			s.log.WarnContext(ctx, "intent batch timed out", "intents", len(todo), "err", err)
			for _, op := range todo {
				op.err = errBatchTimedOut
			}
			return
		}
		if err != nil && rolledBack && !errors.Is(err, errStepOut) {
			// Failed before its commit (a deadlock, one bad row): nothing
			// was written, so each intent is recorded alone, where only a
			// bad one fails.
			s.log.WarnContext(ctx, "intent batch failed; recording its intents one by one", "intents", len(todo), "err", err)
			for _, op := range todo {
				op.single = true
			}
			return
		}
		if errors.Is(err, errStepOut) {
			todo = slices.DeleteFunc(todo, func(op *intentOp) bool {
				if op.single {
					s.log.InfoContext(op.logCtx, "card confirm steps out of its intent batch", "payment", op.p.ID, "order", op.o.ID)
				}
				return op.single
			})
			continue
		}
		var de *Error
		if errors.As(err, &de) && replayable(de.Code) {
			err = fmt.Errorf("confirm batch: %s", err) // not any one confirm's answer
		}
		if err != nil {
			// The commit failed, and its outcome may be unknown: an error
			// to retry, never a second attempt that would read the batch's
			// own intent as someone else's.
			for _, op := range todo {
				op.err = err
			}
		}
		return
	}
}

// intentBatchOf moves todo's orders PENDING → IN_DOUBT in one UPDATE,
// inserts their payments IN_DOUBT with the event of that move in one
// INSERT, and queues their probes in one more. An order that did not move
// or a payment whose key was taken steps out: the batch rolls back and
// goes again without it. rolledBack tells an error raised inside the
// transaction (nothing written) from one of its commit.
func (s *Service) intentBatchOf(ctx context.Context, todo []*intentOp) (rolledBack bool, err error) {
	err = s.store.InTx(ctx, func(q Queries) error {
		err := s.intentBatchTx(ctx, q, todo)
		rolledBack = err != nil
		return err
	})
	return rolledBack, err
}

// intentBatchTx is intentBatchOf's transaction.
func (s *Service) intentBatchTx(ctx context.Context, q Queries, todo []*intentOp) error {
	now := s.now().UTC()
	ids := make([]string, len(todo))
	for i, op := range todo {
		ids[i] = op.o.ID
	}
	moved, err := q.TransitionOrders(ctx, ids, OrderPending, OrderInDoubt, now)
	if err != nil {
		return err
	}
	out := false
	for _, op := range todo {
		if !slices.Contains(moved, op.o.ID) {
			op.single, out = true, true
		}
	}
	if out {
		return errStepOut
	}
	ps := make([]Payment, len(todo))
	events := make([]PaymentEvent, len(todo))
	pids := make([]string, len(todo))
	for i, op := range todo {
		p := op.p
		p.ConfirmSentAt = &now
		p.Status = PaymentInDoubt // recorded IN_DOUBT from the start, with the event of its move
		if events[i], err = newEvent(p, PaymentPending, EventConfirmSent, op.source, "", now); err != nil {
			return err
		}
		ps[i], pids[i] = p, p.ID
	}
	inserted, err := q.InsertPayments(ctx, ps, events)
	if err != nil {
		return err
	}
	if len(inserted) < len(ps) {
		// Another confirm of the key recorded its payment first: alone,
		// this one hears REQUEST_IN_PROGRESS as it always has.
		for _, op := range todo {
			if !slices.Contains(inserted, op.p.ID) {
				op.single = true
			}
		}
		return errStepOut
	}
	if err := q.EnqueuePaymentProbes(ctx, pids, now.Add(s.cfg.ProbeDelay)); err != nil {
		return err
	}
	for i, op := range todo {
		op.p = ps[i]
		op.o.Status, op.o.UpdatedAt = OrderInDoubt, now
	}
	return nil
}

// settleOp is one approval of a card purchase in a settle batch.
type settleOp struct {
	p      Payment // as the confirm holds it: IN_DOUBT
	o      Order
	truth  GatewayPayment
	source string
	call   *Call
	logCtx context.Context // the caller's, for the batch's lines about this approval
	res    ConfirmResult
	err    error
	// single: not settled by the batch; its caller settles it alone.
	single bool
	// answered: the batch wrote call's answer.
	answered bool
}

// settleApproved is settle for the PG's answer to a confirm, in a batch of
// the approvals arriving together when it approves a card purchase.
func (s *Service) settleApproved(ctx context.Context, p Payment, o Order, truth GatewayPayment, source string, call *Call) (ConfirmResult, error) {
	if p.Method != MethodCard || o.Kind != OrderPurchase || judge(p, o, truth).to != PaymentDone {
		return s.settle(ctx, p, o, truth, source, call)
	}
	ctx = context.WithoutCancel(ctx) // the PG has spoken: record it even if the client left
	op := &settleOp{p: p, o: o, truth: truth, source: source, call: call, logCtx: ctx}
	s.settles.do(ctx, s.cfg.Await, "settle batch", op, maxConfirmBatch, s.settleBatch,
		func(op *settleOp) { op.res, op.err, op.single = ConfirmResult{}, errBatchAbandoned, false })
	if op.single {
		return s.settle(ctx, p, o, truth, source, call)
	}
	return op.res, op.err
}

// settleBatch settles batch at once (settleAtOnce) or, when the database
// is no longer as its confirms hold it, in one transaction that reads
// their payments under their locks (settleBatchOf). Whatever the batch
// cannot settle, a failed write included, is settled alone: settle reads
// the payment again under its lock, so it finds what was committed and
// never applies an approval twice.
func (s *Service) settleBatch(ctx context.Context, batch []*settleOp) {
	seen := map[string]bool{} // payments and orders
	var todo []*settleOp
	for _, op := range batch {
		op.res, op.err, op.single, op.answered = ConfirmResult{}, nil, false, false
		if seen[op.p.ID] || seen[op.o.ID] {
			op.single = true // after the first, as one by one
			continue
		}
		seen[op.p.ID], seen[op.o.ID] = true, true
		todo = append(todo, op)
	}
	if len(todo) == 0 {
		return
	}
	done, err := s.settleAtOnce(ctx, todo)
	for !done && err == nil && len(todo) > 0 {
		if err = s.settleBatchOf(ctx, todo); errors.Is(err, errStepOut) {
			err = nil
			todo = slices.DeleteFunc(todo, func(op *settleOp) bool {
				if op.single {
					s.log.InfoContext(op.logCtx, "card settle steps out of its batch", "payment", op.p.ID, "order", op.o.ID)
				}
				return op.single
			})
			continue
		}
		done = err == nil
	}
	if err != nil {
		s.log.WarnContext(ctx, "settle batch failed; settling its payments one by one", "payments", len(todo), "err", err)
		for _, op := range todo {
			op.single = true
		}
		return
	}
	for _, op := range todo {
		if op.single {
			continue
		}
		if op.answered {
			op.call.recorded()
		}
		s.log.InfoContext(op.logCtx, "payment settled", "payment", op.p.ID, "order", op.o.ID, "status", op.res.Payment.Status, "source", op.source)
	}
}

// settleAtOnce writes todo's approvals from the payments as their confirms
// hold them, IN_DOUBT at the version their intent wrote, in one write of
// its own (Store.SettleCardPayments): one round trip on PostgreSQL, where
// settleBatchOf takes seven. It is false, with nothing written, when any
// of them moved meanwhile (a probe, a webhook or a cancel settled it, a
// key's claim was taken over); settleBatchOf then tells which.
func (s *Service) settleAtOnce(ctx context.Context, todo []*settleOp) (bool, error) {
	w := CardSettleWrite{Now: s.now().UTC()}
	for _, op := range todo {
		if op.p.Status != PaymentInDoubt || !canMoveOrder(OrderInDoubt, OrderPaid, op.source) {
			return false, nil
		}
		if ok, err := s.approve(&w, op, op.p); !ok || err != nil {
			return false, err
		}
	}
	done, err := s.store.SettleCardPayments(ctx, w)
	if !done || err != nil {
		return false, err
	}
	for _, op := range todo {
		op.answered = op.call != nil
	}
	return true, nil
}

// settleBatchOf reads todo's payments under their row locks in one
// statement, then writes their approvals as settleTx does one: the
// payments DONE with their events, the orders PAID, a ledger transaction
// each, and each confirm's idempotent answer, one statement apiece. A
// payment no longer IN_DOUBT is left to settle alone (nothing of it is
// written); an order that did not move steps out (the batch rolls back).
func (s *Service) settleBatchOf(ctx context.Context, todo []*settleOp) error {
	return s.store.InTx(ctx, func(q Queries) error {
		now := s.now().UTC()
		ids := make([]string, len(todo))
		for i, op := range todo {
			ids[i] = op.p.ID
		}
		locked, err := q.LockPayments(ctx, ids)
		if err != nil {
			return err
		}
		w := CardSettleWrite{Now: now}
		var going, answering []*settleOp
		for _, op := range todo {
			op.answered = false
			i := slices.IndexFunc(locked, func(p Payment) bool { return p.ID == op.p.ID })
			if i < 0 || locked[i].Status != PaymentInDoubt || !canMoveOrder(OrderInDoubt, OrderPaid, op.source) {
				s.log.InfoContext(op.logCtx, "card settle left to settle alone: its payment moved meanwhile", "payment", op.p.ID)
				op.single = true
				continue
			}
			ok, err := s.approve(&w, op, locked[i])
			if err != nil {
				return err
			}
			if !ok {
				op.single = true
				continue
			}
			going = append(going, op)
			if op.call != nil {
				answering = append(answering, op)
			}
		}
		if len(going) == 0 {
			return nil
		}
		written, err := q.UpdatePayments(ctx, w.Payments, now, w.Events)
		if err != nil {
			return err
		}
		if len(written) != len(w.Payments) {
			return fmt.Errorf("settle batch: %d of %d payments written: %w", len(written), len(w.Payments), ErrConflict) // read under their row locks: a bug
		}
		moved, err := q.TransitionOrders(ctx, w.Orders, OrderInDoubt, OrderPaid, now)
		if err != nil {
			return err
		}
		out := false
		for _, op := range going {
			if !slices.Contains(moved, op.o.ID) {
				op.single, out = true, true // moved meanwhile: settle alone finds out how
			}
		}
		if out {
			return errStepOut
		}
		if err := q.InsertLedgerTransactions(ctx, w.Ledger); err != nil {
			return fmt.Errorf("post ledger CARD_PAYMENT: %w", err)
		}
		// A key whose claim was taken over keeps its new owner's answer,
		// as tryComplete leaves it.
		done, err := q.CompleteIdempotencyKeys(ctx, w.Answers, now)
		if err != nil {
			return fmt.Errorf("complete idempotency keys: %w", err)
		}
		for _, i := range done {
			answering[i].answered = true
		}
		return nil
	})
}

// approve adds to w the approval of op's payment p, read IN_DOUBT: p DONE
// with its event, its order PAID, its ledger transaction and its confirm's
// answer, which it sets as op.res. It is false, adding nothing, when the
// PG's record does not approve p (settle alone decides what it does).
func (s *Service) approve(w *CardSettleWrite, op *settleOp, p Payment) (bool, error) {
	v := judge(p, op.o, op.truth)
	if v.to != PaymentDone || p.Method != MethodCard {
		return false, nil
	}
	now := w.Now
	p.ApprovedAt = cmp.Or(op.truth.ApprovedAt, &now)
	p.Status, p.UpdatedAt = PaymentDone, now
	e, err := newEvent(p, PaymentInDoubt, v.event, op.source, fmt.Sprintf("PG status %s", op.truth.Status), now)
	if err != nil {
		return false, err
	}
	amount := p.CardAmount()
	t := LedgerTransaction{ID: NewID("ltx", now), Kind: "CARD_PAYMENT", OrderID: op.o.ID,
		Description: "card payment " + p.PGPaymentKey, CreatedAt: now, Entries: []LedgerEntry{
			{ID: NewID("ent", now), AccountID: AccountIDPGClearing, Amount: -amount},
			{ID: NewID("ent", now), AccountID: AccountIDRevenue, Amount: amount},
		}}
	o := op.o
	o.Status, o.UpdatedAt = OrderPaid, now
	written := p
	written.Version++
	res := ConfirmResult{Order: o, Payment: written}
	if op.call != nil {
		raw, err := encodeResult(res)
		if err != nil {
			return false, err
		}
		a, err := op.call.completion(replayEnvelope{V: replayVersion, Result: raw})
		if err != nil {
			return false, err
		}
		w.Answers = append(w.Answers, a)
	}
	op.res = res
	w.Payments, w.Events, w.Orders, w.Ledger = append(w.Payments, p), append(w.Events, e), append(w.Orders, op.o.ID), append(w.Ledger, t)
	return true, nil
}

// confirmRead is what a confirm reads before it decides: its order, the
// payment its key is bound to, and the order's payments (a split waiting
// for its card).
type confirmRead struct {
	orderID, paymentKey string
	order               Order     // zero when there is none
	byKey               Payment   // zero when the key is bound to none
	payments            []Payment // the order's
	err                 error
}

// readForConfirm reads what a confirm of orderID with paymentKey decides
// on, in one batch of reads with the confirms arriving together: three
// statements per batch rather than three per confirm.
func (s *Service) readForConfirm(ctx context.Context, orderID, paymentKey string) confirmRead {
	op := &confirmRead{orderID: orderID, paymentKey: paymentKey}
	s.reads.do(ctx, s.cfg.Await, "read batch", op, maxConfirmBatch, s.confirmReadBatch,
		func(op *confirmRead) { op.err = errBatchAbandoned })
	return *op
}

func (s *Service) confirmReadBatch(ctx context.Context, batch []*confirmRead) {
	var orderIDs, keys []string
	for _, op := range batch {
		orderIDs, keys = append(orderIDs, op.orderID), append(keys, op.paymentKey)
	}
	slices.Sort(orderIDs)
	orderIDs = slices.Compact(orderIDs)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	orders, err := readByParent(ctx, s.store, orderIDs, BatchQueries.OrdersByIDs, func(ctx context.Context, id string) ([]Order, error) {
		o, err := s.store.Order(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return []Order{o}, err
	}, func(o Order) string { return o.ID })
	var byKey, ofOrder map[string][]Payment
	if err == nil {
		byKey, err = readByParent(ctx, s.store, keys, BatchQueries.PaymentsByPGKeys, func(ctx context.Context, key string) ([]Payment, error) {
			p, err := s.store.PaymentByPGKey(ctx, key)
			if errors.Is(err, ErrNotFound) {
				return nil, nil
			}
			return []Payment{p}, err
		}, func(p Payment) string { return p.PGPaymentKey })
	}
	if err == nil {
		ofOrder, err = readByParent(ctx, s.store, orderIDs, BatchQueries.PaymentsByOrders, s.store.PaymentsByOrder,
			func(p Payment) string { return p.OrderID })
	}
	err = timedOut(ctx, err)
	for _, op := range batch {
		*op = confirmRead{orderID: op.orderID, paymentKey: op.paymentKey, err: err}
		if err != nil {
			continue
		}
		if got := orders[op.orderID]; len(got) == 1 {
			op.order = got[0]
		}
		if got := byKey[op.paymentKey]; len(got) == 1 {
			op.byKey = got[0]
		}
		op.payments = ofOrder[op.orderID]
	}
}
