package payment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// RefundStatus is where a refund is.
type RefundStatus string

// Refund statuses (docs/api.md).
const (
	RefundPending RefundStatus = "PENDING"  // recorded; being carried out
	RefundInDoubt RefundStatus = "IN_DOUBT" // the PG did not answer its cancel; settled from the PG's record
	RefundDone    RefundStatus = "DONE"     // the money went back
	RefundFailed  RefundStatus = "FAILED"   // the PG refused; nothing moved
)

// Refund gives back all or part of a payment. Its amount is reserved from
// the payment when it is recorded, so refunds in flight can never add up
// to more than was paid.
type Refund struct {
	ID        string
	PaymentID string
	OrderID   string
	Method    PaymentMethod // WALLET or CARD: where the money goes back
	Amount    Money
	Status    RefundStatus
	Reason    string
	// RequestedBy is the user who asked: the order's owner or an operator.
	RequestedBy string
	// Attempt is the generation of the last cancel sent to the PG (card);
	// each has its own Idempotency-Key (RefundKey).
	Attempt int64
	// SentAt is when attempt Attempt was sent; nil when none may have
	// reached the PG. While it is set the refund's fate is the PG's record.
	SentAt *time.Time
	// PGTransactionKey is the PG's cancel this refund settled on (card).
	PGTransactionKey string
	// LedgerTransactionID is the refund's ledger posting, once DONE.
	LedgerTransactionID string
	// FailureCode is the PG's code for a FAILED refund.
	FailureCode string
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
}

// Open tells whether the refund still has to be carried out or settled.
func (r Refund) Open() bool { return r.Status == RefundPending || r.Status == RefundInDoubt }

// CancelPaymentInput asks for a refund of a paid order: Amount nil is the
// rest of what is refundable.
type CancelPaymentInput struct {
	OrderID string
	Amount  *int64
	Reason  string
}

// CancelPaymentResult is the refund and what it belongs to, as they stand.
type CancelPaymentResult struct {
	Order   Order
	Payment Payment
	Refund  Refund
}

var (
	// errRefundBusy: another refund of the same card payment is at the PG;
	// cancels of one payment go one at a time, so each cancel in the PG's
	// record can be told apart (see settleRefunds).
	errRefundBusy = errors.New("another refund of this payment is at the PG")
	// errRefundUnsettled: the PG's answer is not known yet; retry later.
	errRefundUnsettled = errors.New("refund not settled yet")
)

// CancelPayment refunds all or part of a paid purchase: its owner may
// refund their own order, an operator any. The refund is recorded, with
// the amount it reserves, and its job queued in one transaction under the
// payment's row lock: over the refundable rest is REFUND_EXCEEDS_PAYMENT
// and nothing is recorded. It is then carried out at once, and by the job
// should this process stop: a wallet payment is credited back to the
// wallet, a card payment is cancelled at the PG. The caller waits at most
// RefundWait; past it the answer is the refund PENDING, which orderUpdated
// carries on to DONE. A card cancel whose answer was lost is
// REFUND_IN_DOUBT until the job settles it from the PG's record.
func (s *Service) CancelPayment(ctx context.Context, key string, in CancelPaymentInput) (CancelPaymentResult, error) {
	u, err := caller(ctx)
	if err != nil {
		return CancelPaymentResult{}, err
	}
	if err := checkID("orderId", in.OrderID); err != nil {
		return CancelPaymentResult{}, err
	}
	if in.Amount != nil && *in.Amount <= 0 {
		return CancelPaymentResult{}, BadInput("amount", "amount must be positive; omit it to refund the rest")
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Reason == "" || utf8.RuneCountInString(in.Reason) > 200 {
		return CancelPaymentResult{}, BadInput("reason", "reason must be 1–200 characters")
	}
	fresh := false
	var others []string
	res, err := Run(ctx, s.idem, u.ID, key, "cancelPayment", in, func(ctx context.Context, call *Call) (CancelPaymentResult, error) {
		res, more, err := s.recordRefund(ctx, call, u, in)
		fresh, others = err == nil, more
		return res, err
	})
	if err != nil {
		return CancelPaymentResult{}, err
	}
	if fresh {
		s.carryOut(ctx, append([]string{res.Refund.ID}, others...))
	}
	return s.refundAnswer(ctx, res.Refund.ID)
}

// recordRefund reserves the refund's amount and queues its job. A split's
// refund across both parts is two refunds: the answer carries the card's,
// others lists the rest.
func (s *Service) recordRefund(ctx context.Context, call *Call, u User, in CancelPaymentInput) (res CancelPaymentResult, others []string, err error) {
	o, err := s.ownOrder(ctx, s.store, u, in.OrderID)
	if err != nil {
		return res, nil, err
	}
	if o.Kind != OrderPurchase {
		return res, nil, errorf(CodeInvalidState, "a %s order is in the wallet; only purchases are refunded", o.Kind)
	}
	switch o.Status {
	case OrderPaid, OrderPartiallyRefunded, OrderRefunded:
	default:
		return res, nil, errorf(CodeInvalidState, "order %s is %s; only a paid order is refunded", o.ID, o.Status)
	}
	ps, err := s.store.PaymentsByOrder(ctx, o.ID)
	if err != nil {
		return res, nil, err
	}
	var p Payment
	for _, c := range ps {
		if c.Status == PaymentDone || c.Status == PaymentPartiallyCanceled || c.Status == PaymentCanceled {
			p = c
		}
	}
	switch {
	case p.ID == "":
		return res, nil, fmt.Errorf("paid order %s has no completed payment", o.ID)
	case p.Method != MethodWallet && s.cfg.Gateway == nil:
		return res, nil, errors.New("refund: no payment gateway configured")
	}
	err = s.store.InTx(ctx, func(q Queries) error {
		res, others = CancelPaymentResult{}, nil // a retry after a lost race starts again
		lp, err := q.LockPayment(ctx, p.ID)
		if err != nil {
			return err
		}
		refunds, err := q.RefundsByPayment(ctx, p.ID)
		if err != nil {
			return err
		}
		// What each part can still give back: a refund reserves its
		// amount until it FAILED.
		left := map[PaymentMethod]int64{MethodCard: lp.CardAmount(), MethodWallet: lp.WalletAmount.Amount}
		if lp.Method == MethodWallet {
			left = map[PaymentMethod]int64{MethodWallet: lp.Amount.Amount}
		}
		for _, r := range refunds {
			if r.Status != RefundFailed {
				left[r.Method] -= r.Amount.Amount
			}
		}
		rest := left[MethodCard] + left[MethodWallet]
		amount := rest
		if in.Amount != nil {
			amount = *in.Amount
		}
		cur := lp.Amount.Currency
		if rest <= 0 || amount > rest {
			return errorf(CodeRefundExceedsPayment, "%s of this payment can still be refunded; %s was asked",
				Money{max(rest, 0), cur}, Money{amount, cur})
		}
		// A split gives back its card part first, then its wallet part;
		// a refund across both is one refund per part.
		cardPart := min(amount, max(left[MethodCard], 0))
		parts := []struct {
			method PaymentMethod
			amount int64
		}{{MethodCard, cardPart}, {MethodWallet, amount - cardPart}}
		now := s.now().UTC()
		for _, part := range parts {
			if part.amount <= 0 {
				continue
			}
			r := Refund{ID: NewID("rfd", now), PaymentID: lp.ID, OrderID: o.ID, Method: part.method, Amount: Money{part.amount, cur},
				Status: RefundPending, Reason: in.Reason, RequestedBy: u.ID, CreatedAt: now, UpdatedAt: now}
			if err := q.InsertRefund(ctx, r); err != nil {
				return fmt.Errorf("record refund: %w", err)
			}
			if err := q.EnqueueRefund(ctx, r.ID, now.Add(s.cfg.ProbeDelay)); err != nil {
				return err
			}
			if res.Refund.ID == "" {
				res = CancelPaymentResult{Order: o, Payment: lp, Refund: r}
			} else {
				others = append(others, r.ID)
			}
		}
		return call.Complete(ctx, q, res)
	})
	return res, others, err
}

// carryOut starts refunds just recorded and waits for them at most
// RefundWait; past that the work goes on apart from the caller.
func (s *Service) carryOut(ctx context.Context, refundIDs []string) {
	run := func() {
		bg := context.WithoutCancel(ctx) // money may move: see it through even if the client leaves
		for _, id := range refundIDs {
			if err := s.ExecuteRefund(bg, id); err != nil {
				s.log.InfoContext(bg, "refund not finished at once; its job carries on", "refund", id, "err", err)
			}
		}
	}
	if s.cfg.RefundWait < 0 {
		run() // in the caller's goroutine (the simulation's scheduler owns them all)
		return
	}
	done := make(chan struct{})
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		defer close(done)
		run()
	}()
	wait := time.NewTimer(s.cfg.RefundWait)
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C:
	case <-ctx.Done():
	}
}

// refundAnswer is where a refund and its payment and order stand now.
func (s *Service) refundAnswer(ctx context.Context, refundID string) (CancelPaymentResult, error) {
	r, err := s.store.Refund(ctx, refundID)
	if err != nil {
		return CancelPaymentResult{}, err
	}
	if r.Status == RefundInDoubt {
		return CancelPaymentResult{}, ErrRefundInDoubt
	}
	p, err := s.store.Payment(ctx, r.PaymentID)
	if err != nil {
		return CancelPaymentResult{}, err
	}
	o, err := s.store.Order(ctx, r.OrderID)
	if err != nil {
		return CancelPaymentResult{}, err
	}
	return CancelPaymentResult{Order: o, Payment: p, Refund: r}, nil
}

// ExecuteRefund carries out a recorded refund (the refund job, and the
// mutation at once). It is safe to run any number of times, concurrently:
// every step is decided under the payment's row lock. An error makes the
// job retry with backoff.
func (s *Service) ExecuteRefund(ctx context.Context, refundID string) error {
	r, err := s.store.Refund(ctx, refundID)
	if err != nil {
		return err
	}
	if !r.Open() {
		return nil
	}
	switch r.Method {
	case MethodWallet:
		err = s.refundToWallet(ctx, r)
	case MethodCard:
		err = s.refundToCard(ctx, r)
	default:
		err = fmt.Errorf("refund %s: no way to refund a %s payment", r.ID, r.Method)
	}
	if err != nil {
		return err
	}
	// Whatever path ended here, the job is done only with the refund: a
	// concurrent attempt (the mutation's) may have given its cancel back
	// as unsent while this one looked. Found by the simulation.
	if r, err = s.store.Refund(ctx, refundID); err == nil && r.Open() {
		err = fmt.Errorf("refund %s still %s: %w", r.ID, r.Status, errRefundUnsettled)
	}
	return err
}

// refundToWallet credits the refund back to the order owner's wallet,
// with its ledger entries (refunds → wallet), and completes it, in one
// transaction. The credit may pass the wallet's ceiling: the ceiling
// limits what a customer charges, and refusing money owed is no answer.
func (s *Service) refundToWallet(ctx context.Context, r Refund) error {
	o, err := s.store.Order(ctx, r.OrderID)
	if err != nil {
		return err
	}
	return s.lockWallet(ctx, o.UserID, func() error {
		return s.store.InTx(ctx, func(q Queries) error {
			p, err := q.LockPayment(ctx, r.PaymentID)
			if err != nil {
				return err
			}
			cur, err := q.Refund(ctx, r.ID)
			if err != nil {
				return err
			}
			if !cur.Open() {
				return nil
			}
			w, err := q.WalletByUser(ctx, o.UserID)
			if err != nil {
				return err
			}
			_, wtx, err := s.moveWalletTx(ctx, q, walletMove{
				walletID: w.ID, amount: cur.Amount.Amount, typ: WalletRefund, orderID: o.ID, reason: cur.Reason,
				counter: AccountIDRefunds, ledgerKind: "WALLET_REFUND", desc: "refund " + cur.ID + " to the wallet", pastLimit: true,
			})
			if err != nil {
				return err
			}
			cur.LedgerTransactionID = wtx.LedgerTransactionID
			return s.completeRefund(ctx, q, &p, &cur, "credited to wallet "+w.ID, SourceRefund, s.now().UTC())
		})
	})
}

// completeRefund records refund r (open, read under payment p's row lock)
// as DONE: the payment's refunded amount and status, the order's, and the
// stock of a purchase refunded in full. r.LedgerTransactionID is set.
func (s *Service) completeRefund(ctx context.Context, q Queries, p *Payment, r *Refund, detail, source string, now time.Time) error {
	r.Status, r.CompletedAt = RefundDone, &now
	ok, err := q.UpdateRefund(ctx, *r, now)
	if err != nil {
		return fmt.Errorf("write refund %s: %w", r.ID, err)
	}
	if !ok {
		return fmt.Errorf("refund %s: %w", r.ID, ErrConflict)
	}
	r.Version++
	amount := r.Amount.Amount
	p.RefundedAmount.Amount += amount
	if p.RefundedAmount.Amount > p.Amount.Amount {
		return fmt.Errorf("refund %s would refund payment %s beyond its amount", r.ID, p.ID)
	}
	to, event := PaymentPartiallyCanceled, EventPartiallyRefunded
	if p.RefundedAmount.Amount == p.Amount.Amount {
		to, event = PaymentCanceled, EventRefunded
	}
	if err := s.movePayment(ctx, q, p, to, event, source, fmt.Sprintf("refund %s of %s: %s", r.ID, r.Amount, detail), now); err != nil {
		return err
	}
	o, err := q.Order(ctx, r.OrderID)
	if err != nil {
		return err
	}
	orderTo := OrderPartiallyRefunded
	if o.RefundedAmount.Amount+amount == o.Amount.Amount {
		orderTo = OrderRefunded
	}
	ok, err = s.refundOrder(ctx, q, &o, orderTo, amount, source, now)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("order %s moved during refund %s: %w", o.ID, r.ID, ErrConflict)
	}
	if orderTo == OrderRefunded {
		// Refunded in full: the goods are back on sale.
		for _, it := range o.Items {
			if err := q.ReturnStock(ctx, it.ProductID, it.Quantity, now); err != nil {
				return fmt.Errorf("return stock of %s: %w", it.ProductID, err)
			}
		}
	}
	return nil
}

// refundToCard cancels the refund's amount at the PG and settles from the
// answer. Only one cancel of a payment is at the PG at a time; one that was
// sent before (a crash, a lost answer) is settled from the PG's record
// first, and sent again under the next attempt's key only once the record
// shows it never arrived and it can no longer be in flight.
func (s *Service) refundToCard(ctx context.Context, r Refund) error {
	for range 3 {
		cur, p, send, err := s.claimSend(ctx, r.ID)
		if err != nil || !cur.Open() {
			return err
		}
		if send {
			return s.sendCancel(ctx, cur, p)
		}
		again, err := s.lookUpRefund(ctx, cur, p, SourceRefund)
		if err != nil || !again {
			return err
		}
	}
	return fmt.Errorf("refund %s: %w", r.ID, errRefundUnsettled)
}

// claimSend decides, under the payment's row lock, whether this caller
// sends the refund's next cancel (send) or must first settle one that may
// have reached the PG (SentAt set). It records the attempt before anything
// is sent, so a crash cannot lose which key was used last.
func (s *Service) claimSend(ctx context.Context, refundID string) (r Refund, p Payment, send bool, err error) {
	err = s.store.InTx(ctx, func(q Queries) error {
		var err error
		if r, err = q.Refund(ctx, refundID); err != nil {
			return err
		}
		if p, err = q.LockPayment(ctx, r.PaymentID); err != nil {
			return err
		}
		if r, err = q.Refund(ctx, refundID); err != nil { // again, under the lock
			return err
		}
		if !r.Open() || r.SentAt != nil {
			return nil
		}
		others, err := q.RefundsByPayment(ctx, r.PaymentID)
		if err != nil {
			return err
		}
		for _, o := range others {
			if o.ID != r.ID && o.Open() && o.SentAt != nil {
				return fmt.Errorf("refund %s waits for %s: %w", r.ID, o.ID, errRefundBusy)
			}
		}
		now := s.now().UTC()
		r.Attempt++
		r.SentAt = &now
		if err := s.writeRefund(ctx, q, &r, now); err != nil {
			return err
		}
		send = true
		return nil
	})
	return r, p, send, err
}

// writeRefund writes r, read under its payment's row lock.
func (s *Service) writeRefund(ctx context.Context, q Queries, r *Refund, now time.Time) error {
	ok, err := q.UpdateRefund(ctx, *r, now)
	if err != nil {
		return fmt.Errorf("write refund %s: %w", r.ID, err)
	}
	if !ok {
		return fmt.Errorf("refund %s: %w", r.ID, ErrConflict)
	}
	r.Version++
	r.UpdatedAt = now
	return nil
}

// sendCancel sends attempt r.Attempt of r's cancel and settles from the answer.
func (s *Service) sendCancel(ctx context.Context, r Refund, p Payment) error {
	// The attempt ends ConfirmTimeout after it was recorded as sent, not
	// after this call starts: lookUpRefund counts on that bound.
	deadline := s.now().Add(s.cfg.ConfirmTimeout)
	if r.SentAt != nil {
		deadline = r.SentAt.Add(s.cfg.ConfirmTimeout)
	}
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	amount := r.Amount.Amount
	truth, gerr := s.cfg.Gateway.Cancel(cctx, p.PGPaymentKey, &amount, r.Reason, RefundKey(r))
	var declined *DeclinedError
	switch {
	case gerr == nil:
		if err := s.settleRefunds(ctx, p.ID, truth, SourceRefund); err != nil {
			return err
		}
	case errors.Is(gerr, ErrGatewayAlreadyCanceled):
		// Refused: the PG holds nothing more of this payment. If the
		// cancel that emptied it was this refund's (an earlier answer
		// lost), the record settles it; otherwise nothing is left to give
		// back (a cancel made outside pago, for an operator to reconcile).
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
		defer cancel()
		truth, err := s.cfg.Gateway.Payment(lctx, p.PGPaymentKey)
		if err != nil {
			return fmt.Errorf("look up refund %s: %w", r.ID, err)
		}
		if err := s.settleRefunds(ctx, p.ID, truth, SourceRefund); err != nil {
			return err
		}
		s.log.WarnContext(ctx, "the PG has nothing left to refund", "refund", r.ID, "payment", p.ID)
		return s.closeAttempt(ctx, r, func(cur *Refund, now time.Time) bool {
			cur.Status, cur.FailureCode, cur.CompletedAt = RefundFailed, "ALREADY_CANCELED_PAYMENT", &now
			return true
		})
	case errors.As(gerr, &declined):
		s.log.WarnContext(ctx, "the PG refused a refund", "refund", r.ID, "code", declined.Code, "message", declined.Message)
		return s.closeAttempt(ctx, r, func(cur *Refund, now time.Time) bool {
			cur.Status, cur.FailureCode, cur.CompletedAt = RefundFailed, declined.Code, &now
			return true
		})
	case errors.Is(gerr, ErrGatewayUnavailable):
		// Never sent: the next try sends the next attempt.
		if err := s.closeAttempt(ctx, r, func(cur *Refund, _ time.Time) bool {
			cur.SentAt, cur.Status = nil, RefundPending
			return true
		}); err != nil {
			return err
		}
		return fmt.Errorf("refund %s: %w", r.ID, gerr)
	default:
		s.log.WarnContext(ctx, "refund outcome unknown; settled from the PG's record", "refund", r.ID, "err", gerr)
	}
	return s.unlessSettled(ctx, r)
}

// unlessSettled marks r IN_DOUBT if it is still open after its cancel was
// sent, and tells the job to come back.
func (s *Service) unlessSettled(ctx context.Context, r Refund) error {
	open := false
	err := s.closeAttempt(ctx, r, func(cur *Refund, _ time.Time) bool {
		open = true
		changed := cur.Status != RefundInDoubt
		cur.Status = RefundInDoubt
		return changed
	})
	if err != nil {
		return err
	}
	if open {
		return fmt.Errorf("refund %s: %w", r.ID, errRefundUnsettled)
	}
	return nil
}

// closeAttempt applies change to r under its payment's row lock if r is
// still open and at the attempt sent; anything else settled it meanwhile.
// change reports whether it changed anything to write.
func (s *Service) closeAttempt(ctx context.Context, r Refund, change func(cur *Refund, now time.Time) bool) error {
	return s.store.InTx(context.WithoutCancel(ctx), func(q Queries) error {
		if _, err := q.LockPayment(ctx, r.PaymentID); err != nil {
			return err
		}
		cur, err := q.Refund(ctx, r.ID)
		if err != nil {
			return err
		}
		if !cur.Open() || cur.Attempt != r.Attempt || cur.SentAt == nil {
			return nil
		}
		now := s.now().UTC()
		if !change(&cur, now) {
			return nil
		}
		return s.writeRefund(ctx, q, &cur, now)
	})
}

// attemptMargin is how long past its deadline a cancel attempt may still
// be taking effect at the PG (its own processing, the clocks of two
// instances): a quarter of the deadline, 5 s by default. A partial cancel
// sent twice under two keys refunds twice.
func (s *Service) attemptMargin() time.Duration { return s.cfg.ConfirmTimeout / 4 }

// lookUpRefund settles r, whose cancel may have reached the PG, from the
// PG's record. again tells the caller to send the next attempt: the record
// has no such cancel and the last attempt can no longer be in flight.
func (s *Service) lookUpRefund(ctx context.Context, r Refund, p Payment, source string) (again bool, err error) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
	defer cancel()
	// The record shows the PG as of the look-up's start, not its answer:
	// an attempt is over only if it was over before the look-up began.
	asOf := s.now()
	truth, err := s.cfg.Gateway.Payment(lctx, p.PGPaymentKey)
	if err != nil {
		return false, fmt.Errorf("look up refund %s: %w", r.ID, err)
	}
	if err := s.settleRefunds(ctx, p.ID, truth, source); err != nil {
		return false, err
	}
	cur, err := s.store.Refund(ctx, r.ID)
	if err != nil || !cur.Open() {
		return false, err
	}
	if cur.SentAt == nil {
		return true, nil // given back meanwhile: send
	}
	if asOf.Before(cur.SentAt.Add(s.cfg.ConfirmTimeout + s.attemptMargin())) {
		return false, s.unlessSettled(ctx, cur)
	}
	// The PG has no cancel for it and attempt n is over: it never
	// happened. The next try sends attempt n+1.
	err = s.closeAttempt(ctx, cur, func(c *Refund, _ time.Time) bool {
		c.SentAt, c.Status = nil, RefundPending
		return true
	})
	return err == nil, err
}

// settleRefunds converges pago's refunds of a card payment on the PG's
// record truth (a cancel's answer, a look-up, a webhook's re-fetch), under
// the payment's row lock. Each cancel in truth.Cancels belongs to at most
// one refund: those already settled are known by their transaction key;
// since one cancel of a payment is at the PG at a time, a single new
// cancel of the amount of the one refund sent is that refund's. Anything
// else (a cancel made outside pago) is logged for an operator, never
// guessed at.
func (s *Service) settleRefunds(ctx context.Context, paymentID string, truth GatewayPayment, source string) error {
	ctx = context.WithoutCancel(ctx) // the PG has spoken: record it
	return s.store.InTx(ctx, func(q Queries) error {
		p, err := q.LockPayment(ctx, paymentID)
		if err != nil {
			return err
		}
		if p.Method == MethodWallet || p.PGPaymentKey == "" || (truth.PaymentKey != "" && truth.PaymentKey != p.PGPaymentKey) {
			return nil
		}
		refunds, err := q.RefundsByPayment(ctx, paymentID)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		var sent []Refund
		for _, r := range refunds {
			if r.PGTransactionKey != "" {
				known[r.PGTransactionKey] = true
			}
			if r.Open() && r.SentAt != nil {
				sent = append(sent, r)
			}
		}
		var unknown []GatewayCancel
		for _, c := range truth.Cancels {
			if !known[c.TransactionKey] && (c.Status == "" || c.Status == "DONE") {
				unknown = append(unknown, c)
			}
		}
		switch {
		case len(unknown) == 0:
			return nil
		case len(sent) != 1 || len(unknown) != 1 || unknown[0].Amount != sent[0].Amount.Amount:
			s.log.ErrorContext(ctx, "cancels at the PG do not match pago's refunds; an operator must look", "payment", paymentID,
				"unmatched_cancels", len(unknown), "refunds_sent", len(sent), "source", source)
			return nil
		}
		r, c := sent[0], unknown[0]
		now := s.now().UTC()
		ltx, err := s.post(ctx, q, "CARD_REFUND", r.OrderID, "card refund "+r.ID+" ("+c.TransactionKey+")", now,
			LedgerEntry{AccountID: AccountIDPGClearing, Amount: r.Amount.Amount},
			LedgerEntry{AccountID: AccountIDRefunds, Amount: -r.Amount.Amount})
		if err != nil {
			return err
		}
		r.PGTransactionKey, r.LedgerTransactionID = c.TransactionKey, ltx
		if err := s.completeRefund(ctx, q, &p, &r, "cancelled at the PG as "+c.TransactionKey, source, now); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "refund settled", "refund", r.ID, "payment", paymentID, "amount", r.Amount.Amount, "source", source)
		return nil
	})
}

// PaymentRefunds lists a payment's refunds; the caller already saw the payment.
func (s *Service) PaymentRefunds(ctx context.Context, paymentID string) ([]Refund, error) {
	return s.store.RefundsByPayment(ctx, paymentID)
}

// openRefunds tells whether any payment of order o has a refund in flight.
func (s *Service) openRefunds(ctx context.Context, orderID string) (bool, error) {
	ps, err := s.store.PaymentsByOrder(ctx, orderID)
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		rs, err := s.store.RefundsByPayment(ctx, p.ID)
		if err != nil {
			return false, err
		}
		for _, r := range rs {
			if r.Open() {
				return true, nil
			}
		}
	}
	return false, nil
}
