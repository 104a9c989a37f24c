package payment

import (
	"errors"
	"fmt"
)

// Code classifies a domain error. The values are the public error codes of
// docs/api.md; graph's presenter copies them into extensions.code.
type Code string

// The codes of docs/api.md.
const (
	CodeUnauthenticated      Code = "UNAUTHENTICATED"
	CodeForbidden            Code = "FORBIDDEN"
	CodeNotFound             Code = "NOT_FOUND"
	CodeBadUserInput         Code = "BAD_USER_INPUT"
	CodeInsufficientBalance  Code = "INSUFFICIENT_BALANCE"
	CodeBalanceLimitExceeded Code = "BALANCE_LIMIT_EXCEEDED"
	CodeOutOfStock           Code = "OUT_OF_STOCK"
	CodeInvalidState         Code = "INVALID_STATE"
	CodeAmountMismatch       Code = "AMOUNT_MISMATCH"
	CodeIdempotencyKeyReused Code = "IDEMPOTENCY_KEY_REUSED"
	CodeRequestInProgress    Code = "REQUEST_IN_PROGRESS"
	CodePaymentDeclined      Code = "PAYMENT_DECLINED"
	CodePaymentInDoubt       Code = "PAYMENT_IN_DOUBT"
	CodePGUnavailable        Code = "PG_UNAVAILABLE"
	CodeQueryTooComplex      Code = "QUERY_TOO_COMPLEX"
	CodeRefundExceedsPayment Code = "REFUND_EXCEEDS_PAYMENT"
	CodeRefundInDoubt        Code = "REFUND_IN_DOUBT"
	CodeInternal             Code = "INTERNAL"
)

// Error is a domain error with a public code. Two Errors match under
// errors.Is when their codes are equal, so callers compare against the
// sentinels below while the returned error carries a specific message.
type Error struct {
	Code    Code     `json:"code"`
	Message string   `json:"message"`
	Fields  []string `json:"fields,omitempty"` // input fields at fault (BAD_USER_INPUT)
	PGCode  string   `json:"pgCode,omitempty"` // the PG's own code (PAYMENT_DECLINED)
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Sentinels to compare against with errors.Is.
var (
	ErrUnauthenticated      = &Error{Code: CodeUnauthenticated, Message: "authentication required"}
	ErrForbidden            = &Error{Code: CodeForbidden, Message: "not allowed"}
	ErrNotFound             = &Error{Code: CodeNotFound, Message: "not found"}
	ErrBadUserInput         = &Error{Code: CodeBadUserInput, Message: "invalid input"}
	ErrInsufficientBalance  = &Error{Code: CodeInsufficientBalance, Message: "insufficient balance"}
	ErrBalanceLimitExceeded = &Error{Code: CodeBalanceLimitExceeded, Message: "balance limit exceeded"}
	ErrOutOfStock           = &Error{Code: CodeOutOfStock, Message: "out of stock"}
	ErrInvalidState         = &Error{Code: CodeInvalidState, Message: "invalid state"}
	ErrAmountMismatch       = &Error{Code: CodeAmountMismatch, Message: "amount mismatch"}
	ErrIdempotencyKeyReused = &Error{Code: CodeIdempotencyKeyReused, Message: "idempotency key was used with a different input"}
	ErrRequestInProgress    = &Error{Code: CodeRequestInProgress, Message: "a request with this idempotency key is still in progress; retry later"}
	ErrPaymentDeclined      = &Error{Code: CodePaymentDeclined, Message: "payment declined"}
	ErrPaymentInDoubt       = &Error{Code: CodePaymentInDoubt, Message: "the payment gateway did not answer in time; the outcome will be settled"}
	ErrPGUnavailable        = &Error{Code: CodePGUnavailable, Message: "payment gateway unavailable; nothing was charged"}
	ErrRefundExceedsPayment = &Error{Code: CodeRefundExceedsPayment, Message: "more than the refundable rest of the payment"}
	ErrRefundInDoubt        = &Error{Code: CodeRefundInDoubt, Message: "the payment gateway did not answer the refund in time; it will be settled shortly"}
)

// Plain errors for programming and arithmetic faults; they surface as INTERNAL.
var (
	ErrAmountOverflow   = errors.New("amount out of range")
	ErrCurrencyMismatch = errors.New("currency mismatch")
	// ErrConflict means a conditional write lost a race (a version or fence
	// check failed). The caller retries; it is never shown to clients as is.
	ErrConflict = errors.New("concurrent update")
	// ErrTransient means the database could not answer now (connection
	// lost, serialization failure, busy): the same request may succeed when
	// retried, so it is never stored as an idempotent answer.
	ErrTransient = errors.New("storage temporarily unavailable")
	// ErrPaymentKeyTaken means another payment already holds this PG
	// payment key (the unique index on payments.pg_payment_key).
	ErrPaymentKeyTaken = errors.New("PG payment key already recorded")
	// ErrSplitUnderWay means the order has an open wallet hold already
	// (the unique index on wallet_holds' open order): INVALID_STATE.
	ErrSplitUnderWay = &Error{Code: CodeInvalidState, Message: "a split payment of this order is already under way"}
)

// BadInput returns a BAD_USER_INPUT error naming the field at fault.
func BadInput(field, format string, args ...any) *Error {
	return &Error{Code: CodeBadUserInput, Message: fmt.Sprintf(format, args...), Fields: []string{field}}
}

// errorf returns an *Error with code and a formatted message.
func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
