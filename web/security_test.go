package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/graph"
	"github.com/pago/pago/payment"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type anyUser struct{}

func (anyUser) Ensure(_ context.Context, name string, admin bool) (payment.User, error) {
	return payment.User{ID: "usr_" + name, Name: name, IsAdmin: admin}, nil
}

type countingAcceptor struct{ n atomic.Int64 }

func (c *countingAcceptor) AcceptWebhook(context.Context, string, string, payment.GatewayStatus) error {
	c.n.Add(1)
	return nil
}

// testServer is web.New with no payment service behind it: every case here
// is decided before one would be called.
func testServer(t *testing.T, mod func(*Config)) (http.Handler, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	cfg := Config{
		Logger:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:       NewMetrics(),
		Tokens:        NewTokens([]byte("secret-0123456789abcdef0123456789ab"), time.Now),
		Users:         anyUser{},
		Resolver:      &graph.Resolver{},
		PublicURL:     "http://pago.test",
		MaxDepth:      10,
		MaxComplexity: 1000,
		Webhooks:      &countingAcceptor{},
	}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg), logs
}

func postBody(h http.Handler, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var out struct {
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	require.NotEmpty(t, out.Errors, rec.Body.String())
	c, _ := out.Errors[0].Extensions["code"].(string)
	return c
}

// Client mistakes were answered INTERNAL (a 1 MB body with HTTP 200) and
// logged whole at ERROR: now 400/413 with a client code and a short line.
func TestClientMistakesAreClientErrors(t *testing.T) {
	h, logs := testServer(t, nil)
	huge := append([]byte(`{"query":"{ me { id } }","variables":{"x":"`), bytes.Repeat([]byte("A"), 2<<20)...)
	huge = append(huge, `"}}`...)
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"malformed JSON", []byte(`{"query": "{ me { id } }"`), 400},
		{"garbage", []byte("\x00\x01garbage" + strings.Repeat("X", 50_000)), 400},
		{"batched array", []byte(`[{"query":"{ me { id } }"},{"query":"{ me { id } }"}]`), 400},
		{"a JSON string", []byte(`"{ me { id } }"`), 400},
		{"query not a string", []byte(`{"query": 42}`), 400},
		{"variables not an object", []byte(`{"query": "{ me { id } }", "variables": [1]}`), 400},
		{"no query", []byte(`{}`), 400},
		{"empty body", nil, 400},
		{"over 1 MB", huge, 413},
	} {
		rec := postBody(h, tc.body)
		require.Equal(t, tc.status, rec.Code, tc.name)
		require.Equal(t, "BAD_USER_INPUT", errorCode(t, rec), tc.name)
	}
	require.NotContains(t, logs.String(), `"level":"ERROR"`)
	require.NotContains(t, logs.String(), "AAAAAAAAAA", "bodies are not logged")
	require.NotContains(t, logs.String(), "XXXXXXXXXX", "bodies are not logged")
	require.Less(t, len(logs.String()), 20_000, "log lines are bounded")
}

// /metrics was public in production.
func TestMetricsAccess(t *testing.T) {
	get := func(h http.Handler, auth string) int {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	prod, _ := testServer(t, nil)
	require.Equal(t, http.StatusNotFound, get(prod, ""), "production without a token serves no /metrics")
	dev, _ := testServer(t, func(c *Config) { c.Dev, c.MetricsPublic = true, true })
	require.Equal(t, http.StatusOK, get(dev, ""))
	tok, _ := testServer(t, func(c *Config) { c.MetricsToken = "metrics-token-0123456789" })
	require.Equal(t, http.StatusUnauthorized, get(tok, ""))
	require.Equal(t, http.StatusUnauthorized, get(tok, "Bearer wrong"))
	require.Equal(t, http.StatusOK, get(tok, "Bearer metrics-token-0123456789"))
}

func webhookBody(paymentKey string) string {
	return fmt.Sprintf(`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":%q,"status":"DONE"}}`, paymentKey)
}

// Each webhook with a fresh transmission id cost one PG look-up; now one
// payment key costs at most one per window, plus one at its end.
func TestWebhookLookupsAreCoalescedPerPaymentKey(t *testing.T) {
	acc := &countingAcceptor{}
	h := pgWebhook(acc)
	for i := range 50 {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/pg", strings.NewReader(webhookBody("tgen_20240101aaaa")))
		req.Header.Set("tosspayments-webhook-transmission-id", fmt.Sprintf("whtrans_%d", i))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
	}
	require.EqualValues(t, 1, acc.n.Load(), "one look-up now for 50 webhooks")

	// Another key is not held back by the first.
	req := httptest.NewRequest(http.MethodPost, "/webhooks/pg", strings.NewReader(webhookBody("tgen_20240101bbbb")))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.EqualValues(t, 2, acc.n.Load())
}

// The webhooks inside a window still cause one look-up at its end, so a
// second status change is not missed.
func TestCoalescedWebhooksGetTrailingLookup(t *testing.T) {
	acc := &countingAcceptor{}
	c := &coalescer{acc: acc, window: 50 * time.Millisecond, keys: map[string]*coalesced{}}
	for range 20 {
		require.NoError(t, c.accept(context.Background(), "d", "tgen_k", ""))
	}
	require.EqualValues(t, 1, acc.n.Load())
	require.Eventually(t, func() bool { return acc.n.Load() == 2 }, 20*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	require.EqualValues(t, 2, acc.n.Load(), "one trailing look-up, not one per webhook")
}
