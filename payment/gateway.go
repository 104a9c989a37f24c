package payment

import (
	"context"
	"errors"
	"time"
)

// Gateway is what payment needs of the PG (pg implements it for Toss).
// Its errors follow one rule: an error that is not ErrGatewayUnknownOutcome
// means the PG did not perform the operation. ErrGatewayUnavailable
// includes the PG refusing pago's configuration (wrong keys): nothing
// happened and the order stays payable.
type Gateway interface {
	// Confirm approves an authenticated payment. idemKey makes a retry of
	// the same confirm the same confirm at the PG.
	Confirm(ctx context.Context, paymentKey, orderID string, amount int64, idemKey string) (GatewayPayment, error)
	Payment(ctx context.Context, paymentKey string) (GatewayPayment, error)
	PaymentByOrderID(ctx context.Context, orderID string) (GatewayPayment, error)
	// Cancel refunds amount (nil: the rest) of a DONE payment.
	Cancel(ctx context.Context, paymentKey string, amount *int64, reason, idemKey string) (GatewayPayment, error)
}

// GatewayStatus is the PG's status of a payment (Toss's values).
type GatewayStatus string

// The PG's statuses.
const (
	GatewayReady           GatewayStatus = "READY"
	GatewayInProgress      GatewayStatus = "IN_PROGRESS"
	GatewayWaitingDeposit  GatewayStatus = "WAITING_FOR_DEPOSIT"
	GatewayDone            GatewayStatus = "DONE"
	GatewayCanceled        GatewayStatus = "CANCELED"
	GatewayPartialCanceled GatewayStatus = "PARTIAL_CANCELED"
	GatewayAborted         GatewayStatus = "ABORTED"
	GatewayExpired         GatewayStatus = "EXPIRED"
)

// GatewayPayment is the PG's view of a payment.
type GatewayPayment struct {
	PaymentKey     string
	OrderID        string
	Status         GatewayStatus
	TotalAmount    int64
	BalanceAmount  int64 // what is left to cancel
	ApprovedAt     *time.Time
	FailureCode    string
	FailureMessage string
	// Cancels are the PG's cancels of this payment, oldest first.
	Cancels []GatewayCancel
}

// GatewayCancel is one cancel (refund) the PG executed.
type GatewayCancel struct {
	TransactionKey string
	Amount         int64
	Status         string // DONE; IN_PROGRESS or ABORTED for async easy pay
}

// Gateway errors; pg wraps its own errors with these.
var (
	// ErrGatewayUnavailable: the PG was not reached (or the breaker is
	// open). Nothing happened there.
	ErrGatewayUnavailable = errors.New("payment gateway unavailable")
	// ErrGatewayUnknownOutcome: the request may have been performed; only a
	// later look-up tells.
	ErrGatewayUnknownOutcome = errors.New("payment gateway outcome unknown")
	// ErrGatewayRetryable: the PG answered that the operation failed for a
	// temporary reason (e.g. PROVIDER_ERROR) and did not perform it. The
	// PG stores that answer under the idempotency key and replays it to
	// every retry with the same key, so retrying with the same key can
	// never succeed: look the payment up, then re-send under a NEW key.
	ErrGatewayRetryable = errors.New("payment gateway failed temporarily; retry with a new key")
	// ErrGatewayNotFound: the PG has no such payment.
	ErrGatewayNotFound = errors.New("payment gateway has no such payment")
	// ErrGatewayAlreadyProcessed: a confirm of a payment the PG already
	// confirmed (without our idempotency key); look it up.
	ErrGatewayAlreadyProcessed = errors.New("payment already processed at the gateway")
	// ErrGatewayAlreadyCanceled: a cancel of a payment already fully
	// canceled; the refund it asked for has happened.
	ErrGatewayAlreadyCanceled = errors.New("payment already canceled at the gateway")
)

// DeclinedError is the PG's definite refusal.
type DeclinedError struct {
	Code    string
	Message string
}

func (e *DeclinedError) Error() string { return "declined: " + e.Code + ": " + e.Message }
