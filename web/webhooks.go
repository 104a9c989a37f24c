package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/pago/pago/payment"
)

// WebhookAcceptor queues PG webhooks; payment.Service implements it.
type WebhookAcceptor interface {
	AcceptWebhook(ctx context.Context, dedupeKey, paymentKey string) error
}

// maxWebhookBody bounds a webhook body; a Payment object is a few KB.
const maxWebhookBody = 256 << 10

// pgWebhook accepts Toss's PAYMENT_STATUS_CHANGED events. Payment webhooks
// are unsigned, so nothing in the body is believed: the payment key only
// says which payment to re-fetch from the PG, and that happens in a job so
// the PG gets its 200 at once. Deliveries are deduplicated by the PG's
// transmission id (or the body's hash when there is none).
//
// Every other kind the PG may send to the same URL — DEPOSIT_CALLBACK (a
// flat body without eventType), CANCEL_STATUS_CHANGED, BILLING_DELETED,
// brandpay and payout events, kinds added later — is acknowledged with 200
// and logged: the PG retries anything else for days and then e-mails the
// merchant, and pago has nothing to do with them (it is card-only; see
// README "Payment methods").
func pgWebhook(acc WebhookAcceptor) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		var ev struct {
			EventType string `json:"eventType"`
			Data      struct {
				PaymentKey string `json:"paymentKey"`
				OrderID    string `json:"orderId"`
				Status     string `json:"status"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed JSON"})
			return
		}
		if ev.EventType != "PAYMENT_STATUS_CHANGED" {
			acknowledgeOther(w, r, ev.EventType, body)
			return
		}
		dedupe := r.Header.Get("tosspayments-webhook-transmission-id")
		if dedupe == "" || len(dedupe) > 128 {
			sum := sha256.Sum256(body)
			dedupe = "sha256:" + hex.EncodeToString(sum[:])
		}
		if err := acc.AcceptWebhook(r.Context(), dedupe, ev.Data.PaymentKey); err != nil {
			var de *payment.Error
			if errors.As(err, &de) && de.Code == payment.CodeBadUserInput {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": de.Message})
				return
			}
			logger(r.Context()).ErrorContext(r.Context(), "accept webhook", "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "try again"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
}

// acknowledgeOther answers 200 to a webhook pago does not act on, and logs
// what it was. A DEPOSIT_CALLBACK means the merchant's Toss settings offer
// virtual accounts, which pago does not support: worth a warning.
func acknowledgeOther(w http.ResponseWriter, r *http.Request, eventType string, body []byte) {
	log := logger(r.Context())
	id := r.Header.Get("tosspayments-webhook-transmission-id")
	if eventType == "" {
		var flat struct {
			OrderID string `json:"orderId"`
			Status  string `json:"status"`
			Secret  string `json:"secret"`
		}
		_ = json.Unmarshal(body, &flat)
		if flat.Secret != "" || flat.OrderID != "" {
			log.WarnContext(r.Context(), "DEPOSIT_CALLBACK webhook acknowledged and ignored: pago takes cards only; "+
				"disable virtual accounts in the payment widget's settings in the Toss developer center",
				"transmission_id", id, "order", flat.OrderID, "status", flat.Status)
		} else {
			log.WarnContext(r.Context(), "webhook without eventType acknowledged and ignored", "transmission_id", id)
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	log.InfoContext(r.Context(), "webhook kind pago does not handle acknowledged", "event_type", eventType, "transmission_id", id)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
