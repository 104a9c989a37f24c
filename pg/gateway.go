package pg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pago/pago/payment"
)

// Gateway adapts Client to payment.Gateway: Toss's types become payment's,
// and errors are classified as classify documents.
type Gateway struct{ Client *Client }

var _ payment.Gateway = Gateway{}

// CodeVirtualAccountNotSupported is the decline code of a confirm that
// issued a virtual account: pago takes payments that settle at confirm
// (cards, easy pay), and cancels the account before anything is deposited.
const CodeVirtualAccountNotSupported = "VIRTUAL_ACCOUNT_NOT_SUPPORTED"

// Confirm implements payment.Gateway. A confirm that issues a virtual
// account (WAITING_FOR_DEPOSIT: the widget offered one although pago is
// card-only) is cancelled at once — nothing has been deposited, so nothing
// is refunded — and answered as a decline the customer can read. If that
// cancel does not succeed, the outcome is unknown and the payment is left
// for a look-up.
func (g Gateway) Confirm(ctx context.Context, paymentKey, orderID string, amount int64, idemKey string) (payment.GatewayPayment, error) {
	p, err := g.Client.Confirm(ctx, ConfirmRequest{PaymentKey: paymentKey, OrderID: orderID, Amount: amount}, idemKey)
	if err == nil && p.Status == StatusWaitingForDeposit {
		return g.refuseVirtualAccount(ctx, p, idemKey)
	}
	return toGatewayPayment(p, err)
}

func (g Gateway) refuseVirtualAccount(ctx context.Context, p *Payment, idemKey string) (payment.GatewayPayment, error) {
	g.Client.log.Warn("confirm issued a virtual account, which pago does not take; cancelling it before any deposit. "+
		"Offer cards only in the payment widget's variant in the Toss developer center",
		"payment_key", p.PaymentKey, "order", p.OrderID)
	c, err := g.Client.Cancel(ctx, p.PaymentKey,
		CancelRequest{CancelReason: "pago accepts card payments only"}, IdempotencyKey("refuse-virtual-account", idemKey))
	if err == nil && c.Status == StatusCanceled || IsAlreadyCanceled(err) {
		return payment.GatewayPayment{}, &payment.DeclinedError{Code: CodeVirtualAccountNotSupported,
			Message: "가상계좌 결제는 지원하지 않습니다. 카드로 결제해 주세요. · Virtual accounts are not accepted; please pay by card."}
	}
	if err == nil {
		err = fmt.Errorf("cancel of virtual account %s left it %s", p.PaymentKey, c.Status)
	}
	return payment.GatewayPayment{}, fmt.Errorf("%w: refusing a virtual account: %w", payment.ErrGatewayUnknownOutcome, err)
}

// Payment implements payment.Gateway.
func (g Gateway) Payment(ctx context.Context, paymentKey string) (payment.GatewayPayment, error) {
	return toGatewayPayment(g.Client.GetPayment(ctx, paymentKey))
}

// PaymentByOrderID implements payment.Gateway.
func (g Gateway) PaymentByOrderID(ctx context.Context, orderID string) (payment.GatewayPayment, error) {
	return toGatewayPayment(g.Client.GetPaymentByOrderID(ctx, orderID))
}

// Cancel implements payment.Gateway.
func (g Gateway) Cancel(ctx context.Context, paymentKey string, amount *int64, reason, idemKey string) (payment.GatewayPayment, error) {
	return toGatewayPayment(g.Client.Cancel(ctx, paymentKey, CancelRequest{CancelReason: reason, CancelAmount: amount}, idemKey))
}

func toGatewayPayment(p *Payment, err error) (payment.GatewayPayment, error) {
	if err != nil {
		return payment.GatewayPayment{}, classify(err)
	}
	out := payment.GatewayPayment{PaymentKey: p.PaymentKey, OrderID: p.OrderID, Status: payment.GatewayStatus(p.Status)}
	var aerr error
	if out.TotalAmount, aerr = p.TotalAmount.Int64(); aerr != nil {
		return payment.GatewayPayment{}, fmt.Errorf("payment %s totalAmount: %w", p.PaymentKey, aerr)
	}
	if out.BalanceAmount, aerr = p.BalanceAmount.Int64(); aerr != nil {
		return payment.GatewayPayment{}, fmt.Errorf("payment %s balanceAmount: %w", p.PaymentKey, aerr)
	}
	if p.ApprovedAt != nil {
		if t, err := time.Parse(time.RFC3339, *p.ApprovedAt); err == nil {
			t = t.UTC()
			out.ApprovedAt = &t
		}
	}
	if p.Failure != nil {
		out.FailureCode, out.FailureMessage = p.Failure.Code, p.Failure.Message
	}
	for _, c := range p.Cancels {
		amount, err := c.CancelAmount.Int64()
		if err != nil {
			return payment.GatewayPayment{}, fmt.Errorf("payment %s cancelAmount: %w", p.PaymentKey, err)
		}
		out.Cancels = append(out.Cancels, payment.GatewayCancel{TransactionKey: c.TransactionKey, Amount: amount, Status: c.CancelStatus})
	}
	return out, nil
}

// classify maps the client's errors onto payment's gateway errors, keeping
// the original in the chain for logs. This is the error contract payment
// relies on (see payment.Gateway):
//
//   - ErrGatewayUnknownOutcome: the operation may have taken effect; look it
//     up. Timeouts, FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING,
//     UNKNOWN_PAYMENT_ERROR, DUPLICATED_ORDER_ID, codes pago does not know,
//     and any answer but a decline or ALREADY_PROCESSED_PAYMENT after an
//     attempt that may have taken effect.
//   - ErrGatewayRetryable: the PG said it failed temporarily and did
//     nothing (PROVIDER_ERROR, CARD_PROCESSING_ERROR,
//     FAILED_INTERNAL_SYSTEM_PROCESSING, FORBIDDEN_CONSECUTIVE_REQUEST on a
//     mutation, cancel-side COMMON_ERROR...); that answer is stored under
//     the key, so re-send under a new key after a look-up.
//   - ErrGatewayUnavailable: nothing happened. The PG was not reached, the
//     breaker is open, it throttled a read, or it refused pago's
//     configuration (UNAUTHORIZED_KEY, INVALID_API_KEY, FORBIDDEN_REQUEST,
//     NOT_FOUND_MERCHANT, INVALID_REQUEST, a bare 401/403/404 — logged at
//     ERROR by the client). The customer sees PG_UNAVAILABLE and the order
//     stays payable.
//   - ErrGatewayAlreadyProcessed, ErrGatewayAlreadyCanceled,
//     ErrGatewayNotFound: as named.
//   - *payment.DeclinedError: a documented decline of the payment or the
//     refund. Never a configuration error, never a 5xx.
//
// Anything else (an invalid argument, an undecodable look-up) is returned
// as it is: not a decline, and for a mutation not an effect.
func classify(err error) error {
	var e *Error
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		return fmt.Errorf("%w: %w", payment.ErrGatewayUnknownOutcome, err)
	case errors.Is(err, ErrRetryable):
		return fmt.Errorf("%w: %w", payment.ErrGatewayRetryable, err)
	case errors.Is(err, ErrUnavailable):
		return fmt.Errorf("%w: %w", payment.ErrGatewayUnavailable, err)
	case IsAlreadyProcessed(err):
		return fmt.Errorf("%w: %w", payment.ErrGatewayAlreadyProcessed, err)
	case IsAlreadyCanceled(err):
		return fmt.Errorf("%w: %w", payment.ErrGatewayAlreadyCanceled, err)
	case IsNotFound(err):
		return fmt.Errorf("%w: %w", payment.ErrGatewayNotFound, err)
	case IsDecline(err) && errors.As(err, &e):
		return &payment.DeclinedError{Code: e.Code, Message: e.Message}
	}
	return err
}

// settlementPageSize is how many settlement rows one call asks for (Toss's
// maximum is 5000).
const settlementPageSize = 1000

var _ payment.Settlements = Gateway{}

// SettlementsSold implements payment.Settlements: every page of the rows
// sold on date (KST), through the client's timeouts, retries and breaker.
func (g Gateway) SettlementsSold(ctx context.Context, date string) ([]payment.SettlementLine, error) {
	var out []payment.SettlementLine
	for page := 1; ; page++ {
		rows, err := g.Client.Settlements(ctx, SettlementsQuery{StartDate: date, EndDate: date, DateType: "soldDate",
			Page: page, Size: settlementPageSize})
		if err != nil {
			return nil, fmt.Errorf("settlements of %s, page %d: %w", date, page, classify(err))
		}
		for _, r := range rows {
			l, err := toSettlementLine(r)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
		if len(rows) < settlementPageSize {
			return out, nil
		}
	}
}

func toSettlementLine(r Settlement) (payment.SettlementLine, error) {
	l := payment.SettlementLine{PaymentKey: r.PaymentKey, TransactionKey: r.TransactionKey, OrderID: r.OrderID,
		SoldDate: r.SoldDate, PaidOutDate: r.PaidOutDate}
	var err error
	if l.Amount, err = r.Amount.Int64(); err != nil {
		return l, fmt.Errorf("settlement %s/%s amount: %w", r.PaymentKey, r.TransactionKey, err)
	}
	if l.Fee, err = r.Fee.Int64(); err != nil {
		return l, fmt.Errorf("settlement %s/%s fee: %w", r.PaymentKey, r.TransactionKey, err)
	}
	if l.PayOut, err = r.PayOutAmount.Int64(); err != nil {
		return l, fmt.Errorf("settlement %s/%s payOutAmount: %w", r.PaymentKey, r.TransactionKey, err)
	}
	return l, nil
}
