package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WebhookAttempt is one delivery attempt, kept for tests and the admin API.
type WebhookAttempt struct {
	TransmissionID string    `json:"transmissionId"`
	PaymentKey     string    `json:"paymentKey"`
	OrderID        string    `json:"orderId"`
	Status         string    `json:"status"` // the payment status the event announces, or the kind of another webhook
	RetriedCount   int       `json:"retriedCount"`
	URL            string    `json:"url"`
	ResponseStatus int       `json:"responseStatus"` // 0 when the request failed
	Error          string    `json:"error,omitempty"`
	At             time.Time `json:"at"`
}

// webhookConns is how many connections the default client keeps to a
// webhook receiver.
const webhookConns = 32

// webhooks delivers PAYMENT_STATUS_CHANGED events on their own goroutines,
// retrying non-200 answers after the configured delays.
type webhooks struct {
	client *http.Client
	delays []time.Duration
	log    *slog.Logger
	now    func() time.Time
	faults *Faults

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	url      string
	attempts []WebhookAttempt
}

func newWebhooks(cfg Config, log *slog.Logger, now func() time.Time, faults *Faults) *webhooks {
	ctx, cancel := context.WithCancel(context.Background())
	return &webhooks{
		client: cfg.HTTPClient, delays: cfg.WebhookRetryDelays, log: log, now: now, faults: faults,
		ctx: ctx, cancel: cancel, url: cfg.WebhookURL,
	}
}

func (h *webhooks) setURL(url string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.url = url
}

func (h *webhooks) target() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.url
}

// close abandons pending retries and waits for the delivery goroutines.
func (h *webhooks) close() {
	h.cancel()
	h.wg.Wait()
}

// snapshot returns a copy of the delivery log.
func (h *webhooks) snapshot() []WebhookAttempt {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]WebhookAttempt(nil), h.attempts...)
}

// webhookEvent is the body Toss posts for payment events.
type webhookEvent struct {
	EventType string          `json:"eventType"`
	CreatedAt string          `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

// paymentChanged queues a PAYMENT_STATUS_CHANGED event. payment is the
// rendered Payment at the time of the change; at is the sandbox clock.
// It never blocks: callers hold the sandbox lock.
func (h *webhooks) paymentChanged(paymentKey, orderID, status string, payment []byte, at time.Time) {
	if h.target() == "" || h.ctx.Err() != nil {
		return
	}
	body, err := json.Marshal(webhookEvent{
		EventType: "PAYMENT_STATUS_CHANGED",
		// Toss sends microseconds and no offset; KST is implied.
		CreatedAt: at.In(kst).Format("2006-01-02T15:04:05.000000"),
		Data:      payment,
	})
	if err != nil {
		h.log.Error("encode webhook", "err", err)
		return
	}
	ev := event{id: "whtrans_" + randomString(20), paymentKey: paymentKey, orderID: orderID, status: status, body: body}
	copies := 1
	var delay time.Duration
	// At most one rule of each kind applies to an event.
	if f, ok := h.faults.take("", orderID, true); ok {
		switch f.Kind {
		case WebhookDuplicate:
			copies = 2
		case WebhookDelay:
			delay = f.Latency
		}
	}
	for range copies {
		h.wg.Add(1)
		go h.deliver(ev, delay)
	}
}

// event is one webhook to deliver, retries included.
type event struct {
	id, paymentKey, orderID, status string
	body                            []byte
}

// deliver posts ev until it gets a 200 or runs out of retries.
func (h *webhooks) deliver(ev event, delay time.Duration) {
	defer h.wg.Done()
	if !h.wait(delay) {
		return
	}
	for retry := 0; ; retry++ {
		if h.post(ev, retry) {
			return
		}
		if retry >= len(h.delays) || !h.wait(h.delays[retry]) {
			h.log.Warn("webhook abandoned", "transmissionId", ev.id, "paymentKey", ev.paymentKey, "retries", retry)
			return
		}
	}
}

// wait sleeps d unless the sandbox closes first.
func (h *webhooks) wait(d time.Duration) bool {
	if d <= 0 {
		return h.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// post makes one attempt and reports whether it succeeded (HTTP 200 only).
func (h *webhooks) post(ev event, retry int) bool {
	url := h.target()
	att := WebhookAttempt{
		TransmissionID: ev.id, PaymentKey: ev.paymentKey, OrderID: ev.orderID,
		Status: ev.status, RetriedCount: retry, URL: url, At: h.now(),
	}
	defer func() {
		h.mu.Lock()
		h.attempts = append(h.attempts, att)
		h.mu.Unlock()
	}()
	if url == "" {
		att.Error = "no webhook URL"
		return false
	}
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, url, bytes.NewReader(ev.body))
	if err != nil {
		att.Error = err.Error()
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("tosspayments-webhook-transmission-time", isoTime(att.At))
	req.Header.Set("tosspayments-webhook-transmission-retried-count", strconv.Itoa(retry))
	req.Header.Set("tosspayments-webhook-transmission-id", ev.id)
	resp, err := h.client.Do(req)
	if err != nil {
		att.Error = err.Error()
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	att.ResponseStatus = resp.StatusCode
	return resp.StatusCode == http.StatusOK
}

// Webhook kinds the sandbox can send besides the PAYMENT_STATUS_CHANGED it
// sends on its own (docs/toss.md §7). A merchant registers a URL for several
// kinds, so a receiver must cope with all of them.
const (
	WebhookDepositCallback       = "DEPOSIT_CALLBACK"
	WebhookCancelStatusChanged   = "CANCEL_STATUS_CHANGED"
	WebhookBillingDeleted        = "BILLING_DELETED"
	WebhookMethodUpdated         = "METHOD_UPDATED"
	WebhookCustomerStatusChanged = "CUSTOMER_STATUS_CHANGED"
	WebhookPayoutChanged         = "payout.changed"
	WebhookSellerChanged         = "seller.changed"
)

// WebhookKinds lists the kinds SendWebhook accepts.
var WebhookKinds = []string{
	WebhookDepositCallback, WebhookCancelStatusChanged, WebhookBillingDeleted,
	WebhookMethodUpdated, WebhookCustomerStatusChanged, WebhookPayoutChanged, WebhookSellerChanged,
}

// webhookBody builds a body of kind shaped as Toss sends it. DEPOSIT_CALLBACK
// is flat and has no eventType; payouts and sellers carry entityBody.
func webhookBody(kind, orderID string, at time.Time) ([]byte, error) {
	created := at.In(kst).Format("2006-01-02T15:04:05.000000")
	var v any
	switch kind {
	case WebhookDepositCallback:
		v = map[string]any{"createdAt": created, "secret": "ps_" + randomString(20), "status": "DONE",
			"transactionKey": randomString(32), "orderId": orderID}
	case WebhookCancelStatusChanged:
		v = map[string]any{"eventType": kind, "createdAt": created, "data": map[string]any{
			"transactionKey": randomString(32), "cancelReason": "sandbox", "cancelAmount": 1000,
			"cancelStatus": "DONE", "canceledAt": isoTime(at)}}
	case WebhookBillingDeleted:
		v = map[string]any{"eventType": kind, "createdAt": created, "data": map[string]any{
			"billingKey": "bln_" + randomString(20), "reason": nil}}
	case WebhookMethodUpdated:
		v = map[string]any{"eventType": kind, "createdAt": created, "data": map[string]any{
			"customerKey": "cus_sandbox", "methodKey": "mk_" + randomString(20), "status": "ENABLED"}}
	case WebhookCustomerStatusChanged:
		v = map[string]any{"eventType": kind, "createdAt": created, "data": map[string]any{
			"customerKey": "cus_sandbox", "status": "PASSWORD_CHANGED", "changedAt": isoTime(at)}}
	case WebhookPayoutChanged, WebhookSellerChanged:
		v = map[string]any{"eventType": kind, "createdAt": isoTime(at), "version": "2022-11-16",
			"eventId": "evt_" + randomString(20), "entityType": strings.TrimSuffix(kind, ".changed"),
			"entityBody": map[string]any{"status": "COMPLETED"}}
	default:
		return nil, fmt.Errorf("unknown webhook kind %q: want one of %s", kind, strings.Join(WebhookKinds, ", "))
	}
	return json.Marshal(v)
}

// SendWebhook delivers one webhook of kind (see WebhookKinds) about
// orderID, with Toss's transmission headers and retries, as Toss would when
// the merchant registered the URL for that kind. It is how tests prove a
// receiver acknowledges kinds it does not act on.
func (s *Sandbox) SendWebhook(kind, orderID string) error {
	body, err := webhookBody(kind, orderID, s.Now())
	if err != nil {
		return err
	}
	h := s.hooks
	if h.target() == "" || h.ctx.Err() != nil {
		return fmt.Errorf("no webhook URL configured")
	}
	h.wg.Add(1)
	go h.deliver(event{id: "whtrans_" + randomString(20), orderID: orderID, status: kind, body: body}, 0)
	return nil
}
