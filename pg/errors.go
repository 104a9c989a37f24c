package pg

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrUnavailable means the PG could not be used and did nothing: the
// circuit breaker is open, the PG was never reached (dial or TLS failure
// before the request was written), it refused to process the request
// (429, FORBIDDEN_CONSECUTIVE_REQUEST on a read), it refused pago's
// configuration (see ErrMisconfigured, which is wrapped together with this
// one), or — for a read — it kept failing until the retry budget ran out.
// For a mutating call it guarantees nothing happened at the PG, so nothing
// was charged or refunded; the caller may fail the operation or try again
// later.
var ErrUnavailable = errors.New("payment gateway unavailable")

// ErrMisconfigured means the PG refused the request because of pago's own
// configuration or a request pago should never send: an unknown or
// mismatched key (UNAUTHORIZED_KEY, INVALID_API_KEY), a merchant that is
// not set up (NOT_FOUND_MERCHANT, FORBIDDEN_REQUEST), a malformed request
// (INVALID_REQUEST), or a bare 4xx from something in front of the PG. It is
// always wrapped together with ErrUnavailable: nothing happened at the PG,
// and nothing will until an operator fixes the configuration. The client
// logs it at ERROR and the circuit breaker counts it.
var ErrMisconfigured = errors.New("payment gateway refused pago's configuration")

// ErrRetryable means the PG answered that the operation failed for a
// temporary reason on its side or the issuer's (PROVIDER_ERROR,
// CARD_PROCESSING_ERROR, FAILED_INTERNAL_SYSTEM_PROCESSING, cancel-side
// COMMON_ERROR and friends, FORBIDDEN_CONSECUTIVE_REQUEST on a mutation)
// and that no earlier attempt of this call was in doubt. Toss stores that
// answer under the Idempotency-Key and replays it to every request with the
// same key for 15 days, so the client never retries it itself: the caller
// looks the payment up and, if it still waits for the operation, sends it
// again under a NEW Idempotency-Key. A mutation that ends in ErrRetryable
// did not take effect.
var ErrRetryable = errors.New("payment gateway failed temporarily; retry with a new idempotency key")

// ErrUnknownOutcome means a mutating call may have reached the PG and taken
// effect, but no definite answer arrived: a timeout or a broken connection
// after the request was sent, a bare 5xx that outlasted the retry budget,
// FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING, UNKNOWN_PAYMENT_ERROR,
// DUPLICATED_ORDER_ID, IDEMPOTENT_REQUEST_PROCESSING that outlasted the
// budget, a code the client does not know, or — after an attempt that may
// have taken effect — any answer but a decline or ALREADY_PROCESSED_PAYMENT.
// Callers must treat the payment as IN_DOUBT and reconcile with a look-up;
// never as failed.
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
// An *Error returned on its own is a definite refusal (a decline,
// ALREADY_PROCESSED_PAYMENT, ALREADY_CANCELED_PAYMENT, NOT_FOUND_PAYMENT,
// or an unknown code on a read). When the answer means something else, the
// *Error is wrapped together with ErrUnavailable, ErrRetryable or
// ErrUnknownOutcome, and errors.As still finds it.
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

// Toss error codes the client acts on by name (the full list is codeClasses).
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
	CodeForbiddenConsecutiveRequest           = "FORBIDDEN_CONSECUTIVE_REQUEST"
	CodeUnauthorizedKey                       = "UNAUTHORIZED_KEY"
	CodeInvalidAPIKey                         = "INVALID_API_KEY"
	CodeInvalidIdempotencyKey                 = "INVALID_IDEMPOTENCY_KEY"
	CodeDuplicatedOrderID                     = "DUPLICATED_ORDER_ID"
)

// Class is what a Toss error code means for pago, whatever API returned it.
type Class int

// The classes of Toss's answers. ClassUnknown is the zero value: a code
// the table does not list is a reason to look the payment up, never a
// decline.
const (
	// ClassUnknown: the outcome is open; look the payment up.
	ClassUnknown Class = iota
	// ClassDecline: a definite refusal of the payer's payment (card,
	// account, limits, fraud checks, an expired session) or of a refund
	// (not cancelable, bad refund account). Nothing happened; only a new
	// payment attempt can change it.
	ClassDecline
	// ClassRetryLater: a temporary failure on the PG's or the issuer's
	// side. Nothing happened; send again later under a new key.
	ClassRetryLater
	// ClassThrottled: the PG refused to process the request because of its
	// rate (429, FORBIDDEN_CONSECUTIVE_REQUEST). Nothing happened.
	ClassThrottled
	// ClassMisconfigured: pago's keys, merchant setup or request are wrong.
	// Nothing happened; an operator must fix the configuration.
	ClassMisconfigured
	// ClassInFlight: a request with the same key is still being processed
	// (IDEMPOTENT_REQUEST_PROCESSING); ask again with the same key.
	ClassInFlight
	// ClassAlreadyProcessed: a confirm of a payment already confirmed.
	ClassAlreadyProcessed
	// ClassAlreadyCanceled: a cancel of a payment already fully canceled.
	ClassAlreadyCanceled
	// ClassNotFound: no such payment (NOT_FOUND_PAYMENT, NOT_FOUND).
	ClassNotFound
)

func (c Class) String() string {
	switch c {
	case ClassDecline:
		return "decline"
	case ClassRetryLater:
		return "retry-later"
	case ClassThrottled:
		return "throttled"
	case ClassMisconfigured:
		return "misconfigured"
	case ClassInFlight:
		return "in-flight"
	case ClassAlreadyProcessed:
		return "already-processed"
	case ClassAlreadyCanceled:
		return "already-canceled"
	case ClassNotFound:
		return "not-found"
	}
	return "unknown"
}

// codeClasses is every error code Toss documents for the Core API calls
// pago makes (confirm, look-ups, cancel, settlements; docs
// /reference/error-codes), with what it means. Codes Toss adds later fall
// to ClassUnknown until someone reads their documentation and adds them.
var codeClasses = map[string]Class{
	// Confirm: the payer's card, account or limits said no.
	"REJECT_CARD_PAYMENT":                             ClassDecline,
	"REJECT_CARD_COMPANY":                             ClassDecline,
	"REJECT_ACCOUNT_PAYMENT":                          ClassDecline,
	"REJECT_TOSSPAY_INVALID_ACCOUNT":                  ClassDecline,
	"INVALID_REJECT_CARD":                             ClassDecline,
	"INVALID_CARD_EXPIRATION":                         ClassDecline,
	"INVALID_STOPPED_CARD":                            ClassDecline,
	"INVALID_CARD_LOST_OR_STOLEN":                     ClassDecline,
	"INVALID_CARD_NUMBER":                             ClassDecline,
	"INVALID_CARD_INSTALLMENT_PLAN":                   ClassDecline,
	"INVALID_PASSWORD":                                ClassDecline,
	"INVALID_AUTHORIZE_AUTH":                          ClassDecline,
	"INVALID_ACCOUNT_INFO_RE_REGISTER":                ClassDecline,
	"EXCEED_MAX_CARD_INSTALLMENT_PLAN":                ClassDecline,
	"EXCEED_MAX_DAILY_PAYMENT_COUNT":                  ClassDecline,
	"EXCEED_MAX_PAYMENT_AMOUNT":                       ClassDecline,
	"EXCEED_MAX_AMOUNT":                               ClassDecline,
	"EXCEED_MAX_AUTH_COUNT":                           ClassDecline,
	"EXCEED_MAX_ONE_DAY_AMOUNT":                       ClassDecline,
	"EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT":              ClassDecline,
	"EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT":             ClassDecline,
	"EXCEED_MAX_MONTHLY_PAYMENT_AMOUNT":               ClassDecline,
	"NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT": ClassDecline,
	"NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN":          ClassDecline,
	"NOT_ALLOWED_POINT_USE":                           ClassDecline,
	"BELOW_MINIMUM_AMOUNT":                            ClassDecline,
	"RESTRICTED_TRANSFER_ACCOUNT":                     ClassDecline,
	"NOT_AVAILABLE_BANK":                              ClassDecline,
	"NOT_AVAILABLE_PAYMENT":                           ClassDecline,
	"FDS_ERROR":                                       ClassDecline,
	"NOT_FOUND_PAYMENT_SESSION":                       ClassDecline,

	// Cancel: the refund was refused; nothing was refunded.
	"NOT_CANCELABLE_AMOUNT":                      ClassDecline,
	"NOT_CANCELABLE_PAYMENT":                     ClassDecline,
	"NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER":    ClassDecline,
	"EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT":       ClassDecline,
	"INVALID_REFUND_ACCOUNT_INFO":                ClassDecline,
	"INVALID_REFUND_ACCOUNT_NUMBER":              ClassDecline,
	"INVALID_BANK":                               ClassDecline,
	"NOT_MATCHES_REFUNDABLE_AMOUNT":              ClassDecline,
	"REFUND_REJECTED":                            ClassDecline,
	"ALREADY_REFUND_PAYMENT":                     ClassDecline,
	"FORBIDDEN_BANK_REFUND_REQUEST":              ClassDecline,
	"EXCEED_MAX_REFUND_DUE":                      ClassDecline,
	"NOT_ALLOWED_PARTIAL_REFUND":                 ClassDecline,
	"NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT": ClassDecline,

	// Temporary trouble at the PG or the issuer: "try again later".
	"PROVIDER_ERROR":                    ClassRetryLater,
	"CARD_PROCESSING_ERROR":             ClassRetryLater,
	"FAILED_INTERNAL_SYSTEM_PROCESSING": ClassRetryLater,
	"FAILED_REFUND_PROCESS":             ClassRetryLater,
	"FAILED_PARTIAL_REFUND":             ClassRetryLater,
	"FAILED_METHOD_HANDLING_CANCEL":     ClassRetryLater,
	"FAILED_CLOSED_ACCOUNT_REFUND":      ClassRetryLater,
	"COMMON_ERROR":                      ClassRetryLater,

	"FORBIDDEN_CONSECUTIVE_REQUEST": ClassThrottled, // Toss's own throttle, 403

	// pago's configuration: keys, merchant contract, or a request pago
	// should never send.
	"UNAUTHORIZED_KEY":             ClassMisconfigured,
	"INVALID_API_KEY":              ClassMisconfigured,
	"INVALID_CLIENT_KEY":           ClassMisconfigured,
	"INCORRECT_BASIC_AUTH_FORMAT":  ClassMisconfigured,
	"INVALID_REQUEST":              ClassMisconfigured,
	"INVALID_IDEMPOTENCY_KEY":      ClassMisconfigured,
	"API_VERSION_UPDATE_NEEDED":    ClassMisconfigured,
	"FORBIDDEN_REQUEST":            ClassMisconfigured,
	"NOT_FOUND_MERCHANT":           ClassMisconfigured,
	"NOT_FOUND_TERMINAL_ID":        ClassMisconfigured,
	"INVALID_UNREGISTERED_SUBMALL": ClassMisconfigured,
	"NOT_REGISTERED_BUSINESS":      ClassMisconfigured,

	"IDEMPOTENT_REQUEST_PROCESSING": ClassInFlight,
	"ALREADY_PROCESSED_PAYMENT":     ClassAlreadyProcessed,
	"ALREADY_CANCELED_PAYMENT":      ClassAlreadyCanceled,
	"NOT_FOUND_PAYMENT":             ClassNotFound,
	"NOT_FOUND":                     ClassNotFound,

	// The payment may or may not exist or be done: look it up.
	"FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": ClassUnknown,
	"UNKNOWN_PAYMENT_ERROR":                     ClassUnknown,
	"DUPLICATED_ORDER_ID":                       ClassUnknown,
	"UNAPPROVED_ORDER_ID":                       ClassUnknown,
}

// ClassOf returns what an error answer means. A Toss code decides (one the
// table does not know is ClassUnknown, except on a 429); an answer without one (a proxy's page, a load balancer) is judged by its
// status: 429 is throttling, other 4xx mean pago talks to the wrong place
// or with the wrong credentials, 5xx mean the PG is unavailable (reported
// as ClassRetryLater; for a mutation the client still asks again with the
// same key, since such an answer did not come from Toss's idempotency
// store).
func ClassOf(status int, code string) Class {
	if c, ok := codeClasses[code]; ok {
		return c
	}
	switch {
	case status == http.StatusTooManyRequests:
		return ClassThrottled
	case code != "":
		return ClassUnknown
	case status >= 400 && status < 500:
		return ClassMisconfigured
	case status >= 500:
		return ClassRetryLater
	}
	return ClassUnknown
}

// DocumentedCodes returns every Toss error code the client classifies by
// name, for tests and the conformance check.
func DocumentedCodes() []string {
	out := make([]string, 0, len(codeClasses))
	for c := range codeClasses {
		out = append(out, c)
	}
	return out
}

// Class returns what e means (see ClassOf).
func (e *Error) Class() Class {
	if e == nil {
		return ClassUnknown
	}
	return ClassOf(e.HTTPStatus, e.Code)
}

// IsDecline reports whether e is a definite refusal of the payment or the
// refund (ClassDecline).
func (e *Error) IsDecline() bool {
	return e != nil && e.HTTPStatus < 500 && e.Class() == ClassDecline
}

// IsDecline reports whether err carries a definite Toss decline (see
// Error.IsDecline).
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

// asError finds a Toss *Error in err's chain, but only when the error is a
// definite refusal: an *Error wrapped with ErrUnknownOutcome,
// ErrUnavailable or ErrRetryable is not one.
func asError(err error) (*Error, bool) {
	var e *Error
	if !errors.As(err, &e) || errors.Is(err, ErrUnknownOutcome) ||
		errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRetryable) {
		return nil, false
	}
	return e, true
}

// misconfigHint says how an operator fixes a misconfiguration answer.
func misconfigHint(code string) string {
	switch code {
	case "UNAUTHORIZED_KEY", "INCORRECT_BASIC_AUTH_FORMAT":
		return "the secret key is unknown to the PG: set PAGO_PG_SECRET_KEY to the secret key of this merchant and environment from the developer center"
	case "INVALID_API_KEY", "INVALID_CLIENT_KEY":
		return "the client and secret keys are not a pair of the same merchant and environment: copy both from the same page of the developer center"
	case "NOT_FOUND_MERCHANT", "FORBIDDEN_REQUEST", "NOT_FOUND_TERMINAL_ID", "INVALID_UNREGISTERED_SUBMALL", "NOT_REGISTERED_BUSINESS":
		return "the merchant's contract does not allow this request: check the merchant's settings with Toss Payments"
	case "API_VERSION_UPDATE_NEEDED":
		return "the merchant's API version is not 2022-11-16: set it in the developer center"
	case "":
		return "the PG answered without a Toss error code: check PAGO_PG_BASE_URL and any proxy in between"
	}
	return "pago sent a request the PG refuses: this is a bug in pago or its configuration"
}
