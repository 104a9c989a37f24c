package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is an injectable clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// env is a sandbox served by an httptest server under /sandbox, the way pago
// mounts it.
type env struct {
	t      *testing.T
	sb     *Sandbox
	srv    *httptest.Server
	base   string // srv.URL + "/sandbox"
	client *http.Client
	clock  *fakeClock
}

func newEnv(t *testing.T, mods ...func(*Config)) *env {
	t.Helper()
	// 2024-01-01T16:00:00Z is 2024-01-02 01:00 in Seoul: dates differ by zone.
	clock := &fakeClock{t: time.Date(2024, 1, 1, 16, 0, 0, 0, time.UTC)}
	cfg := Config{BasePath: "/sandbox", Now: clock.Now, WebhookRetryDelays: []time.Duration{},
		RedirectOrigins: []string{"http://shop.test"}}
	for _, m := range mods {
		m(&cfg)
	}
	sb := New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", sb))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		sb.Close()
		srv.Close()
	})
	return &env{t: t, sb: sb, srv: srv, base: srv.URL + "/sandbox", client: srv.Client(), clock: clock}
}

func basicAuth(key string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
}

// result is a decoded API answer.
type result struct {
	status int
	raw    []byte
	body   map[string]any
}

func (r result) code() string { s, _ := r.body["code"].(string); return s }

// call makes an authenticated API request; hdr adds or overrides headers
// ("Authorization": "" removes auth).
func (e *env) call(method, path string, body any, hdr map[string]string) result {
	e.t.Helper()
	res, err := e.try(e.client, method, path, body, hdr)
	require.NoError(e.t, err)
	return res
}

func (e *env) try(c *http.Client, method, path string, body any, hdr map[string]string) (result, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(e.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", basicAuth(DefaultSecretKey))
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	res := result{status: resp.StatusCode, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(e.t, json.Unmarshal(raw, &res.body), string(raw))
	}
	return res, nil
}

// authenticated creates a payment and authenticates it with card, as the
// pay page would, returning the paymentKey.
func (e *env) authenticated(orderID string, amount int64, card string) string {
	e.t.Helper()
	key, err := e.sb.CreatePayment(PaymentRequest{OrderID: orderID, OrderName: "테스트 주문", Amount: amount})
	require.NoError(e.t, err)
	require.NoError(e.t, e.sb.Authenticate(key, card))
	return key
}

func (e *env) confirm(key, orderID string, amount int64, hdr map[string]string) result {
	e.t.Helper()
	return e.call("POST", "/v1/payments/confirm", map[string]any{"paymentKey": key, "orderId": orderID, "amount": amount}, hdr)
}

func (e *env) get(key string) result {
	e.t.Helper()
	return e.call("GET", "/v1/payments/"+key, nil, nil)
}

// freshClient never reuses connections, so a dropped connection surfaces as
// an error instead of being retried transparently by net/http (it replays a
// POST carrying an Idempotency-Key on a reused connection).
func freshClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// mustServe serves h on a test server and returns its URL.
func mustServe(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
