package payment

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// EventCode says what happened to a payment, as data: code decides on it,
// never on an event's words.
type EventCode string

// The events of a payment's history.
const (
	EventPaidFromWallet EventCode = "PAID_FROM_WALLET" // PENDING → DONE
	EventConfirmSent    EventCode = "CONFIRM_SENT"     // PENDING → IN_DOUBT: the confirm may reach the PG from now on
	EventNotSent        EventCode = "NOT_SENT"         // IN_DOUBT → PENDING: the PG was never reached
	EventReconfirmSent  EventCode = "RECONFIRM_SENT"   // IN_DOUBT → IN_DOUBT: the probe sends confirm attempt n
	EventRefundDecided  EventCode = "REFUND_DECIDED"   // IN_DOUBT → IN_DOUBT: a top-up goes back to the card
	EventApproved       EventCode = "APPROVED"         // IN_DOUBT → DONE
	EventDeclined       EventCode = "DECLINED"         // IN_DOUBT → FAILED
	EventTopUpRefunded  EventCode = "TOPUP_REFUNDED"   // IN_DOUBT → CANCELED
	EventCanceledAtPG   EventCode = "CANCELED_AT_PG"   // IN_DOUBT → CANCELED: approved, then canceled at the PG before pago heard
	// Reconciliation's fixes: a payment the PG settled that pago had not.
	EventFoundAtPG       EventCode = "FOUND_AT_PG"      // PENDING → IN_DOUBT
	EventExpiredRefunded EventCode = "EXPIRED_REFUNDED" // IN_DOUBT → CANCELED: the order had expired
	// A refund (cancelPayment) went back: DONE or PARTIALLY_CANCELED →
	// PARTIALLY_CANCELED while some of the payment is left, → CANCELED
	// once all of it went back.
	EventPartiallyRefunded EventCode = "PARTIALLY_REFUNDED"
	EventRefunded          EventCode = "REFUNDED"
	// A split payment's card never went through (its order was cancelled,
	// expired or paid from the wallet): PENDING → FAILED, hold released.
	EventHoldReleased EventCode = "HOLD_RELEASED"
)

// eventMessages are the customer's words for each event.
var eventMessages = map[EventCode]string{
	EventPaidFromWallet:    "Paid from the wallet.",
	EventConfirmSent:       "The payment was sent for approval.",
	EventNotSent:           "The payment gateway could not be reached; nothing was charged.",
	EventReconfirmSent:     "The payment is being checked with the payment gateway.",
	EventRefundDecided:     "The wallet cannot take this top-up; it is being refunded to the card.",
	EventApproved:          "The payment was approved.",
	EventDeclined:          "The payment was not approved.",
	EventTopUpRefunded:     "The wallet could not take the top-up; it was refunded to the card.",
	EventCanceledAtPG:      "The payment was canceled at the payment gateway; nothing was charged.",
	EventFoundAtPG:         "The payment gateway reported this payment; it is being settled.",
	EventExpiredRefunded:   "The order had expired before the payment arrived; it was refunded to the card.",
	EventPartiallyRefunded: "Part of the payment was refunded.",
	EventRefunded:          "The payment was refunded in full.",
	EventHoldReleased:      "The card part was not paid; the wallet part was given back.",
}

// Sources of transitions, recorded in the payment's history.
const (
	SourceWallet   = "wallet"
	SourceRedirect = "redirect"
	SourceMutation = "mutation"
	SourceProbe    = "probe"
	SourceWebhook  = "webhook"
	// SourceRefund carries out a recorded refund: the mutation that
	// recorded it, then the refund job.
	SourceRefund = "refund"
)

// refunders are the sources that settle a refund: the one carrying it out,
// and a webhook about the PG's cancel (re-fetched).
var refunders = []string{SourceRefund, SourceWebhook}

// confirmers are the sources that act on a confirm's answer or on the PG's
// record of it; all of them may settle a payment in doubt.
var confirmers = []string{SourceRedirect, SourceMutation, SourceProbe, SourceWebhook, SourceReconciliation}

type paymentMove struct {
	from, to PaymentStatus
	event    EventCode
}

// paymentMoves is the payment state machine: every transition any path may
// make, the event it records, and who may cause it. movePayment refuses
// anything else.
var paymentMoves = map[paymentMove][]string{
	{PaymentPending, PaymentDone, EventPaidFromWallet}:      {SourceWallet},
	{PaymentPending, PaymentInDoubt, EventConfirmSent}:      {SourceRedirect, SourceMutation},
	{PaymentInDoubt, PaymentPending, EventNotSent}:          {SourceRedirect, SourceMutation},
	{PaymentInDoubt, PaymentInDoubt, EventReconfirmSent}:    {SourceProbe},
	{PaymentInDoubt, PaymentInDoubt, EventRefundDecided}:    confirmers,
	{PaymentInDoubt, PaymentDone, EventApproved}:            confirmers,
	{PaymentInDoubt, PaymentFailed, EventDeclined}:          confirmers,
	{PaymentInDoubt, PaymentCanceled, EventTopUpRefunded}:   confirmers,
	{PaymentInDoubt, PaymentCanceled, EventCanceledAtPG}:    confirmers,
	{PaymentPending, PaymentInDoubt, EventFoundAtPG}:        {SourceReconciliation},
	{PaymentInDoubt, PaymentCanceled, EventExpiredRefunded}: {SourceReconciliation},

	{PaymentPending, PaymentFailed, EventHoldReleased}: {SourceCustomer, SourceExpiry, SourceWallet},

	{PaymentDone, PaymentPartiallyCanceled, EventPartiallyRefunded}:              refunders,
	{PaymentDone, PaymentCanceled, EventRefunded}:                                refunders,
	{PaymentPartiallyCanceled, PaymentPartiallyCanceled, EventPartiallyRefunded}: refunders,
	{PaymentPartiallyCanceled, PaymentCanceled, EventRefunded}:                   refunders,
}

// orderMoves is the order state machine and who may cause each move.
var orderMoves = map[[2]OrderStatus][]string{
	{OrderPending, OrderInDoubt}: {SourceRedirect, SourceMutation, SourceReconciliation},
	{OrderInDoubt, OrderPending}: {SourceRedirect, SourceMutation},
	{OrderInDoubt, OrderPaid}:    confirmers,
	{OrderInDoubt, OrderFailed}:  confirmers,
	{OrderPending, OrderPaid}:    {SourceWallet},
	// A split's hold is placed under the order's row lock, conditional on
	// the order still PENDING: an expiry or cancel either sees the split
	// and releases its hold, or comes first and the split is refused.
	{OrderPending, OrderPending}:  {SourceWallet},
	{OrderPending, OrderCanceled}: {SourceCustomer},
	{OrderPending, OrderExpired}:  {SourceExpiry},

	{OrderPaid, OrderPartiallyRefunded}:              refunders,
	{OrderPaid, OrderRefunded}:                       refunders,
	{OrderPartiallyRefunded, OrderPartiallyRefunded}: refunders,
	{OrderPartiallyRefunded, OrderRefunded}:          refunders,
}

// Sources of order moves that no payment makes.
const (
	SourceCustomer = "customer"
	SourceExpiry   = "expiry"
)

// refundOrder counts a DONE refund of amount on o and moves it to to
// (PARTIALLY_REFUNDED or REFUNDED), conditional on the database still
// holding o.Status; false when the order moved on meanwhile.
func (s *Service) refundOrder(ctx context.Context, q Queries, o *Order, to OrderStatus, amount int64, source string, now time.Time) (bool, error) {
	if !canMoveOrder(o.Status, to, source) {
		s.log.ErrorContext(ctx, "illegal order transition refused", "order", o.ID, "from", o.Status, "to", to, "source", source)
		return false, illegalMove("order", o.ID, o.Status, to, source)
	}
	ok, err := q.RefundOrder(ctx, o.ID, o.Status, to, amount, now)
	if err != nil {
		return false, fmt.Errorf("refund order %s: %w", o.ID, err)
	}
	if ok {
		o.Status, o.UpdatedAt = to, now
		o.RefundedAmount.Amount += amount
	}
	return ok, nil
}

// canMovePayment tells whether source may move a payment from → to with event.
func canMovePayment(from, to PaymentStatus, event EventCode, source string) bool {
	return slices.Contains(paymentMoves[paymentMove{from, to, event}], source)
}

// canMoveOrder tells whether source may move an order from → to.
func canMoveOrder(from, to OrderStatus, source string) bool {
	return slices.Contains(orderMoves[[2]OrderStatus{from, to}], source)
}

// illegalMove is a transition the state machine does not allow: a bug or
// a PG record that contradicts pago's, never applied.
func illegalMove(what, id string, from, to any, source string) error {
	return errorf(CodeInvalidState, "%s %s is %s; %s cannot move it to %s", what, id, from, source, to)
}

// movePayment is the one way a payment changes state: p was read under its
// row lock (LockPayment) in q's transaction and change has been applied to
// a copy by the caller; movePayment checks the move against the machine and
// writes the payment (fenced by its version) with its event. detail is
// internal text for operators.
func (s *Service) movePayment(ctx context.Context, q Queries, p *Payment, to PaymentStatus, event EventCode, source, detail string, now time.Time) error {
	from := p.Status
	if !canMovePayment(from, to, event, source) {
		s.log.ErrorContext(ctx, "illegal payment transition refused", "payment", p.ID, "from", from, "to", to, "event", event, "source", source)
		return illegalMove("payment", p.ID, from, to, source)
	}
	p.Status, p.UpdatedAt = to, now
	e, err := newEvent(*p, from, event, source, detail, now)
	if err != nil {
		return err
	}
	ok, err := q.UpdatePayment(ctx, *p, now, e)
	if err != nil {
		return fmt.Errorf("write payment %s: %w", p.ID, err)
	}
	if !ok {
		return fmt.Errorf("payment %s: %w", p.ID, ErrConflict) // read without its row lock: a bug
	}
	p.Version++
	return nil
}

// newEvent is the history entry of p's move from → p.Status, checked
// against the machine; a batch of wallet payments writes them together.
func newEvent(p Payment, from PaymentStatus, event EventCode, source, detail string, now time.Time) (PaymentEvent, error) {
	if !canMovePayment(from, p.Status, event, source) {
		return PaymentEvent{}, illegalMove("payment", p.ID, from, p.Status, source)
	}
	msg := eventMessages[event]
	if p.Status == PaymentFailed && p.FailureMessage != "" {
		msg = p.FailureMessage
	}
	return PaymentEvent{ID: NewID("pev", now), PaymentID: p.ID, FromStatus: from, ToStatus: p.Status,
		Source: source, Code: event, Message: msg, Detail: detail, CreatedAt: now}, nil
}

// moveOrder moves o from its status to to, conditional on the database
// still holding o.Status; false when the order moved on meanwhile.
func (s *Service) moveOrder(ctx context.Context, q Queries, o *Order, to OrderStatus, source string, now time.Time) (bool, error) {
	if !canMoveOrder(o.Status, to, source) {
		s.log.ErrorContext(ctx, "illegal order transition refused", "order", o.ID, "from", o.Status, "to", to, "source", source)
		return false, illegalMove("order", o.ID, o.Status, to, source)
	}
	var ok bool
	var err error
	if to == OrderExpired {
		ok, err = q.ExpireOrder(ctx, o.ID, now)
	} else {
		ok, err = q.TransitionOrder(ctx, o.ID, o.Status, to, now)
	}
	if err != nil {
		return false, fmt.Errorf("move order %s to %s: %w", o.ID, to, err)
	}
	if ok {
		o.Status, o.UpdatedAt = to, now
	}
	return ok, nil
}
