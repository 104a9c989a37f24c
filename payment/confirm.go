package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// ConfirmInput is what the PG's success redirect (or the SPA's widget)
// hands over: the PG's payment key, pago's order id and the amount paid.
type ConfirmInput struct {
	OrderID    string
	PaymentKey string
	Amount     int64
}

// ConfirmResult is the order and the card payment after a confirm.
type ConfirmResult struct {
	Order   Order
	Payment Payment
}

var paymentKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,200}$`)

// ConfirmPayment confirms the caller's order with the PG. The amount must
// be the order's (AMOUNT_MISMATCH otherwise, order untouched). Before the PG
// is called, the order and a new card payment move to IN_DOUBT and a probe
// job is queued in the same transaction, so a crash at any later point is
// settled from the PG's own record. Then:
//   - DONE: payment DONE, order PAID (a top-up credits the wallet), ledger posted;
//   - a decline: payment and order FAILED, stock returned, PAYMENT_DECLINED;
//   - PG unreachable (nothing sent): back to PENDING, PG_UNAVAILABLE;
//   - anything else: stays IN_DOUBT (PAYMENT_IN_DOUBT) for the probe to settle.
//
// The caller waits at most ConfirmWait for that outcome: past it the answer
// is PAYMENT_IN_DOUBT while the PG call goes on (up to ConfirmTimeout) and
// settles the payment by itself, so no customer stares at a frozen page.
func (s *Service) ConfirmPayment(ctx context.Context, key, source string, in ConfirmInput) (ConfirmResult, error) {
	u, err := caller(ctx)
	if err != nil {
		return ConfirmResult{}, err
	}
	if err := checkID("orderId", in.OrderID); err != nil {
		return ConfirmResult{}, err
	}
	if !paymentKeyPattern.MatchString(in.PaymentKey) {
		return ConfirmResult{}, BadInput("paymentKey", "paymentKey must be 1–200 letters, digits, '-' or '_'")
	}
	if in.Amount <= 0 {
		return ConfirmResult{}, BadInput("amount", "amount must be positive")
	}
	if s.cfg.Gateway == nil {
		return ConfirmResult{}, errors.New("confirm: no payment gateway configured")
	}
	return Run(ctx, s.idem, u.ID, key, "confirmPayment", in, func(ctx context.Context, call *Call) (ConfirmResult, error) {
		r := s.readForConfirm(ctx, in.OrderID, in.PaymentKey)
		if r.err != nil {
			return ConfirmResult{}, fmt.Errorf("read order %s for its confirm: %w", in.OrderID, r.err) // transient: not an answer
		}
		o := r.order
		if o.ID == "" || o.UserID != u.ID {
			return ConfirmResult{}, errorf(CodeNotFound, "order not found")
		}
		p, fresh := r.byKey, r.byKey.ID == ""
		if fresh {
			// A split started on this order: the card pays its card part.
			if i := slices.IndexFunc(r.payments, IsOpenSplit); i >= 0 {
				p, fresh = r.payments[i], false
				if p.PGPaymentKey == "" {
					p.PGPaymentKey = in.PaymentKey // bound in sendIntent
				}
			}
		}
		want := o.Amount
		if !fresh && p.Method == MethodSplit {
			want = Money{p.CardAmount(), o.Amount.Currency}
		}
		if in.Amount != want.Amount {
			s.log.WarnContext(ctx, "confirm amount differs from the order: possible tampering; order untouched",
				"order", o.ID, "order_amount", want.Amount, "amount", in.Amount, "source", source)
			return ConfirmResult{}, errorf(CodeAmountMismatch, "amount %d differs from the %s to pay by card", in.Amount, want)
		}
		switch {
		case fresh:
			now := s.now().UTC()
			p = Payment{ID: NewID("pay", now), OrderID: o.ID, Method: MethodCard, Status: PaymentPending, Amount: o.Amount,
				RefundedAmount: Money{0, o.Amount.Currency}, PGPaymentKey: in.PaymentKey,
				PGIdempotencyKey: confirmBaseKey(u.ID, key), CreatedAt: now, UpdatedAt: now}
		case p.OrderID != o.ID:
			return ConfirmResult{}, BadInput("paymentKey", "paymentKey belongs to another order")
		case p.PGPaymentKey != in.PaymentKey:
			return ConfirmResult{}, BadInput("paymentKey", "the split payment of this order is paid with another paymentKey")
		case p.Status == PaymentInDoubt:
			// Asked again about a payment in doubt (a reload after the
			// first request's instance died, say): ask the PG rather
			// than wait for the probe.
			return s.confirmAnswer(ctx, call, s.askPG(ctx, p, o, source))
		case p.Status != PaymentPending:
			return s.confirmAnswer(ctx, call, ConfirmResult{Order: o, Payment: p})
		}
		// A new payment, or one whose earlier confirm never reached the PG
		// (PENDING): this is the confirm.
		if o.Status != OrderPending {
			return ConfirmResult{}, errorf(CodeInvalidState, "order %s is %s, not PENDING", o.ID, o.Status)
		}
		var err error
		if fresh {
			err = s.recordIntent(ctx, &p, &o, source) // in a batch of the intents arriving together
		} else {
			err = s.sendIntent(ctx, &p, &o, false, source)
		}
		if err != nil {
			return ConfirmResult{}, err
		}
		return s.confirmAtPG(ctx, call, p, o, source)
	})
}

// sendIntent records, before the PG hears of it, that the confirm may
// reach the PG from now on: order and payment IN_DOUBT, and the probe that
// settles them whatever happens to this process.
func (s *Service) sendIntent(ctx context.Context, p *Payment, o *Order, fresh bool, source string) error {
	err := s.store.InTx(ctx, func(q Queries) error {
		now := s.now().UTC()
		ok, err := s.moveOrder(ctx, q, o, OrderInDoubt, source, now)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(CodeInvalidState, "order %s is no longer PENDING", o.ID)
		}
		cur := *p
		if !fresh {
			var err error
			if cur, err = q.LockPayment(ctx, p.ID); err != nil {
				return err
			}
			if cur.Status != PaymentPending {
				return errorf(CodeRequestInProgress, "payment %s is being confirmed", p.ID)
			}
		}
		if cur.PGPaymentKey == "" {
			cur.PGPaymentKey = p.PGPaymentKey // a split's card part: bound now
		}
		cur.ConfirmSentAt = &now
		if fresh {
			// Recorded IN_DOUBT from the start, with the event of its move
			// from PENDING: one write.
			cur.Status = PaymentInDoubt
			var e PaymentEvent
			if e, err = newEvent(cur, PaymentPending, EventConfirmSent, source, "", now); err == nil {
				err = q.InsertPayment(ctx, cur, e)
			}
		} else {
			err = s.movePayment(ctx, q, &cur, PaymentInDoubt, EventConfirmSent, source, "", now)
		}
		if errors.Is(err, ErrPaymentKeyTaken) {
			// Another confirm of this payment key, under another
			// idempotency key, recorded its payment first: its outcome
			// is the answer.
			return errorf(CodeRequestInProgress, "payment %s is being confirmed by another request; retry shortly", p.PGPaymentKey)
		}
		if err != nil {
			return err
		}
		*p = cur
		return q.EnqueuePaymentProbe(ctx, p.ID, now.Add(s.cfg.ProbeDelay))
	})
	return err
}

// confirmAtPG sends the confirm and settles from its answer. The PG call
// runs apart from the caller, which waits at most ConfirmWait: past it the
// caller hears PAYMENT_IN_DOUBT and the call settles the payment alone.
func (s *Service) confirmAtPG(ctx context.Context, call *Call, p Payment, o Order, source string) (ConfirmResult, error) {
	type outcome struct {
		res ConfirmResult
		err error
	}
	send := func() outcome {
		bg := context.WithoutCancel(ctx) // the PG may charge: see it through even if the client leaves
		cctx, cancel := context.WithTimeout(bg, s.cfg.ConfirmTimeout)
		defer cancel()
		// Until the answer is applied, the PG's webhook about this payment
		// adds nothing (AcceptWebhook).
		defer s.atPG.start(p.PGPaymentKey)()
		truth, gerr := s.cfg.Gateway.Confirm(cctx, p.PGPaymentKey, o.ID, p.CardAmount(), ConfirmKey(p))
		res, err := s.applyConfirm(bg, call, p, o, truth, gerr, source)
		return outcome{res, err}
	}
	answer := func(out outcome) (ConfirmResult, error) {
		if out.err != nil && !(errors.Is(out.err, ErrInvalidState) && out.res.Payment.ID != "") {
			return out.res, out.err
		}
		// Settled (or refused as a contradiction, logged by settle): where
		// the payment stands is the customer's answer.
		return s.confirmAnswer(ctx, call, out.res)
	}
	if s.cfg.ConfirmWait < 0 {
		return answer(send())
	}
	done := make(chan outcome, 1)
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		done <- send()
	}()
	wait := time.NewTimer(s.cfg.ConfirmWait)
	defer wait.Stop()
	select {
	case out := <-done:
		return answer(out)
	case <-wait.C:
		s.log.InfoContext(ctx, "confirm still at the PG; answering PAYMENT_IN_DOUBT", "payment", p.ID, "wait", s.cfg.ConfirmWait)
		return ConfirmResult{}, ErrPaymentInDoubt
	}
}

// applyConfirm settles a payment from the answer to a confirm call.
func (s *Service) applyConfirm(ctx context.Context, call *Call, p Payment, o Order, truth GatewayPayment, gerr error, source string) (ConfirmResult, error) {
	var declined *DeclinedError
	switch {
	case gerr == nil:
		return s.settleApproved(ctx, p, o, truth, source, call)
	case errors.As(gerr, &declined):
		return s.settleDecline(ctx, p, o, declined, source, call)
	case errors.Is(gerr, ErrGatewayUnavailable):
		// Never sent: nothing was charged. Give the order back to the customer.
		s.log.WarnContext(ctx, "confirm not sent: the PG is unavailable", "payment", p.ID, "err", gerr)
		reverted, err := s.revertToPending(ctx, p, o, source, gerr)
		if err != nil {
			return ConfirmResult{}, err
		}
		if reverted {
			return ConfirmResult{}, ErrPGUnavailable
		}
		// Settled meanwhile, or the probe re-sent the confirm: where the
		// payment stands now is the answer.
		return s.current(ctx, p.ID, o)
	case errors.Is(gerr, ErrGatewayRetryable):
		// Refused for now and stored under this key at the PG: the probe
		// looks the payment up and confirms again under the next attempt's
		// key once this attempt is certainly over.
		s.log.WarnContext(ctx, "confirm failed temporarily at the PG; the probe re-confirms under a new key", "payment", p.ID, "err", gerr)
		return ConfirmResult{}, ErrPaymentInDoubt
	case errors.Is(gerr, ErrGatewayAlreadyProcessed):
		look, err := s.lookUp(ctx, p)
		if err != nil {
			s.log.WarnContext(ctx, "look-up after ALREADY_PROCESSED failed; the probe will settle", "payment", p.ID, "err", err)
			return ConfirmResult{}, ErrPaymentInDoubt
		}
		return s.settle(ctx, p, o, look, source, call)
	default:
		s.log.WarnContext(ctx, "confirm outcome unknown; payment stays IN_DOUBT for the probe", "payment", p.ID, "err", gerr)
		return ConfirmResult{}, ErrPaymentInDoubt
	}
}

// settleDecline settles a confirm the PG refused. A refusal is evidence
// that the payment key is this order's only if the PG says so: a key typed
// into someone else's order (squatting) is declined too, and binding it
// here would lock its real owner out. So the PG's record is read; unless
// it names this order, the payment fails without keeping the key.
func (s *Service) settleDecline(ctx context.Context, p Payment, o Order, declined *DeclinedError, source string, call *Call) (ConfirmResult, error) {
	truth := GatewayPayment{PaymentKey: p.PGPaymentKey, OrderID: o.ID, Status: GatewayAborted,
		FailureCode: declined.Code, FailureMessage: declined.Message}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.ConfirmTimeout)
	defer cancel()
	look, err := s.cfg.Gateway.Payment(lctx, p.PGPaymentKey)
	if err != nil || look.OrderID != o.ID {
		s.log.WarnContext(ctx, "declined payment key not shown to be this order's; not kept", "payment", p.ID,
			"order", o.ID, "pg_order", look.OrderID, "err", err)
		truth.PaymentKey = "" // settle clears the binding
	}
	return s.settle(ctx, p, o, truth, source, call)
}

// askPG settles a payment in doubt from the PG's record now; where it
// stands is the answer (still IN_DOUBT when the PG cannot tell yet).
func (s *Service) askPG(ctx context.Context, p Payment, o Order, source string) ConfirmResult {
	res := ConfirmResult{Order: o, Payment: p}
	wait := s.cfg.ConfirmTimeout
	if w := s.cfg.ConfirmWait; w > 0 && w < wait {
		wait = w
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	truth, err := s.lookUp(lctx, p)
	if err != nil {
		return res
	}
	if settled, err := s.settle(ctx, p, o, truth, source, nil); err == nil {
		return settled
	}
	return res
}

// confirmAnswer turns where a payment stands into the mutation's answer and
// records it for the idempotency key when it is final (unless settle did,
// in its own transaction).
func (s *Service) confirmAnswer(ctx context.Context, call *Call, res ConfirmResult) (ConfirmResult, error) {
	switch {
	case res.Order.Status == OrderFailed:
		return ConfirmResult{}, failureError(res.Payment)
	case res.Payment.Status == PaymentDone, res.Payment.Status == PaymentCanceled, res.Payment.Status == PaymentPartiallyCanceled:
		if call.done {
			return res, nil
		}
		err := s.store.InTx(ctx, func(q Queries) error { return call.Complete(ctx, q, res) })
		if errors.Is(err, ErrRequestInProgress) {
			// The claim is gone: most often because a batch of ours wrote
			// this very answer and its word was lost (a timeout). The key's
			// stored answer, when it has one, is the answer.
			if stored, ok, err := storedAnswer[ConfirmResult](ctx, call); ok {
				return stored, err
			}
		}
		return res, err
	default:
		return ConfirmResult{}, ErrPaymentInDoubt
	}
}

// failureError is the answer for a payment that did not go through, from
// its failure columns: pago's own code where pago refused it (a top-up the
// wallet could not hold), the PG's otherwise.
func failureError(p Payment) *Error {
	msg := cmp.Or(p.FailureMessage, "the payment was declined")
	if p.FailureCode == string(CodeBalanceLimitExceeded) {
		return &Error{Code: CodeBalanceLimitExceeded, Message: msg}
	}
	return &Error{Code: CodePaymentDeclined, Message: msg, PGCode: p.FailureCode}
}

// revertToPending undoes a confirm that the PG did not perform: the payment
// and the order go back to PENDING, so the customer can confirm again (the
// same payment key, the next attempt's Idempotency-Key). It reports false, and
// changes nothing, when the payment was settled meanwhile or the probe has
// re-sent its confirm (ConfirmAttempt > 0): that one may have reached the
// PG, so the payment stays IN_DOUBT for the probe to settle.
func (s *Service) revertToPending(ctx context.Context, p Payment, o Order, source string, cause error) (bool, error) {
	reverted := false
	err := s.store.InTx(context.WithoutCancel(ctx), func(q Queries) error {
		now := s.now().UTC()
		cur, err := q.LockPayment(ctx, p.ID)
		if err != nil {
			return err
		}
		if cur.Status != PaymentInDoubt || cur.ConfirmAttempt != p.ConfirmAttempt {
			return nil // settled, or re-sent by the probe: leave it
		}
		// The next confirm goes under a new key: the PG may have stored an
		// answer under this one (a misconfiguration refusal is stored and
		// replayed per key), and that attempt is over.
		cur.ConfirmAttempt++
		cur.ConfirmSentAt = nil
		if err := s.movePayment(ctx, q, &cur, PaymentPending, EventNotSent, source, cause.Error(), now); err != nil {
			return err
		}
		o.Status = OrderInDoubt
		ok, err := s.moveOrder(ctx, q, &o, OrderPending, source, now)
		if err != nil || !ok {
			return err
		}
		reverted = true
		// The order's expiry job may have run while it was IN_DOUBT and
		// left it alone: schedule another, or it holds its stock for good.
		return q.EnqueueOrderExpiry(ctx, o.ID, o.ExpiresAt)
	})
	return reverted, err
}
