package payment

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// The PG's Idempotency-Keys pago sends, all derived here from pago's own
// records so that a retry of one request is the same request at the PG and
// never a second charge or refund.

// confirmBaseKey is a card payment's base confirm key, from the caller's
// idempotency key: a retry of the same request derives the same key.
func confirmBaseKey(userID, key string) string {
	h := sha256.Sum256([]byte("confirm\x00" + userID + "\x00" + key))
	return "pago-confirm-" + hex.EncodeToString(h[:])
}

// ConfirmKey is the Idempotency-Key of p's current confirm attempt: the base
// key for the first, the base key and the attempt number after that (Toss
// replays its first answer to a repeated key, errors included, so a confirm
// that failed retryably is retried under a new one).
func ConfirmKey(p Payment) string {
	if p.ConfirmAttempt == 0 {
		return p.PGIdempotencyKey
	}
	return p.PGIdempotencyKey + "-a" + strconv.FormatInt(p.ConfirmAttempt, 10)
}

// topUpRefundKey is the Idempotency-Key of attempt n of the full cancel
// that gives back a top-up the wallet could not take (cancelInFull).
func topUpRefundKey(p Payment, attempt int) string {
	if attempt == 0 {
		return "pago-refund-" + p.ID
	}
	return "pago-refund-" + p.ID + "-r" + strconv.Itoa(attempt)
}

// voidKey is the Idempotency-Key of the cancel that refuses a payment pago
// does not take (a virtual account awaiting its deposit): one per payment.
func voidKey(p Payment) string { return "pago-void-" + p.ID }

// RefundKey is the Idempotency-Key of attempt r.Attempt of refund r's
// cancel: derived from pago's refund, so a retry of the same attempt is
// the same cancel at the PG. A new attempt (a new key) is sent only once
// the PG's record shows the previous one never arrived.
func RefundKey(r Refund) string {
	return "pago-refund-" + r.ID + "-a" + strconv.FormatInt(r.Attempt, 10)
}
