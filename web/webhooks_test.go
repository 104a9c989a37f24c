package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pago/pago/payment"
	"github.com/stretchr/testify/require"
)

type fakeAcceptor struct {
	mu   sync.Mutex
	keys []string
}

func (f *fakeAcceptor) AcceptWebhook(_ context.Context, _ string, paymentKey string, _ payment.GatewayStatus) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, paymentKey)
	return nil
}

// TestWebhookKindsPagoDoesNotHandleAreAcknowledged: Toss retries anything
// but 200 seven times over days and then e-mails the merchant, so every
// kind it may send is answered 200; only PAYMENT_STATUS_CHANGED is acted on.
func TestWebhookKindsPagoDoesNotHandleAreAcknowledged(t *testing.T) {
	acc := &fakeAcceptor{}
	h := pgWebhook(acc)
	post := func(body string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/webhooks/pg", strings.NewReader(body))
		req.Header.Set("tosspayments-webhook-transmission-id", "whtrans_1")
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for name, body := range map[string]string{
		"DEPOSIT_CALLBACK (flat)": `{"createdAt":"2024-01-01T10:00:00.000000","secret":"ps_abc","status":"DONE","transactionKey":"tx","orderId":"ord_1"}`,
		"CANCEL_STATUS_CHANGED":   `{"eventType":"CANCEL_STATUS_CHANGED","createdAt":"2024-01-01T10:00:00.000000","data":{"cancelStatus":"DONE"}}`,
		"BILLING_DELETED":         `{"eventType":"BILLING_DELETED","createdAt":"2024-01-01T10:00:00.000000","data":{"billingKey":"b","reason":null}}`,
		"payout.changed":          `{"eventType":"payout.changed","createdAt":"2024-01-01T10:00:00+09:00","version":"2022-11-16","eventId":"e","entityType":"payout","entityBody":{}}`,
		"a kind added later":      `{"eventType":"SOMETHING_NEW","data":{}}`,
	} {
		require.Equal(t, http.StatusOK, post(body), name)
	}
	require.Empty(t, acc.keys, "none of them touches a payment")

	require.Equal(t, http.StatusOK, post(`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"pk_1","status":"DONE"}}`))
	require.Equal(t, []string{"pk_1"}, acc.keys)
	require.Equal(t, http.StatusBadRequest, post(`not json`))
}
