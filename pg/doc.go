// Package pg is pago's client for the Toss Payments Core API v1 (API version
// 2022-11-16): confirming, looking up and cancelling payments, and listing
// settlements.
//
// It owns the wire: Toss's JSON shapes (Payment, Cancel, Card, Settlement),
// Basic authentication with the secret key, the Idempotency-Key on every
// mutating call, connect/read timeouts, retries with exponential backoff and
// full jitter, a circuit breaker, and the classification of every failure
// into one of three answers a caller can act on:
//
//   - success, or a definite refusal (*Error, see IsDecline,
//     IsAlreadyProcessed, IsAlreadyCanceled, IsNotFound): the PG answered;
//   - ErrUnavailable: the PG was not reached, or refused to process the
//     request (breaker open, connection refused, rate limited); for a
//     mutating call nothing happened at the PG;
//   - ErrUnknownOutcome: a mutating call may have taken effect but no answer
//     arrived. Callers treat the payment as IN_DOUBT and reconcile with a
//     lookup; they must never treat it as failed.
//
// For mutating calls (Confirm, Cancel) the contract is strict: an error that
// does not wrap ErrUnknownOutcome means the PG did not perform the operation.
//
// It leaves everything else to its callers: what a payment means to pago,
// persistence, probing in-doubt payments, and mapping these errors to domain
// errors. It imports no other pago package; the application adapts it.
package pg
