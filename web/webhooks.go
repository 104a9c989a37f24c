package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/pago/pago/payment"
)

// WebhookAcceptor queues PG webhooks; payment.Service implements it.
type WebhookAcceptor interface {
	AcceptWebhook(ctx context.Context, dedupeKey, paymentKey string, claimed payment.GatewayStatus) error
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
	co := &coalescer{acc: acc, window: webhookWindow, keys: map[string]*coalesced{}}
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
		if err := co.accept(r.Context(), dedupe, ev.Data.PaymentKey, payment.GatewayStatus(ev.Data.Status)); err != nil {
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

// webhookWindow is how often one payment key may cost a PG look-up.
const webhookWindow = 5 * time.Second

// coalescer bounds the PG look-ups webhooks cause: payment webhooks are
// unsigned, so anyone can send them, and each one with a fresh
// transmission id would be one more look-up at the PG. Per payment key,
// the first webhook in a window is accepted at once; the ones after it
// within the window share one look-up at the window's end (so a second
// status change inside the window is still read), however many arrive.
type coalescer struct {
	acc    WebhookAcceptor
	window time.Duration
	mu     sync.Mutex
	keys   map[string]*coalesced
}

type coalesced struct {
	last     time.Time   // when the latest look-up for this key was accepted
	trailing *time.Timer // the look-up at the window's end, if one is due
}

// maxCoalescedKeys bounds the map; past it, stale keys are dropped.
const maxCoalescedKeys = 10_000

func (c *coalescer) accept(ctx context.Context, dedupe, paymentKey string, claimed payment.GatewayStatus) error {
	now := time.Now()
	c.mu.Lock()
	e := c.keys[paymentKey]
	if e != nil && now.Sub(e.last) < c.window {
		if e.trailing == nil {
			e.trailing = time.AfterFunc(e.last.Add(c.window).Sub(now), func() { c.flush(paymentKey) })
		}
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if err := c.acc.AcceptWebhook(ctx, dedupe, paymentKey, claimed); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= maxCoalescedKeys {
		for k, old := range c.keys {
			if old.trailing == nil && now.Sub(old.last) >= c.window {
				delete(c.keys, k)
			}
		}
	}
	if e := c.keys[paymentKey]; e != nil {
		e.last = now
	} else {
		c.keys[paymentKey] = &coalesced{last: now}
	}
	return nil
}

// flush accepts the trailing look-up of a window.
func (c *coalescer) flush(paymentKey string) {
	now := time.Now()
	c.mu.Lock()
	if e := c.keys[paymentKey]; e != nil {
		e.trailing, e.last = nil, now
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dedupe := "coalesced:" + paymentKey + ":" + now.UTC().Format(time.RFC3339Nano)
	// The webhooks it stands for may have claimed anything: no claim.
	if err := c.acc.AcceptWebhook(ctx, dedupe, paymentKey, ""); err != nil {
		logger(ctx).ErrorContext(ctx, "accept coalesced webhook", "payment_key", paymentKey, "err", err)
	}
}
