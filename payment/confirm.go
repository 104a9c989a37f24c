package payment

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
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

// Sources of payment transitions, recorded in the payment's history.
const (
	SourceRedirect = "redirect"
	SourceMutation = "mutation"
	SourceProbe    = "probe"
	SourceWebhook  = "webhook"
)

var paymentKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,200}$`)

// pgIdempotencyKey derives the Idempotency-Key every confirm of one card
// payment sends: from pago's own key, so a retry of the same request can
// never become a second charge.
func pgIdempotencyKey(userID, key string) string {
	h := sha256.Sum256([]byte("confirm\x00" + userID + "\x00" + key))
	return "pago-confirm-" + hex.EncodeToString(h[:])
}

// ConfirmPayment confirms the caller's order with the PG. The amount must
// be the order's (AMOUNT_MISMATCH otherwise, order untouched). Before the PG
// is called, the order and a new card payment move to IN_DOUBT and a probe
// job is queued in the same transaction, so a crash at any later point is
// settled from the PG's own record. Then:
//   - DONE: payment DONE, order PAID (a top-up credits the wallet), ledger posted;
//   - a decline: payment and order FAILED, stock returned, PAYMENT_DECLINED;
//   - PG unreachable (nothing sent): back to PENDING, PG_UNAVAILABLE;
//   - anything else: stays IN_DOUBT (PAYMENT_IN_DOUBT) for the probe to settle.
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
		o, err := s.store.Order(ctx, in.OrderID)
		if err != nil || o.UserID != u.ID {
			return ConfirmResult{}, errorf(CodeNotFound, "order not found")
		}
		if in.Amount != o.Amount.Amount {
			s.log.WarnContext(ctx, "confirm amount differs from the order: possible tampering; order untouched",
				"order", o.ID, "order_amount", o.Amount.Amount, "amount", in.Amount, "source", source)
			return ConfirmResult{}, errorf(CodeAmountMismatch, "amount %d differs from the order's %s", in.Amount, o.Amount)
		}
		// A confirm of a payment key pago already knows is a repeat: answer
		// with where that payment stands, unless the earlier attempt never
		// reached the PG (PENDING): then this is the retry it asked for.
		now := s.now().UTC()
		p, err := s.store.PaymentByPGKey(ctx, in.PaymentKey)
		retry := err == nil && p.Status == PaymentPending
		switch {
		case err == nil && p.OrderID != o.ID:
			return ConfirmResult{}, BadInput("paymentKey", "paymentKey belongs to another order")
		case err == nil && !retry && p.Status == PaymentInDoubt:
			// A customer asking again about a payment in doubt (a reload
			// after the first request's instance died, say): ask the PG
			// rather than wait for the probe. Read-only; settle decides.
			res := ConfirmResult{Order: o, Payment: p}
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
			defer cancel()
			if truth, lerr := s.lookUp(lctx, p); lerr == nil {
				if settled, serr := s.settle(ctx, p.ID, truth, source); serr == nil {
					res = settled
				}
			}
			return s.confirmAnswer(ctx, call, res)
		case err == nil && !retry:
			return s.confirmAnswer(ctx, call, ConfirmResult{Order: o, Payment: p})
		case err != nil && !errors.Is(err, ErrNotFound):
			return ConfirmResult{}, err
		case err != nil:
			p = Payment{ID: NewID("pay", now), OrderID: o.ID, Method: MethodCard, Status: PaymentPending, Amount: o.Amount,
				RefundedAmount: Money{0, o.Amount.Currency}, PGPaymentKey: in.PaymentKey,
				PGIdempotencyKey: pgIdempotencyKey(u.ID, key), CreatedAt: now, UpdatedAt: now}
		}
		if o.Status != OrderPending {
			return ConfirmResult{}, errorf(CodeInvalidState, "order %s is %s, not PENDING", o.ID, o.Status)
		}

		// Record the intent and the probe before the PG hears of it.
		err = s.store.InTx(ctx, func(q Queries) error {
			ok, err := q.TransitionOrder(ctx, o.ID, OrderPending, OrderInDoubt, now)
			if err != nil {
				return err
			}
			if !ok {
				return errorf(CodeInvalidState, "order %s is no longer PENDING", o.ID)
			}
			if retry {
				ok, err = q.TransitionPayment(ctx, p.ID, PaymentPending, PaymentInDoubt, nil, now)
				if err == nil && !ok {
					err = errorf(CodeRequestInProgress, "payment %s is being confirmed", p.ID)
				}
			} else {
				err = q.InsertPayment(ctx, Payment{ID: p.ID, OrderID: p.OrderID, Method: p.Method, Status: PaymentInDoubt,
					Amount: p.Amount, RefundedAmount: p.RefundedAmount, PGPaymentKey: p.PGPaymentKey,
					PGIdempotencyKey: p.PGIdempotencyKey, CreatedAt: now, UpdatedAt: now})
			}
			if err != nil {
				return fmt.Errorf("record payment: %w", err)
			}
			if err := s.event(ctx, q, p.ID, PaymentPending, PaymentInDoubt, source, "confirm sent to the PG"); err != nil {
				return err
			}
			return q.EnqueuePaymentProbe(ctx, p.ID, now.Add(s.cfg.ProbeDelay))
		})
		var de *Error
		if err != nil && !retry && !errors.As(err, &de) {
			// Another confirm of this payment key (under another
			// idempotency key) may have recorded its payment since the
			// look-up above: the unique key refused ours. That one's
			// outcome is the answer; have the client ask again.
			if _, perr := s.store.PaymentByPGKey(ctx, in.PaymentKey); perr == nil {
				return ConfirmResult{}, errorf(CodeRequestInProgress, "payment %s is being confirmed by another request; retry shortly", in.PaymentKey)
			}
		}
		if err != nil {
			return ConfirmResult{}, err
		}
		p.Status = PaymentInDoubt

		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
		defer cancel()
		truth, gerr := s.cfg.Gateway.Confirm(cctx, in.PaymentKey, o.ID, o.Amount.Amount, p.PGIdempotencyKey)
		res, err := s.applyConfirm(ctx, p, truth, gerr, source)
		if err != nil {
			return res, err
		}
		return s.confirmAnswer(ctx, call, res)
	})
}

// applyConfirm settles a payment from the answer to a confirm call.
func (s *Service) applyConfirm(ctx context.Context, p Payment, truth GatewayPayment, gerr error, source string) (ConfirmResult, error) {
	var declined *DeclinedError
	switch {
	case gerr == nil:
		return s.settle(ctx, p.ID, truth, source)
	case errors.As(gerr, &declined):
		return s.settle(ctx, p.ID, GatewayPayment{PaymentKey: p.PGPaymentKey, Status: GatewayAborted,
			FailureCode: declined.Code, FailureMessage: declined.Message}, source)
	case errors.Is(gerr, ErrGatewayUnavailable):
		// Never sent: nothing was charged. Give the order back to the customer.
		reverted, err := s.revertToPending(ctx, p, source, gerr)
		if err != nil {
			return ConfirmResult{}, err
		}
		if reverted {
			return ConfirmResult{}, ErrPGUnavailable
		}
		// Settled meanwhile, or the probe re-sent the confirm: where the
		// payment stands now is the answer.
		return s.settleReread(ctx, p.ID)
	case errors.Is(gerr, ErrGatewayAlreadyProcessed):
		look, err := s.lookUp(context.WithoutCancel(ctx), p)
		if err != nil {
			s.log.WarnContext(ctx, "look-up after ALREADY_PROCESSED failed; the probe will settle", "payment", p.ID, "err", err)
			return ConfirmResult{}, ErrPaymentInDoubt
		}
		return s.settle(ctx, p.ID, look, source)
	default:
		s.log.WarnContext(ctx, "confirm outcome unknown; payment stays IN_DOUBT for the probe", "payment", p.ID, "err", gerr)
		return ConfirmResult{}, ErrPaymentInDoubt
	}
}

// confirmAnswer turns where a payment stands into the mutation's answer and
// records it for the idempotency key when it is final.
func (s *Service) confirmAnswer(ctx context.Context, call *Call, res ConfirmResult) (ConfirmResult, error) {
	switch {
	case res.Order.Status == OrderFailed:
		evs, _ := s.store.PaymentEvents(ctx, res.Payment.ID)
		e := &Error{Code: CodePaymentDeclined, Message: "the payment was declined"}
		if len(evs) > 0 {
			last := evs[len(evs)-1]
			e.Message, e.PGCode = last.Detail, failureCode(last.Detail)
		}
		if e.PGCode == string(CodeBalanceLimitExceeded) {
			e.Code, e.PGCode = CodeBalanceLimitExceeded, ""
		}
		return ConfirmResult{}, e
	case res.Payment.Status == PaymentDone, res.Payment.Status == PaymentCanceled, res.Payment.Status == PaymentPartiallyCanceled:
		err := s.store.InTx(ctx, func(q Queries) error { return call.Complete(ctx, q, res) })
		return res, err
	default:
		return ConfirmResult{}, ErrPaymentInDoubt
	}
}

// failureCode pulls the PG code out of a FAILED event's detail ("CODE: message").
func failureCode(detail string) string {
	for i := 0; i < len(detail); i++ {
		if detail[i] == ':' {
			return detail[:i]
		}
	}
	return ""
}

// revertToPending undoes a confirm that never reached the PG: the payment
// and the order go back to PENDING, so the customer can confirm again (the
// same payment key, the same PG Idempotency-Key). It reports false, and
// changes nothing, when the payment was settled meanwhile or the probe has
// re-sent its confirm (markReconfirm): that one may have reached the PG, so
// the payment stays IN_DOUBT for the probe to settle.
func (s *Service) revertToPending(ctx context.Context, p Payment, source string, cause error) (bool, error) {
	err := s.store.InTx(context.WithoutCancel(ctx), func(q Queries) error {
		now := s.now().UTC()
		ok, err := q.TransitionPayment(ctx, p.ID, PaymentInDoubt, PaymentPending, nil, now)
		if err != nil {
			return err
		}
		if !ok {
			return errNotReverted // settled by someone else meanwhile: leave it
		}
		// The row is locked now, so a probe's mark is either committed and
		// seen here, or its own update waits and then finds PENDING.
		evs, err := q.PaymentEvents(ctx, p.ID)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if isReconfirmMark(e) {
				return errNotReverted
			}
		}
		if err := s.event(ctx, q, p.ID, PaymentInDoubt, PaymentPending, source, "PG_UNAVAILABLE: nothing was sent; "+cause.Error()); err != nil {
			return err
		}
		ok, err = q.TransitionOrder(ctx, p.OrderID, OrderInDoubt, OrderPending, now)
		if err != nil || !ok {
			return err
		}
		// The order's expiry job may have run while it was IN_DOUBT and
		// left it alone: schedule another, or it holds its stock for good.
		o, err := q.Order(ctx, p.OrderID)
		if err != nil {
			return err
		}
		return q.EnqueueOrderExpiry(ctx, o.ID, o.ExpiresAt)
	})
	if errors.Is(err, errNotReverted) {
		return false, nil
	}
	return err == nil, err
}

var errNotReverted = errors.New("payment not reverted")

// markReconfirm records, before the probe re-sends a payment's confirm, that
// a confirm may reach the PG from now on whatever became of the first one,
// so that a first one failing with PG_UNAVAILABLE afterwards does not give
// the order back while the PG charges it. It reports false when the payment
// is no longer IN_DOUBT.
func (s *Service) markReconfirm(ctx context.Context, p Payment) (bool, error) {
	var ok bool
	err := s.store.InTx(ctx, func(q Queries) error {
		var err error
		ok, err = q.TransitionPayment(ctx, p.ID, PaymentInDoubt, PaymentInDoubt, nil, s.now().UTC())
		if err != nil || !ok {
			return err
		}
		return s.event(ctx, q, p.ID, PaymentInDoubt, PaymentInDoubt, SourceProbe, reconfirmMark)
	})
	return ok, err
}

// Marks are IN_DOUBT → IN_DOUBT events: decisions recorded, under the
// payment's row lock, before pago acts on them at the PG.
const (
	reconfirmMark    = "the probe re-sends the confirm to the PG"
	refundMarkPrefix = "REFUND_DECIDED: "
)

func isReconfirmMark(e PaymentEvent) bool {
	return e.FromStatus == PaymentInDoubt && e.ToStatus == PaymentInDoubt && e.Source == SourceProbe && e.Detail == reconfirmMark
}

func isRefundMark(e PaymentEvent) bool {
	return e.FromStatus == PaymentInDoubt && e.ToStatus == PaymentInDoubt && strings.HasPrefix(e.Detail, refundMarkPrefix)
}

// refundDecided tells whether pago has decided to refund the payment
// (refundTopUp). Callers hold the payment's row lock.
func refundDecided(ctx context.Context, q Queries, paymentID string) (bool, error) {
	evs, err := q.PaymentEvents(ctx, paymentID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(evs, isRefundMark), nil
}

var (
	// errSettledMeanwhile: another source moved the payment or its order
	// first; re-read rather than retry.
	errSettledMeanwhile = errors.New("payment settled meanwhile")
	// errRefundDecided: a top-up's refund was decided; it must not be
	// credited any more, whatever the PG's answer in hand says.
	errRefundDecided = errors.New("top-up refund decided")
)

func (s *Service) event(ctx context.Context, q Queries, paymentID string, from, to PaymentStatus, source, detail string) error {
	now := s.now().UTC()
	if err := q.InsertPaymentEvent(ctx, PaymentEvent{ID: NewID("pev", now), PaymentID: paymentID, FromStatus: from,
		ToStatus: to, Source: source, Detail: detail, CreatedAt: now}); err != nil {
		return fmt.Errorf("payment event: %w", err)
	}
	return nil
}

// settle is the card payment state machine, the one place redirect,
// mutation, probe and webhook move a payment: truth is the PG's word.
// IN_DOUBT → DONE (order PAID, ledger, top-up credit) or FAILED (order
// FAILED, stock back). A transition already made is a no-op; one the
// machine does not allow (FAILED → DONE, say) is refused and logged loudly.
func (s *Service) settle(ctx context.Context, paymentID string, truth GatewayPayment, source string) (ConfirmResult, error) {
	ctx = context.WithoutCancel(ctx) // the PG has spoken: record it even if the client left
	p, err := s.store.Payment(ctx, paymentID)
	if err != nil {
		return ConfirmResult{}, err
	}
	o, err := s.store.Order(ctx, p.OrderID)
	if err != nil {
		return ConfirmResult{}, err
	}
	var target PaymentStatus
	switch truth.Status {
	case GatewayDone:
		if truth.TotalAmount != p.Amount.Amount || (truth.OrderID != "" && truth.OrderID != o.ID) {
			s.log.ErrorContext(ctx, "the PG approved a different amount or order; left IN_DOUBT for an operator",
				"payment", p.ID, "order", o.ID, "pg_order", truth.OrderID, "pg_amount", truth.TotalAmount, "amount", p.Amount.Amount)
			return ConfirmResult{Order: o, Payment: p}, nil
		}
		target = PaymentDone
	case GatewayAborted, GatewayExpired:
		target = PaymentFailed
	case GatewayCanceled, GatewayPartialCanceled:
		if p.Status == PaymentInDoubt {
			// Approved and canceled at the PG before pago heard of it: no
			// money is held. Close the order as failed.
			target = PaymentFailed
		} else {
			return ConfirmResult{Order: o, Payment: p}, nil // refunds move DONE payments, not this machine
		}
	default: // READY, IN_PROGRESS, WAITING_FOR_DEPOSIT: not decided yet
		return ConfirmResult{Order: o, Payment: p}, nil
	}
	if p.Status == target {
		return ConfirmResult{Order: o, Payment: p}, nil
	}
	if p.Status != PaymentInDoubt {
		s.log.ErrorContext(ctx, "illegal payment transition refused", "payment", p.ID, "from", p.Status, "to", target,
			"pg_status", truth.Status, "source", source)
		return ConfirmResult{Order: o, Payment: p}, errorf(CodeInvalidState, "payment %s is %s; %s cannot move it to %s", p.ID, p.Status, source, target)
	}

	apply := func() error {
		return s.store.InTx(ctx, func(q Queries) error {
			now := s.now().UTC()
			approved := truth.ApprovedAt
			if target == PaymentDone && approved == nil {
				approved = &now
			}
			ok, err := q.TransitionPayment(ctx, p.ID, PaymentInDoubt, target, approved, now)
			if err != nil {
				return err
			}
			if !ok {
				return errSettledMeanwhile
			}
			if target == PaymentDone && o.Kind == OrderWalletTopUp {
				// The row is locked now: a refund decided before this is
				// seen, and one decided after finds the payment DONE.
				if decided, err := refundDecided(ctx, q, p.ID); err != nil || decided {
					return cmp.Or(err, errRefundDecided)
				}
			}
			detail := "the PG approved the payment"
			if target == PaymentFailed {
				detail = truth.FailureCode + ": " + truth.FailureMessage
				if truth.FailureCode == "" {
					detail = string(truth.Status) + ": the PG did not approve the payment"
				}
			}
			if err := s.event(ctx, q, p.ID, PaymentInDoubt, target, source, detail); err != nil {
				return err
			}
			if target == PaymentFailed {
				if ok, err := q.TransitionOrder(ctx, o.ID, OrderInDoubt, OrderFailed, now); err != nil || !ok {
					return cmp.Or(err, errSettledMeanwhile)
				}
				for _, it := range o.Items {
					if err := q.ReturnStock(ctx, it.ProductID, it.Quantity, now); err != nil {
						return err
					}
				}
				return nil
			}
			if ok, err := q.TransitionOrder(ctx, o.ID, OrderInDoubt, OrderPaid, now); err != nil || !ok {
				return cmp.Or(err, errSettledMeanwhile)
			}
			if o.Kind == OrderWalletTopUp {
				_, err := s.CreditTopUp(ctx, q, o)
				return err
			}
			_, err = s.post(ctx, q, "CARD_PAYMENT", o.ID, "card payment "+p.PGPaymentKey, now,
				LedgerEntry{AccountID: AccountIDPGClearing, Amount: -o.Amount.Amount},
				LedgerEntry{AccountID: AccountIDRevenue, Amount: o.Amount.Amount})
			return err
		})
	}
	if target == PaymentDone && o.Kind == OrderWalletTopUp {
		err = s.LockWallet(ctx, o.UserID, apply)
	} else {
		err = apply()
	}
	if errors.Is(err, errSettledMeanwhile) || errors.Is(err, ErrConflict) {
		return s.settleReread(ctx, paymentID)
	}
	if (errors.Is(err, ErrBalanceLimitExceeded) || errors.Is(err, errRefundDecided)) && o.Kind == OrderWalletTopUp {
		// The PG took the money but the wallet cannot hold it (another
		// top-up landed meanwhile): give it back rather than keep it.
		return s.refundTopUp(ctx, p, o, source, err)
	}
	if err != nil {
		return ConfirmResult{}, fmt.Errorf("settle payment %s as %s: %w", p.ID, target, err)
	}
	s.log.InfoContext(ctx, "payment settled", "payment", p.ID, "order", o.ID, "status", target, "source", source)
	return s.settleReread(ctx, paymentID)
}

// refundTopUp cancels at the PG a top-up the PG approved but the wallet
// cannot take, then closes it: payment CANCELED, order FAILED, no ledger
// entries (no money stays with pago). The cancel's Idempotency-Key is
// derived from the payment, so the probe's retry after a crash between the
// PG's cancel and pago's write is the same cancel.
//
// The decision is recorded first (a mark, under the payment's row lock) and
// settle honours it: without it, a settle holding an earlier DONE answer
// could credit the top-up once the wallet had room again, after the PG had
// refunded the card, and the customer would have the money twice. Once
// decided, every later settle of the payment refunds too (the same cancel).
func (s *Service) refundTopUp(ctx context.Context, p Payment, o Order, source string, cause error) (ConfirmResult, error) {
	err := s.store.InTx(ctx, func(q Queries) error {
		ok, err := q.TransitionPayment(ctx, p.ID, PaymentInDoubt, PaymentInDoubt, nil, s.now().UTC())
		if err != nil || !ok {
			return cmp.Or(err, errSettledMeanwhile)
		}
		if decided, err := refundDecided(ctx, q, p.ID); err != nil || decided {
			return err
		}
		return s.event(ctx, q, p.ID, PaymentInDoubt, PaymentInDoubt, source, refundMarkPrefix+cause.Error())
	})
	if errors.Is(err, errSettledMeanwhile) {
		return s.settleReread(ctx, p.ID) // credited by another settle meanwhile: nothing to refund
	}
	if err != nil {
		return ConfirmResult{}, fmt.Errorf("decide refund of top-up %s: %w", p.ID, err)
	}
	reason := "wallet limit exceeded: top-up refunded"
	if _, err := s.cfg.Gateway.Cancel(ctx, p.PGPaymentKey, nil, reason, "pago-refund-"+p.ID); err != nil && !errors.Is(err, ErrGatewayAlreadyCanceled) {
		return ConfirmResult{}, fmt.Errorf("refund top-up %s: %w", p.ID, err)
	}
	err = s.store.InTx(ctx, func(q Queries) error {
		now := s.now().UTC()
		ok, err := q.TransitionPayment(ctx, p.ID, PaymentInDoubt, PaymentCanceled, nil, now)
		if err != nil || !ok {
			return cmp.Or(err, errSettledMeanwhile)
		}
		if err := s.event(ctx, q, p.ID, PaymentInDoubt, PaymentCanceled, source,
			string(CodeBalanceLimitExceeded)+": "+cause.Error()+"; refunded at the PG"); err != nil {
			return err
		}
		if ok, err := q.TransitionOrder(ctx, o.ID, OrderInDoubt, OrderFailed, now); err != nil || !ok {
			return cmp.Or(err, errSettledMeanwhile)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSettledMeanwhile) {
		return ConfirmResult{}, fmt.Errorf("close refunded top-up %s: %w", p.ID, err)
	}
	s.log.WarnContext(ctx, "top-up refunded: the wallet could not take it", "payment", p.ID, "order", o.ID)
	return s.settleReread(ctx, p.ID)
}

func (s *Service) settleReread(ctx context.Context, paymentID string) (ConfirmResult, error) {
	p, err := s.store.Payment(ctx, paymentID)
	if err != nil {
		return ConfirmResult{}, err
	}
	o, err := s.store.Order(ctx, p.OrderID)
	return ConfirmResult{Order: o, Payment: p}, err
}

// ProbePayment settles an IN_DOUBT card payment from the PG's record (the
// probe job). A payment the PG holds authenticated but unconfirmed is
// re-confirmed with the same Idempotency-Key: the same confirm, never a
// second one. An error makes River retry with backoff.
func (s *Service) ProbePayment(ctx context.Context, paymentID string) error {
	p, err := s.store.Payment(ctx, paymentID)
	if err != nil {
		return err
	}
	if p.Status != PaymentInDoubt {
		return nil
	}
	truth, err := s.lookUp(ctx, p)
	if errors.Is(err, ErrGatewayNotFound) {
		truth, err = GatewayPayment{PaymentKey: p.PGPaymentKey, Status: GatewayAborted, FailureCode: "NOT_FOUND_PAYMENT",
			FailureMessage: "the PG has no payment for this order"}, nil
	}
	if err != nil {
		return fmt.Errorf("probe %s: %w", p.ID, err)
	}
	if truth.PaymentKey != "" && truth.PaymentKey != p.PGPaymentKey {
		return fmt.Errorf("probe %s: the PG's payment for order %s is %s, not %s", p.ID, p.OrderID, truth.PaymentKey, p.PGPaymentKey)
	}
	if truth.Status == GatewayInProgress {
		marked, err := s.markReconfirm(ctx, p)
		if err != nil {
			return fmt.Errorf("probe %s: %w", p.ID, err)
		}
		if !marked {
			return nil // settled or given back meanwhile
		}
		truth, err = s.cfg.Gateway.Confirm(ctx, p.PGPaymentKey, p.OrderID, p.Amount.Amount, p.PGIdempotencyKey)
		var declined *DeclinedError
		if errors.As(err, &declined) {
			truth, err = GatewayPayment{Status: GatewayAborted, FailureCode: declined.Code, FailureMessage: declined.Message}, nil
		}
		if errors.Is(err, ErrGatewayAlreadyProcessed) {
			truth, err = s.lookUp(ctx, p)
		}
		if err != nil {
			return fmt.Errorf("probe %s re-confirm: %w", p.ID, err)
		}
	}
	res, err := s.settle(ctx, p.ID, truth, SourceProbe)
	if err != nil {
		return err
	}
	if res.Payment.Status == PaymentInDoubt {
		return fmt.Errorf("probe %s: the PG says %s; still in doubt", p.ID, truth.Status)
	}
	return nil
}

// lookUp asks the PG where p stands: by its order, and by p's own key when
// the order's answer is another payment window of the same order (the
// customer opened checkout twice), whose fate is not p's.
func (s *Service) lookUp(ctx context.Context, p Payment) (GatewayPayment, error) {
	truth, err := s.cfg.Gateway.PaymentByOrderID(ctx, p.OrderID)
	if err == nil && truth.PaymentKey != "" && truth.PaymentKey != p.PGPaymentKey {
		return s.cfg.Gateway.Payment(ctx, p.PGPaymentKey)
	}
	return truth, err
}

// AcceptWebhook queues a PG webhook about paymentKey, once per dedupeKey.
// Nothing in the body is trusted: the job re-fetches the payment.
func (s *Service) AcceptWebhook(ctx context.Context, dedupeKey, paymentKey string) error {
	if !paymentKeyPattern.MatchString(paymentKey) {
		return BadInput("paymentKey", "paymentKey is malformed")
	}
	return s.store.EnqueueWebhook(ctx, dedupeKey, paymentKey)
}

// SyncFromGateway re-fetches a payment from the PG and settles pago's from
// that record (the webhook job). A payment pago does not know is ignored.
func (s *Service) SyncFromGateway(ctx context.Context, paymentKey string) error {
	p, err := s.store.PaymentByPGKey(ctx, paymentKey)
	if errors.Is(err, ErrNotFound) {
		s.log.InfoContext(ctx, "webhook for a payment pago does not know; ignored", "payment_key", paymentKey)
		return nil
	}
	if err != nil {
		return err
	}
	truth, err := s.cfg.Gateway.Payment(ctx, paymentKey)
	if err != nil {
		return fmt.Errorf("re-fetch %s: %w", paymentKey, err)
	}
	_, err = s.settle(ctx, p.ID, truth, SourceWebhook)
	if errors.Is(err, ErrInvalidState) {
		return nil // logged by settle; retrying will not change the PG's mind
	}
	return err
}

// InDoubtPayments lists payments whose outcome pago does not know yet
// (operators only), newest first.
func (s *Service) InDoubtPayments(ctx context.Context, page Page) (Connection[Payment], error) {
	var out Connection[Payment]
	if _, err := requireAdmin(ctx); err != nil {
		return out, err
	}
	limit, err := pageLimit(page.First)
	if err != nil {
		return out, err
	}
	before, err := beforeID("pay", page.After)
	if err != nil {
		return out, err
	}
	items, err := s.store.PaymentsByStatus(ctx, PaymentInDoubt, before, limit+1)
	if err != nil {
		return out, err
	}
	return pageOf(items, limit, "pay", func(p Payment) string { return p.ID }), nil
}
