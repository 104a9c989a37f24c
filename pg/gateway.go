package pg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pago/pago/payment"
)

// Gateway adapts Client to payment.Gateway: Toss's types become payment's,
// and errors are classified by the one rule payment relies on.
type Gateway struct{ Client *Client }

var _ payment.Gateway = Gateway{}

// Confirm implements payment.Gateway.
func (g Gateway) Confirm(ctx context.Context, paymentKey, orderID string, amount int64, idemKey string) (payment.GatewayPayment, error) {
	p, err := g.Client.Confirm(ctx, ConfirmRequest{PaymentKey: paymentKey, OrderID: orderID, Amount: amount}, idemKey)
	return toGatewayPayment(p, err)
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
	return out, nil
}

// classify maps the client's errors onto payment's gateway errors, keeping
// the original in the chain for logs.
func classify(err error) error {
	var e *Error
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		return fmt.Errorf("%w: %w", payment.ErrGatewayUnknownOutcome, err)
	case errors.Is(err, ErrUnavailable):
		return fmt.Errorf("%w: %w", payment.ErrGatewayUnavailable, err)
	case IsAlreadyProcessed(err):
		return fmt.Errorf("%w: %w", payment.ErrGatewayAlreadyProcessed, err)
	case IsAlreadyCanceled(err):
		return fmt.Errorf("%w: %w", payment.ErrGatewayAlreadyCanceled, err)
	case IsNotFound(err):
		return fmt.Errorf("%w: %w", payment.ErrGatewayNotFound, err)
	case errors.As(err, &e) && (e.IsDecline() || e.HTTPStatus/100 == 4):
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
