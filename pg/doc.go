// Package pg is pago's client for the Toss Payments Core API v1 (API version
// 2022-11-16): confirming, looking up and cancelling payments, and listing
// settlements.
//
// It owns the wire: Toss's JSON shapes (Payment, Cancel, Card, Settlement),
// Basic authentication with the secret key, the Idempotency-Key on every
// mutating call, connect/read timeouts, retries with exponential backoff and
// full jitter, a circuit breaker, and the classification of every documented
// Toss error code (ClassOf, errors.go) into an answer a caller can act on:
//
//   - success, or a definite refusal (*Error, see IsDecline,
//     IsAlreadyProcessed, IsAlreadyCanceled, IsNotFound): the PG answered
//     and did not perform the operation (or already had).
//   - ErrRetryable: the PG answered that it failed temporarily
//     (PROVIDER_ERROR, CARD_PROCESSING_ERROR,
//     FAILED_INTERNAL_SYSTEM_PROCESSING, FORBIDDEN_CONSECUTIVE_REQUEST on a
//     mutation, ...). Nothing happened. Toss stores that answer under the
//     Idempotency-Key and replays it to every same-key request for 15
//     days, so the client never retries it under the same key: the caller
//     looks the payment up and re-sends under a new key.
//   - ErrUnavailable: the PG was not reached, or refused to process the
//     request (breaker open, connection refused, throttled read); nothing
//     happened at the PG. When the PG refused pago's configuration (wrong
//     or mismatched keys, merchant not set up, a request pago should never
//     send) the error also wraps ErrMisconfigured, the client logs it at
//     ERROR, and the breaker counts it.
//   - ErrUnknownOutcome: a mutating call may have taken effect but no
//     definite answer arrived (timeout, broken connection, a bare 5xx that
//     outlasted the budget, FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING,
//     UNKNOWN_PAYMENT_ERROR, DUPLICATED_ORDER_ID, a code the client does
//     not know). After an attempt that may have taken effect only a
//     decline or ALREADY_PROCESSED_PAYMENT is believed; any other answer
//     leaves the outcome unknown. Callers treat the payment as IN_DOUBT and
//     reconcile with a look-up; they must never treat it as failed.
//
// For mutating calls (Confirm, Cancel) the contract is strict: an error that
// does not wrap ErrUnknownOutcome means the PG did not perform the
// operation. The client retries a mutation only under its own key and only
// where that can tell more: after a transport failure, a bare 5xx or 429
// from in front of the PG, or IDEMPOTENT_REQUEST_PROCESSING.
//
// The circuit breaker counts unavailability (network failures, timeouts,
// 5xx, throttling) and misconfiguration; declines and other business
// answers prove the PG is up and count as successes.
//
// It leaves everything else to its callers: what a payment means to pago,
// persistence, probing in-doubt payments, and choosing a new key for a
// re-send. It imports one pago package, payment, and only in gateway.go,
// where Gateway adapts the client to payment.Gateway; the rest of the
// package stands alone.
package pg
