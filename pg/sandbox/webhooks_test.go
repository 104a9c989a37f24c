package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// receiver records webhooks and answers with the statuses queued in replies
// (then 200).
type receiver struct {
	mu      sync.Mutex
	replies []int
	got     []delivery
}

type delivery struct {
	header http.Header
	body   map[string]any
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: body})
	status := http.StatusOK
	if len(rc.replies) > 0 {
		status, rc.replies = rc.replies[0], rc.replies[1:]
	}
	w.WriteHeader(status)
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func newReceiver(t *testing.T, replies ...int) (*receiver, string) {
	rc := &receiver{replies: replies}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func TestWebhookRetries(t *testing.T) {
	rc, url := newReceiver(t, 500, 503)
	e := newEnv(t, func(c *Config) {
		c.WebhookURL = url
		c.WebhookRetryDelays = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, time.Millisecond}
	})
	key := e.authenticated("order-hook-1", 10000, CardSuccess)
	require.Empty(t, rc.deliveries(), "IN_PROGRESS sends no webhook")
	require.Equal(t, 200, e.confirm(key, "order-hook-1", 10000, nil).status)

	require.Eventually(t, func() bool { return len(rc.deliveries()) == 3 }, 2*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // nothing more after the 200
	got := rc.deliveries()
	require.Len(t, got, 3)
	id := got[0].header.Get("tosspayments-webhook-transmission-id")
	require.True(t, strings.HasPrefix(id, "whtrans_"), id)
	for i, d := range got {
		require.Equal(t, id, d.header.Get("tosspayments-webhook-transmission-id"))
		require.Equal(t, []string{"0", "1", "2"}[i], d.header.Get("tosspayments-webhook-transmission-retried-count"))
		require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$`, d.header.Get("tosspayments-webhook-transmission-time"))
		require.Equal(t, "PAYMENT_STATUS_CHANGED", d.body["eventType"])
		require.Equal(t, "2024-01-02T01:00:00.000000", d.body["createdAt"])
		data := d.body["data"].(map[string]any)
		require.Equal(t, key, data["paymentKey"])
		require.Equal(t, StatusDone, data["status"])
	}
	attempts := e.sb.WebhookAttempts()
	require.Len(t, attempts, 3)
	require.Equal(t, []int{500, 503, 200}, []int{attempts[0].ResponseStatus, attempts[1].ResponseStatus, attempts[2].ResponseStatus})
}

func TestWebhookGivesUpAfterRetries(t *testing.T) {
	rc, url := newReceiver(t, 500, 500, 500, 500)
	e := newEnv(t, func(c *Config) {
		c.WebhookURL = url
		c.WebhookRetryDelays = []time.Duration{time.Millisecond, time.Millisecond}
	})
	key := e.authenticated("order-hook-2", 10000, CardSuccess)
	require.Equal(t, 200, e.confirm(key, "order-hook-2", 10000, nil).status)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 3 }, 2*time.Second, 5*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	require.Len(t, rc.deliveries(), 3, "one attempt plus two retries")
}

func TestWebhookEvents(t *testing.T) {
	rc, url := newReceiver(t)
	e := newEnv(t)
	e.sb.SetWebhookURL(url)
	statuses := func() []string {
		var out []string
		for _, d := range rc.deliveries() {
			out = append(out, d.body["data"].(map[string]any)["status"].(string))
		}
		return out
	}
	key := e.authenticated("order-hook-3", 10000, CardSuccess)
	require.Equal(t, 200, e.confirm(key, "order-hook-3", 10000, nil).status)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 1 }, time.Second, 5*time.Millisecond)
	e.call("POST", "/v1/payments/"+key+"/cancel", map[string]any{"cancelReason": "x", "cancelAmount": 1000}, nil)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 2 }, time.Second, 5*time.Millisecond)
	e.call("POST", "/v1/payments/"+key+"/cancel", map[string]any{"cancelReason": "x"}, nil)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 3 }, time.Second, 5*time.Millisecond)

	declined := e.authenticated("order-hook-4", 10000, CardDeclined)
	e.confirm(declined, "order-hook-4", 10000, nil)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 4 }, time.Second, 5*time.Millisecond)

	expiring := e.authenticated("order-hook-5", 10000, CardSuccess)
	e.sb.AdvanceClock(11 * time.Minute)
	e.get(expiring)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 5 }, time.Second, 5*time.Millisecond)

	require.ElementsMatch(t, []string{StatusDone, StatusPartialCanceled, StatusCanceled, StatusAborted, StatusExpired}, statuses())
}

func TestWebhookFaults(t *testing.T) {
	rc, url := newReceiver(t)
	e := newEnv(t, func(c *Config) { c.WebhookURL = url })
	require.NoError(t, e.sb.Faults().Inject(Fault{Kind: WebhookDuplicate, OrderID: "order-hook-dup", Times: 1}))
	key := e.authenticated("order-hook-dup", 10000, CardSuccess)
	require.Equal(t, 200, e.confirm(key, "order-hook-dup", 10000, nil).status)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 2 }, time.Second, 5*time.Millisecond)
	got := rc.deliveries()
	require.Equal(t, got[0].header.Get("tosspayments-webhook-transmission-id"), got[1].header.Get("tosspayments-webhook-transmission-id"))

	require.NoError(t, e.sb.Faults().Inject(Fault{Kind: WebhookDelay, Latency: 200 * time.Millisecond, Times: 1}))
	key = e.authenticated("order-hook-delay", 10000, CardSuccess)
	start := time.Now()
	require.Equal(t, 200, e.confirm(key, "order-hook-delay", 10000, nil).status)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 3 }, 2*time.Second, 5*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)

	// Webhook faults never disturb the REST API.
	require.NoError(t, e.sb.Faults().Inject(Fault{Kind: WebhookDelay, Latency: time.Hour}))
	require.Equal(t, 200, e.get(key).status)
}

func TestCloseStopsWebhookRetries(t *testing.T) {
	rc, url := newReceiver(t, 500)
	sb := New(Config{WebhookURL: url}) // default retry delays: minutes
	key, err := sb.CreatePayment(PaymentRequest{OrderID: "order-close-1", OrderName: "x", Amount: 1000})
	require.NoError(t, err)
	require.NoError(t, sb.Authenticate(key, CardSuccess))
	require.NoError(t, sb.ResendWebhook(key))
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 1 }, time.Second, 5*time.Millisecond)
	done := make(chan struct{})
	go func() { sb.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not stop the pending retry")
	}
}

// TestOtherWebhookKinds: the sandbox sends the other kinds Toss sends to a
// registered URL, DEPOSIT_CALLBACK flat and without eventType.
func TestOtherWebhookKinds(t *testing.T) {
	rc, url := newReceiver(t)
	e := newEnv(t, func(c *Config) { c.WebhookURL = url })
	for _, kind := range WebhookKinds {
		require.NoError(t, e.sb.SendWebhook(kind, "order-other-kinds"))
	}
	require.Error(t, e.sb.SendWebhook("NOT_A_KIND", "order-other-kinds"))
	require.Eventually(t, func() bool { return len(rc.deliveries()) == len(WebhookKinds) }, 5*time.Second, 5*time.Millisecond)
	seen := map[string]bool{}
	for _, d := range rc.deliveries() {
		require.True(t, strings.HasPrefix(d.header.Get("tosspayments-webhook-transmission-id"), "whtrans_"))
		if et, ok := d.body["eventType"].(string); ok {
			seen[et] = true
			continue
		}
		require.Equal(t, "order-other-kinds", d.body["orderId"], "DEPOSIT_CALLBACK is flat")
		require.NotEmpty(t, d.body["secret"])
		seen[WebhookDepositCallback] = true
	}
	for _, kind := range WebhookKinds {
		require.True(t, seen[kind], kind)
	}
}

// A burst of webhooks shares a few kept-alive connections: 100 deliveries
// to a receiver that holds them open no more than 32 connections.
func TestWebhookBurstSharesItsConnections(t *testing.T) {
	var mu sync.Mutex
	conns, inflight, delivered := 0, 0, 0
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inflight++
		mu.Unlock()
		<-release
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		inflight--
		delivered++
		mu.Unlock()
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseAll) // before srv.Close, which waits for the held requests
	e := newEnv(t, func(c *Config) { c.WebhookURL = srv.URL })
	const n = 100
	for i := range n {
		e.sb.hooks.paymentChanged(fmt.Sprintf("key-%d", i), fmt.Sprintf("order-%d", i), StatusDone, []byte(`{}`), e.clock.Now())
	}
	held := func() int {
		mu.Lock()
		defer mu.Unlock()
		return inflight
	}
	require.Eventually(t, func() bool { return held() >= webhookConns }, 10*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // room for more, were there more connections
	require.Equal(t, webhookConns, held(), "deliveries at once")
	releaseAll()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return delivered == n
	}, 10*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.LessOrEqual(t, conns, webhookConns, "connections opened")
}
