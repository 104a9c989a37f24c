package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/pago/pago/store/storetest"
)

func (s *testServer) wsDial(ctx context.Context) *websocket.Conn {
	s.t.Helper()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(s.t, err)
	return conn
}

type wsMessage struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// Subscriptions: the protocol's close codes (a standard client stops
// instead of reconnecting thousands of times), no token echoed in the ack,
// and a cap on live subscriptions per connection.
func TestWebsocketSecurity(t *testing.T) {
	s := startServer(t, testEnv(t, storetest.SQLite(), map[string]string{"PAGO_MAX_SUBSCRIPTIONS_PER_CONNECTION": "3"}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, bad := range []string{"Bearer not-a-token", "Bearer " + s.token("alice", false)[:20], "Basic abc"} {
		conn := s.wsDial(ctx)
		require.NoError(t, wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": bad}}))
		var err error
		for err == nil {
			var m wsMessage
			err = wsjson.Read(ctx, conn, &m)
		}
		require.Equal(t, websocket.StatusCode(4401), websocket.CloseStatus(err), "%q: %v", bad, err)
	}

	// A malformed message is 4400.
	conn := s.wsDial(ctx)
	require.NoError(t, conn.Write(ctx, websocket.MessageText, []byte("{not json")))
	var err error
	for err == nil {
		_, _, err = conn.Read(ctx)
	}
	require.Equal(t, websocket.StatusCode(4400), websocket.CloseStatus(err), "%v", err)

	// The ack does not carry the token back.
	tok := s.token("alice", false)
	conn = s.wsDial(ctx)
	defer conn.CloseNow()
	require.NoError(t, wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + tok}}))
	_, raw, err := conn.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(raw), "connection_ack")
	require.NotContains(t, string(raw), tok)
	require.NotContains(t, string(raw), "Authorization")

	alice := s.customer("alice")
	prod := s.product("tea", 1000, 50)
	var orders []string
	for range 4 {
		orders = append(orders, alice.order(prod, 1))
	}
	q := `subscription($id: ID!) { orderUpdated(orderId: $id) { id status } }`
	for i, o := range orders {
		require.NoError(t, wsjson.Write(ctx, conn, map[string]any{"id": fmt.Sprint(i), "type": "subscribe",
			"payload": map[string]any{"query": q, "variables": map[string]any{"id": o}}}))
	}
	got := map[string]string{}
	for len(got) < 4 {
		var m wsMessage
		require.NoError(t, wsjson.Read(ctx, conn, &m))
		if _, seen := got[m.ID]; seen || (m.Type != "next" && m.Type != "error") {
			continue
		}
		got[m.ID] = string(m.Payload)
	}
	refused := 0
	for _, p := range got {
		if strings.Contains(p, "TOO_MANY_SUBSCRIPTIONS") {
			refused++
		}
	}
	require.Equal(t, 1, refused, "the fourth subscription on the socket is refused: %v", got)
}

// Unpaid orders could hold all of a product's stock until they expired.
func TestOpenOrderCaps(t *testing.T) {
	s := startServer(t, testEnv(t, storetest.SQLite(), map[string]string{"PAGO_MAX_OPEN_ORDERS": "3", "PAGO_MAX_RESERVED_UNITS": "10"}))
	alice := s.customer("alice")
	prod := s.product("tea", 1000, 1000)
	var ids []string
	for range 3 {
		ids = append(ids, alice.order(prod, 1))
	}
	order := func(c *customer, qty int) gqlResponse {
		return c.do(orderQ, map[string]any{"k": "o-" + storetest.RandomHex(8), "p": prod, "q": qty})
	}
	require.Equal(t, "TOO_MANY_OPEN_ORDERS", order(alice, 1).code())
	require.Equal(t, 997, s.stock(prod), "the refused order took no stock")
	alice.do(`mutation($k: String!, $o: ID!) { cancelOrder(input: {idempotencyKey: $k, orderId: $o}) { order { id } } }`,
		map[string]any{"k": "cancel-1", "o": ids[0]}).into(t, &struct{}{})
	require.Empty(t, order(alice, 1).Errors, "a canceled order frees its place")

	bob := s.customer("bob")
	require.Empty(t, order(bob, 6).Errors)
	require.Equal(t, "TOO_MANY_OPEN_ORDERS", order(bob, 5).code(), "11 units reserved")
	require.Empty(t, order(bob, 4).Errors, "10 units are allowed")
	s.verify()
}

// Redis down at start: pago starts, says so at ERROR, reports not ready,
// answers wallet payments with an error at once (not "busy" after the
// lock wait), and recovers by itself when Redis returns.
func TestRedisDownAtStart(t *testing.T) {
	m := miniredis.NewMiniRedis()
	require.NoError(t, m.StartAddr("127.0.0.1:0"))
	addr := m.Addr()
	m.Close()

	logs := &syncBuffer{}
	env := testEnv(t, storetest.SQLite(), map[string]string{"PAGO_REDIS_URL": "redis://" + addr})
	srv := httptest.NewUnstartedServer(nil)
	env["PAGO_PUBLIC_URL"] = "http://" + srv.Listener.Addr().String()
	cfg, err := loadConfig(getenvFrom(env))
	require.NoError(t, err)
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := newAppWith(context.Background(), cfg, log, appOptions{})
	require.NoError(t, err, "pago starts while Redis is down")
	srv.Config.Handler = a.handler
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.close(ctx)
	})
	s := &testServer{t: t, URL: srv.URL, cfg: cfg, app: a, srv: srv}
	require.Contains(t, logs.String(), `"level":"ERROR","msg":"redis is down at start`)

	ready := func() int {
		resp, err := http.Get(s.URL + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusServiceUnavailable, ready())

	alice := s.customer("alice")
	alice.do(createWalletQ, map[string]any{"k": "w-alice"}).into(t, &struct{}{})
	orderID := alice.order(s.product("tea", 1000, 5), 1)
	start := time.Now()
	res := s.gql(s.token("ops", true), adjustQ, map[string]any{"k": "fund-alice", "u": alice.id, "a": 5000})
	require.Equal(t, "INTERNAL", res.code(), "not REQUEST_IN_PROGRESS: the wallet is not busy, Redis is down")
	require.Less(t, time.Since(start), cfg.LockWait, "answered without waiting out the lock wait")
	require.Contains(t, logs.String(), "redis unreachable")

	// Redis comes back on the same address: pago recovers by itself.
	m2 := miniredis.NewMiniRedis()
	require.NoError(t, m2.StartAddr(addr))
	t.Cleanup(m2.Close)
	require.Eventually(t, func() bool { return ready() == http.StatusOK }, 30*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "redis is back") }, 30*time.Second, 100*time.Millisecond)
	s.gql(s.token("ops", true), adjustQ, map[string]any{"k": "fund-alice-2", "u": alice.id, "a": 5000}).into(t, &struct{}{})
	alice.do(payQ, map[string]any{"k": "pay-1", "o": orderID}).into(t, &struct{}{})
	require.Equal(t, int64(4000), alice.balance())
	s.verify()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// rawPost sends body to /graphql as it is.
func (s *testServer) rawPost(body []byte, token string) (int, []byte) {
	return postGraphQL(s.t, s.URL, body, token)
}

func postGraphQL(t testing.TB, base string, body []byte, token string) (int, []byte) {
	req, err := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

// The attacks, against a running pago on both engines: the
// process survives every one, each gets a 4xx with a client code, and no
// answer carries internal text.
func TestAttacksFromOutside(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, nil))
		tok := s.token("mallory", false)
		nulCursor := base64.RawURLEncoding.EncodeToString([]byte("ord:\x00"))
		doubling := func(n int) string {
			var b strings.Builder
			b.WriteString("query { ...F0 }")
			for i := range n {
				fmt.Fprintf(&b, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
			}
			fmt.Fprintf(&b, " fragment F%d on Query { me { id } }", n)
			return b.String()
		}
		aliases := func() string {
			var b strings.Builder
			b.WriteString("{")
			for i := range 60 {
				fmt.Fprintf(&b, " a%d: orders(first: 100) { nodes { payments { events { detail } } } }", i)
			}
			return b.String() + " }"
		}
		for _, tc := range []struct {
			name, body, code string
			status           int
		}{
			{"fragment cycle", `{"query":"query{...A} fragment A on Query{...A}"}`, "GRAPHQL_VALIDATION_FAILED", 422},
			{"doubling fragments", mustJSON(map[string]any{"query": doubling(40)}), "QUERY_TOO_COMPLEX", 422},
			{"60 aliases of orders", mustJSON(map[string]any{"query": aliases()}), "QUERY_TOO_COMPLEX", 422},
			{"malformed JSON", `{"query":`, "BAD_USER_INPUT", 400},
			{"batched", `[{"query":"{ me { id } }"}]`, "BAD_USER_INPUT", 400},
			{"NUL in cursor", mustJSON(map[string]any{"query": `query($a: String) { orders(after: $a) { nodes { id } } }`, "variables": map[string]any{"a": nulCursor}}), "BAD_USER_INPUT", 200},
			{"NUL in an id", mustJSON(map[string]any{"query": `query($id: ID!) { order(id: $id) { id } }`, "variables": map[string]any{"id": "ord_\x00"}}), "BAD_USER_INPUT", 200},
			{"NUL in a key", mustJSON(map[string]any{"query": `mutation { createWallet(input: {idempotencyKey: "k\u0000"}) { wallet { id } } }`}), "BAD_USER_INPUT", 200},
			{"money as an object", mustJSON(map[string]any{"query": `mutation($a: Money) { createOrder(input: {idempotencyKey: "m1", kind: WALLET_TOPUP, amount: $a}) { order { id } } }`, "variables": map[string]any{"a": map[string]any{"x": 1}}}), "BAD_USER_INPUT", 200},
			{"bidi key", mustJSON(map[string]any{"query": `mutation($k: String!) { createWallet(input: {idempotencyKey: $k}) { wallet { id } } }`, "variables": map[string]any{"k": "k\u202e"}}), "BAD_USER_INPUT", 200},
		} {
			status, body := s.rawPost([]byte(tc.body), tok)
			var res gqlResponse
			require.NoError(t, json.Unmarshal(body, &res), "%s: %s", tc.name, body)
			require.Equal(t, tc.code, res.code(), "%s: %s", tc.name, body)
			if tc.status != 200 {
				require.Equal(t, tc.status, status, tc.name)
			}
			require.Less(t, status, 500, tc.name)
			requireNoInternalText(t, string(body))
		}
		status, _ := s.rawPost(append([]byte(`{"query":"{ me { id } }","x":"`), bytes.Repeat([]byte("A"), 1<<20+10)...), tok)
		require.Equal(t, http.StatusRequestEntityTooLarge, status)

		// The cycle over the websocket, too.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn := s.wsDial(ctx)
		defer conn.CloseNow()
		require.NoError(t, wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + tok}}))
		require.NoError(t, wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe",
			"payload": map[string]any{"query": "subscription{...S} fragment S on Subscription{...S}"}}))
		for {
			var m wsMessage
			require.NoError(t, wsjson.Read(ctx, conn, &m))
			if m.ID == "1" && (m.Type == "error" || m.Type == "next") {
				require.Contains(t, string(m.Payload), "GRAPHQL_VALIDATION_FAILED")
				break
			}
		}

		resp, err := http.Get(s.URL + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "still alive")
		s.verify()
	})
}

// Production hides the schema (no suggestions, no introspection as a
// client error) and /metrics, and never mounts the sandbox.
func TestProductionExposesNothingExtra(t *testing.T) {
	p := startServer(t, testEnv(t, storetest.SQLite(), map[string]string{"PAGO_ENV": "production",
		"PAGO_PG_MODE": "toss", "PAGO_PG_SECRET_KEY": "test_gsk_x", "PAGO_PG_CLIENT_KEY": "test_gck_x"}))
	tok := p.token("mallory", false)
	for _, q := range []string{`{ ordr(id: "x") { id } }`, `{ orders(status: PAYD) { nodes { id } } }`, `{ me { nme } }`} {
		res := p.gql(tok, q, nil)
		require.Equal(t, "GRAPHQL_VALIDATION_FAILED", res.code(), q)
		for _, e := range res.Errors {
			require.NotContains(t, e.Message, "Did you mean", q)
		}
	}
	res := p.gql(tok, `{ __schema { types { name } } }`, nil)
	require.Equal(t, "GRAPHQL_VALIDATION_FAILED", res.code())
	require.Less(t, res.Status, 500)
	for path, want := range map[string]int{"/metrics": 404, "/sandbox/_sandbox/faults": 404, "/sandbox/v2/standard": 404, "/playground": 404} {
		resp, err := http.Get(p.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
	}

	withToken := startServer(t, testEnv(t, storetest.SQLite(), map[string]string{"PAGO_ENV": "production",
		"PAGO_PG_MODE": "toss", "PAGO_PG_SECRET_KEY": "test_gsk_x", "PAGO_PG_CLIENT_KEY": "test_gck_x",
		"PAGO_METRICS_TOKEN": "metrics-0123456789abcdef"}))
	req, _ := http.NewRequest(http.MethodGet, withToken.URL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	req.Header.Set("Authorization", "Bearer metrics-0123456789abcdef")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// requireNoInternalText fails on text that must never reach a client.
func requireNoInternalText(t *testing.T, body string) {
	t.Helper()
	for _, s := range []string{"map[string]", "interface {}", "*errors.", "goroutine ", "runtime.", "pq:", "SQLSTATE", "sqlite", "dial tcp", "json: cannot", "body:"} {
		require.NotContains(t, body, s)
	}
}
