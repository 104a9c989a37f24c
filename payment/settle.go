package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

var (
	// errSettledMeanwhile: another source moved the payment or its order
	// first; re-read rather than retry.
	errSettledMeanwhile = errors.New("payment settled meanwhile")
	// errRefundDecided: a top-up's refund was decided; it must not be
	// credited any more, whatever the PG's answer in hand says.
	errRefundDecided = errors.New("top-up refund decided")
)

// verdict is what the PG's record means for a payment in doubt.
type verdict struct {
	to    PaymentStatus // "" while the PG has not decided
	event EventCode
	why   string // why there is no verdict, for the log
}

// judge reads the PG's record of p (a payment of o) as a verdict. Only a
// definite record moves a payment: DONE for this order and amount, or a
// payment the PG closed without money held (ABORTED, EXPIRED, CANCELED).
func judge(p Payment, o Order, truth GatewayPayment) verdict {
	switch truth.Status {
	case GatewayDone:
		if truth.TotalAmount != p.CardAmount() || (truth.OrderID != "" && truth.OrderID != o.ID) {
			return verdict{why: "the PG approved a different amount or order"}
		}
		return verdict{to: PaymentDone, event: EventApproved}
	case GatewayAborted, GatewayExpired:
		return verdict{to: PaymentFailed, event: EventDeclined}
	case GatewayCanceled:
		// Approved and canceled in full at the PG before pago heard of it
		// (pago's own refund of a top-up the wallet could not hold, say): no
		// money is held. CANCELED, as the PG's record and its settlement
		// (a sale and its cancel) say; the order failed. A DONE payment is
		// the refunds' business.
		switch {
		case p.Status != PaymentInDoubt:
			return verdict{why: "canceled at the PG: refunds move DONE payments"}
		case p.RefundDecidedAt != nil:
			return verdict{to: PaymentCanceled, event: EventTopUpRefunded}
		default:
			return verdict{to: PaymentCanceled, event: EventCanceledAtPG}
		}
	case GatewayPartialCanceled:
		// Part of the money is still captured: neither paid as recorded nor
		// failed. An operator (or reconciliation) must look.
		return verdict{why: "partially canceled at the PG"}
	default: // READY, IN_PROGRESS, WAITING_FOR_DEPOSIT: not decided yet
		return verdict{why: "not decided at the PG: " + string(truth.Status)}
	}
}

// settle is the card payment state machine's one entry for the PG's word,
// used by redirect, mutation, probe and webhook: it moves the payment in
// doubt (and its order o) to what truth says, in one transaction that reads
// the payment under its row lock. IN_DOUBT → DONE (order PAID, ledger,
// top-up credit) or FAILED (order FAILED, stock back). A transition already
// made is a no-op; one the machine does not allow (FAILED → DONE, say) is
// refused and logged loudly. A non-nil call records a DONE payment as its
// idempotent answer in the same transaction.
//
// p0 is the payment as its caller read it: it names the payment and says
// its method (a split's settle holds the wallet's lock); its state is read
// again under the row lock.
func (s *Service) settle(ctx context.Context, p0 Payment, o Order, truth GatewayPayment, source string, call *Call) (ConfirmResult, error) {
	ctx = context.WithoutCancel(ctx) // the PG has spoken: record it even if the client left
	paymentID := p0.ID
	var res ConfirmResult
	var v verdict
	apply := func() error {
		return s.store.InTx(ctx, func(q Queries) error {
			p, err := q.LockPayment(ctx, paymentID)
			if err != nil {
				return err
			}
			v = judge(p, o, truth)
			if v.to == "" || p.Status == v.to {
				return errSettledMeanwhile // nothing to do: report where it stands
			}
			if p.Status == PaymentCanceled && p.RefundDecidedAt != nil && v.to == PaymentDone {
				return errSettledMeanwhile // a DONE read before pago refunded the top-up: stale, not a contradiction
			}
			if p.Status != PaymentInDoubt {
				s.log.ErrorContext(ctx, "illegal payment transition refused: the PG's record contradicts pago's", "payment", p.ID,
					"from", p.Status, "to", v.to, "pg_status", truth.Status, "source", source)
				return illegalMove("payment", p.ID, p.Status, v.to, source)
			}
			if v.to == PaymentDone && o.Kind == OrderWalletTopUp && p.RefundDecidedAt != nil {
				return errRefundDecided
			}
			res, err = s.settleTx(ctx, q, p, o, v, truth, source)
			if err != nil {
				return err
			}
			if call != nil && res.Payment.Status == PaymentDone {
				return call.tryComplete(ctx, q, res)
			}
			return nil
		})
	}
	var err error
	if v0 := judge(Payment{Status: PaymentInDoubt, Amount: o.Amount}, o, truth); (v0.to == PaymentDone && o.Kind == OrderWalletTopUp) ||
		p0.Method == MethodSplit { // a split's hold is released to the wallet on a decline
		err = s.lockWallet(ctx, o.UserID, apply)
	} else {
		err = apply()
	}
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "payment settled", "payment", paymentID, "order", o.ID, "status", res.Payment.Status, "source", source)
		return res, nil
	case errors.Is(err, errSettledMeanwhile):
		if v.to == "" && v.why != "" {
			s.log.InfoContext(ctx, "payment not settled", "payment", paymentID, "why", v.why, "source", source)
		}
		return s.current(ctx, paymentID, o)
	case errors.Is(err, ErrInvalidState):
		cur, rerr := s.current(ctx, paymentID, o)
		return cur, cmp.Or(rerr, err)
	case o.Kind == OrderWalletTopUp && (errors.Is(err, ErrBalanceLimitExceeded) || errors.Is(err, errRefundDecided)):
		// The PG took the money but the wallet cannot hold it (another
		// top-up landed meanwhile): give it back rather than keep it.
		return s.refundTopUp(ctx, paymentID, o, source, err)
	default:
		return ConfirmResult{}, fmt.Errorf("settle payment %s: %w", paymentID, err)
	}
}

// settleTx applies verdict v to p (locked, IN_DOUBT) and its order o in q.
func (s *Service) settleTx(ctx context.Context, q Queries, p Payment, o Order, v verdict, truth GatewayPayment, source string) (ConfirmResult, error) {
	now := s.now().UTC()
	detail := fmt.Sprintf("PG status %s", truth.Status)
	switch v.to {
	case PaymentDone:
		p.ApprovedAt = cmp.Or(truth.ApprovedAt, &now)
	case PaymentCanceled:
		p.FailureCode = cmp.Or(p.FailureCode, truth.FailureCode, string(truth.Status))
		p.FailureMessage = cmp.Or(p.FailureMessage, customerText(truth.FailureMessage), "the payment was canceled at the payment gateway")
	case PaymentFailed:
		p.FailureCode = cmp.Or(truth.FailureCode, string(truth.Status))
		p.FailureMessage = cmp.Or(customerText(truth.FailureMessage), "the payment was not approved")
		detail += ": " + truth.FailureCode + " " + truth.FailureMessage
		if truth.PaymentKey == "" {
			// Not shown to be this order's (settleDecline): free the key
			// for the order it belongs to.
			detail += "; payment key " + p.PGPaymentKey + " released"
			p.PGPaymentKey = ""
		}
	}
	if err := s.movePayment(ctx, q, &p, v.to, v.event, source, detail, now); err != nil {
		return ConfirmResult{}, err
	}
	o.Status = OrderInDoubt
	orderTo := OrderPaid
	if v.to != PaymentDone {
		orderTo = OrderFailed
	}
	if ok, err := s.moveOrder(ctx, q, &o, orderTo, source, now); err != nil || !ok {
		return ConfirmResult{}, cmp.Or(err, errSettledMeanwhile)
	}
	switch {
	case v.to != PaymentDone:
		for _, it := range o.Items {
			if err := q.ReturnStock(ctx, it.ProductID, it.Quantity, now); err != nil {
				return ConfirmResult{}, fmt.Errorf("return stock of %s: %w", it.ProductID, err)
			}
		}
		if p.Method == MethodSplit {
			if err := s.releaseHolds(ctx, q, o.ID, p.ID, now); err != nil {
				return ConfirmResult{}, err
			}
		}
	case o.Kind == OrderWalletTopUp:
		if _, err := s.creditTopUp(ctx, q, o); err != nil {
			return ConfirmResult{}, err
		}
	default:
		if _, err := s.post(ctx, q, "CARD_PAYMENT", o.ID, "card payment "+p.PGPaymentKey, now,
			LedgerEntry{AccountID: AccountIDPGClearing, Amount: -p.CardAmount()},
			LedgerEntry{AccountID: AccountIDRevenue, Amount: p.CardAmount()}); err != nil {
			return ConfirmResult{}, err
		}
		if p.Method == MethodSplit {
			// The card went through: the wallet part is final, in the
			// same transaction, so no crash can leave it half-paid.
			if err := s.postHold(ctx, q, p, now); err != nil {
				return ConfirmResult{}, err
			}
		}
	}
	return ConfirmResult{Order: o, Payment: p}, nil
}

// customerText bounds a PG's decline message for the customer's eyes: the
// PG writes these for payers, but they arrive from outside.
func customerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200])
	}
	return strings.TrimSpace(s)
}

// refundTopUp cancels at the PG a top-up the PG approved but the wallet
// cannot take, then closes it: payment CANCELED, order FAILED, no ledger
// entries (no money stays with pago). The cancel's Idempotency-Key is
// derived from the payment, so the probe's retry after a crash between the
// PG's cancel and pago's write is the same cancel.
//
// The decision is recorded first (RefundDecidedAt, under the payment's row
// lock) and settle honours it: without it, a settle holding an earlier DONE
// answer could credit the top-up once the wallet had room again, after the
// PG had refunded the card, and the customer would have the money twice.
func (s *Service) refundTopUp(ctx context.Context, paymentID string, o Order, source string, cause error) (ConfirmResult, error) {
	var p Payment
	err := s.store.InTx(ctx, func(q Queries) error {
		var err error
		if p, err = q.LockPayment(ctx, paymentID); err != nil {
			return err
		}
		if p.Status != PaymentInDoubt {
			return errSettledMeanwhile // credited or closed by another settle meanwhile
		}
		if p.RefundDecidedAt != nil {
			return nil // decided before: carry it out
		}
		now := s.now().UTC()
		p.RefundDecidedAt = &now
		p.FailureCode = string(CodeBalanceLimitExceeded)
		p.FailureMessage = "the wallet cannot hold this top-up; it is refunded to the card"
		return s.movePayment(ctx, q, &p, PaymentInDoubt, EventRefundDecided, source, cause.Error(), now)
	})
	if errors.Is(err, errSettledMeanwhile) {
		return s.current(ctx, paymentID, o)
	}
	if err != nil {
		return ConfirmResult{}, fmt.Errorf("decide refund of top-up %s: %w", paymentID, err)
	}
	if err := s.cancelInFull(ctx, p, "wallet limit exceeded: top-up refunded"); err != nil {
		// Decided and recorded: the probe carries it out.
		s.log.WarnContext(ctx, "top-up refund at the PG failed; the probe retries", "payment", p.ID, "err", err)
		return ConfirmResult{}, ErrPaymentInDoubt
	}
	err = s.store.InTx(ctx, func(q Queries) error {
		now := s.now().UTC()
		cur, err := q.LockPayment(ctx, paymentID)
		if err != nil {
			return err
		}
		if cur.Status != PaymentInDoubt {
			return nil
		}
		if err := s.movePayment(ctx, q, &cur, PaymentCanceled, EventTopUpRefunded, source, "refunded at the PG", now); err != nil {
			return err
		}
		o.Status = OrderInDoubt
		_, err = s.moveOrder(ctx, q, &o, OrderFailed, source, now)
		return err
	})
	if err != nil {
		return ConfirmResult{}, fmt.Errorf("close refunded top-up %s: %w", paymentID, err)
	}
	s.log.WarnContext(ctx, "top-up refunded: the wallet could not take it", "payment", paymentID, "order", o.ID)
	return s.current(ctx, paymentID, o)
}

// cancelInFull cancels all of p at the PG. A full cancel is idempotent at
// the PG by the payment itself (a second one is ALREADY_CANCELED_PAYMENT),
// so after an answer the PG stores under its key (PROVIDER_ERROR, say) it
// is retried under the next derived key; a crash restarts from the first
// key, whose stored answer leads to the next one again.
func (s *Service) cancelInFull(ctx context.Context, p Payment, reason string) error {
	var err error
	for attempt := range 3 {
		_, err = s.cfg.Gateway.Cancel(ctx, p.PGPaymentKey, nil, reason, topUpRefundKey(p, attempt))
		if err == nil || errors.Is(err, ErrGatewayAlreadyCanceled) {
			return nil
		}
		if !errors.Is(err, ErrGatewayRetryable) {
			return err
		}
	}
	return err
}

// current is where a payment and its order o stand now. It reads the order
// only when the payment has left IN_DOUBT, since only then has the order moved.
func (s *Service) current(ctx context.Context, paymentID string, o Order) (ConfirmResult, error) {
	p, err := s.store.Payment(ctx, paymentID)
	if err != nil {
		return ConfirmResult{}, err
	}
	if p.Status != PaymentInDoubt || o.Status != OrderInDoubt {
		if o, err = s.store.Order(ctx, p.OrderID); err != nil {
			return ConfirmResult{}, err
		}
	}
	return ConfirmResult{Order: o, Payment: p}, nil
}
