package pg

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrUnavailable means the PG could not be used: the circuit breaker is
// open, the PG was never reached (dial or TLS failure before the request was
// written), it refused to process the request (429), or — for a read — it
// kept failing until the retry budget ran out. For a mutating call it
// guarantees nothing happened at the PG, so nothing was charged or refunded;
// the caller may fail the operation or try again later.
var ErrUnavailable = errors.New("payment gateway unavailable")

// ErrUnknownOutcome means a mutating call may have reached the PG and taken
// effect, but no definite answer arrived: a timeout or a broken connection
// after the request was sent, a 5xx or PROVIDER_ERROR that outlasted the
// retry budget, FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING,
// UNKNOWN_PAYMENT_ERROR, or IDEMPOTENT_REQUEST_PROCESSING. Callers must
// treat the payment as IN_DOUBT and reconcile with a lookup (or by retrying
// with the same Idempotency-Key); never as failed.
var ErrUnknownOutcome = errors.New("payment outcome unknown")

// ErrInvalidArgument means the client refused a call before sending
// anything, because an argument was missing or malformed (for example an
// empty Idempotency-Key on a mutating call).
var ErrInvalidArgument = errors.New("invalid argument")

// Error is an error response from Toss: the HTTP status and the body's
// {code, message}. Code is empty if the body was not a Toss error (for
// example an HTML page from a proxy); Message then holds the start of the
// body.
//
// An *Error returned on its own is a definite answer. When the PG's answer
// leaves the outcome open, the *Error is wrapped together with
// ErrUnknownOutcome or ErrUnavailable, and errors.As still finds it.
type Error struct {
	HTTPStatus int
	Code       string
	Message    string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("toss responded %d %s: %s", e.HTTPStatus, http.StatusText(e.HTTPStatus), e.Message)
	}
	return fmt.Sprintf("toss responded %d %s: %s", e.HTTPStatus, e.Code, e.Message)
}

// Toss error codes the client acts on (docs/toss.md §6).
const (
	CodeAlreadyProcessedPayment               = "ALREADY_PROCESSED_PAYMENT"
	CodeAlreadyCanceledPayment                = "ALREADY_CANCELED_PAYMENT"
	CodeNotFoundPayment                       = "NOT_FOUND_PAYMENT"
	CodeNotFound                              = "NOT_FOUND"
	CodeNotFoundPaymentSession                = "NOT_FOUND_PAYMENT_SESSION"
	CodeRejectCardPayment                     = "REJECT_CARD_PAYMENT"
	CodeProviderError                         = "PROVIDER_ERROR"
	CodeCardProcessingError                   = "CARD_PROCESSING_ERROR"
	CodeIdempotentRequestProcessing           = "IDEMPOTENT_REQUEST_PROCESSING"
	CodeFailedInternalSystemProcessing        = "FAILED_INTERNAL_SYSTEM_PROCESSING"
	CodeFailedPaymentInternalSystemProcessing = "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING"
	CodeUnknownPaymentError                   = "UNKNOWN_PAYMENT_ERROR"
)

// isDeclineCode reports whether code is one of Toss's definite refusals of
// the payer's payment: the card, account or limits said no, or the
// authentication session is gone. The payment was not made and retrying the
// same confirm cannot change that; only a new payment attempt can.
func isDeclineCode(code string) bool {
	switch code {
	case "REJECT_CARD_PAYMENT", "REJECT_CARD_COMPANY", "REJECT_ACCOUNT_PAYMENT",
		"INVALID_CARD_EXPIRATION", "INVALID_STOPPED_CARD", "INVALID_CARD_LOST_OR_STOLEN",
		"INVALID_CARD_NUMBER", "INVALID_REJECT_CARD", "INVALID_PASSWORD",
		"EXCEED_MAX_DAILY_PAYMENT_COUNT", "EXCEED_MAX_PAYMENT_AMOUNT", "EXCEED_MAX_AMOUNT",
		"EXCEED_MAX_AUTH_COUNT", "BELOW_MINIMUM_AMOUNT", "FDS_ERROR", "NOT_AVAILABLE_BANK",
		"NOT_FOUND_PAYMENT_SESSION":
		return true
	}
	// Toss adds codes to these families over time; they are all refusals.
	return strings.HasPrefix(code, "REJECT_") || strings.HasPrefix(code, "INVALID_CARD_")
}

// IsDecline reports whether e is a definite business refusal of the payment
// (card rejected, limit exceeded, session expired, ...).
func (e *Error) IsDecline() bool {
	if e == nil || e.HTTPStatus >= 500 {
		return false
	}
	return isDeclineCode(e.Code)
}

// IsDecline reports whether err carries a Toss decline (see Error.IsDecline).
func IsDecline(err error) bool {
	e, ok := asError(err)
	return ok && e.IsDecline()
}

// IsAlreadyProcessed reports whether Toss refused a confirm because the
// payment was already confirmed (ALREADY_PROCESSED_PAYMENT). The payment
// may well be DONE: look it up and reconcile.
func IsAlreadyProcessed(err error) bool {
	e, ok := asError(err)
	return ok && e.Code == CodeAlreadyProcessedPayment
}

// IsAlreadyCanceled reports whether Toss refused a cancel because the
// payment is already fully canceled (ALREADY_CANCELED_PAYMENT); callers
// treat it as done after a lookup.
func IsAlreadyCanceled(err error) bool {
	e, ok := asError(err)
	return ok && e.Code == CodeAlreadyCanceledPayment
}

// IsNotFound reports whether Toss answered 404 NOT_FOUND_PAYMENT (or the
// generic NOT_FOUND): no such payment. NOT_FOUND_PAYMENT_SESSION is a
// decline, not a missing payment.
func IsNotFound(err error) bool {
	e, ok := asError(err)
	return ok && e.HTTPStatus == http.StatusNotFound &&
		(e.Code == CodeNotFoundPayment || e.Code == CodeNotFound)
}

// asError finds a Toss *Error in err's chain, but only when the error is
// definite: an *Error wrapped with ErrUnknownOutcome is not a refusal.
func asError(err error) (*Error, bool) {
	var e *Error
	if !errors.As(err, &e) || errors.Is(err, ErrUnknownOutcome) {
		return nil, false
	}
	return e, true
}
