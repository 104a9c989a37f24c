package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/store/storetest"
)

// The fuzz targets send what an attacker can send to a running pago (SQLite,
// in-process Redis and sandbox) and check the promises of SECURITY.md: the
// process survives, a client's mistake is never a 5xx or INTERNAL, and no
// answer carries internal text. `go test` replays the seeds below (the
// issue's attacks) as part of `make test`; `make fuzz` explores further.

// fuzzServer is one pago for a whole fuzz target (the fuzzing engine calls
// the target function many times in each worker process).
// Its log goes to a buffer, not to f.Log (which must not be called while
// the target runs).
func fuzzServer(f *testing.F) *testServer {
	f.Helper()
	env := testEnv(f, storetest.SQLite(), nil)
	srv := httptest.NewUnstartedServer(nil)
	env["PAGO_PUBLIC_URL"] = "http://" + srv.Listener.Addr().String()
	cfg, err := loadConfig(getenvFrom(env))
	require.NoError(f, err)
	logs := &lastLines{}
	a, err := newAppWith(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})), appOptions{})
	require.NoError(f, err)
	srv.Config.Handler = a.handler
	srv.Start()
	f.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.close(ctx)
		if tail := logs.String(); tail != "" {
			f.Logf("last log lines:\n%s", tail)
		}
	})
	return &testServer{t: f, URL: srv.URL, cfg: cfg, app: a, srv: srv}
}

// lastLines keeps the last few log lines.
type lastLines struct {
	mu    sync.Mutex
	lines [][]byte
}

func (l *lastLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, bytes.Clone(p))
	if len(l.lines) > 20 {
		l.lines = l.lines[1:]
	}
	return len(p), nil
}

func (l *lastLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(bytes.Join(l.lines, nil))
}

// internalText is what must never reach a client.
var internalText = []string{"map[string]", "interface {}", "goroutine ", "runtime error", "SQLSTATE", "sqlite", "dial tcp",
	"json: cannot", "invalid character", "unable to get Request Body", "panic"}

func checkAnswer(t *testing.T, what string, status int, body []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: HTTP %d: %.300s", what, status, body)
	}
	for _, s := range internalText {
		if bytes.Contains(body, []byte(s)) {
			t.Fatalf("%s: the answer carries internal text %q: %.300s", what, s, body)
		}
	}
}

func FuzzGraphQL(f *testing.F) {
	s := fuzzServer(f)
	tok := s.token("fuzzer", false)
	for _, seed := range []struct{ query, vars string }{
		{"{ me { id } }", ""},
		{"query{...A} fragment A on Query{...A}", ""},
		{"query{...A} fragment A on Query{...B} fragment B on Query{...A}", ""},
		{"subscription{...S} fragment S on Subscription{...S}", ""},
		{"query { ...F0 } fragment F0 on Query { ...F1 ...F1 } fragment F1 on Query { ...F2 ...F2 } fragment F2 on Query { me { id } }", ""},
		{`{ __type(name: "Order") { ...T } } fragment T on __Type { ofType { ...T } }`, ""},
		{"{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }", ""},
		{"{ a: orders(first: 100) { nodes { payments { events { detail } } } } b: orders(first: 100) { nodes { id } } }", ""},
		{"query($a: String) { orders(after: $a) { nodes { id } } }", `{"a": "b3JkOgA"}`},
		{"query($id: ID!) { order(id: $id) { id } }", `{"id": "ord_\u0000"}`},
		{`mutation($k: String!) { createWallet(input: {idempotencyKey: $k}) { wallet { id } } }`, `{"k": "k\u202e"}`},
		{`mutation($k: String!) { createWallet(input: {idempotencyKey: $k}) { wallet { id } } }`, `{"k": 5}`},
		{`{ orders(first: 1000) { nodes { id } } }`, ""},
		{`{ orders(first: -2147483648) { nodes { id } } }`, ""},
		{`{ ordr { id } }`, ""},
		{`query($x: Money) { __typename }`, `{"x": 1e400}`},
		{`mutation { createOrder(input: {idempotencyKey: "o", items: [{productId: "x", quantity: 99999999999}]}) { order { id } } }`, ""},
		{"", ""},
		{"{", `[`},
	} {
		f.Add(seed.query, seed.vars, false)
		f.Add(seed.query, seed.vars, true)
	}
	f.Fuzz(func(t *testing.T, query, vars string, authed bool) {
		body := map[string]any{"query": query}
		if vars != "" {
			body["variables"] = json.RawMessage(vars)
		}
		raw, err := json.Marshal(body)
		if err != nil { // vars is not JSON: send it as it is, a malformed body
			raw = []byte(`{"query":` + mustJSON(query) + `,"variables":` + vars + `}`)
		}
		token := ""
		if authed {
			token = tok
		}
		status, answer := postGraphQL(t, s.URL, raw, token)
		checkAnswer(t, "POST /graphql", status, answer)
		var res gqlResponse
		if err := json.Unmarshal(answer, &res); err != nil {
			t.Fatalf("the answer is not JSON: %.300s", answer)
		}
		for _, e := range res.Errors {
			if e.Extensions["code"] == "INTERNAL" {
				t.Fatalf("INTERNAL for a client's request: %.300s", answer)
			}
		}
	})
}

// The raw body of POST /graphql, not only JSON-shaped ones.
func FuzzGraphQLBody(f *testing.F) {
	s := fuzzServer(f)
	for _, seed := range []string{`{"query":"{ me { id } }"}`, `[{"query":"{ me { id } }"}]`, `{"query":`, "\x00", `"x"`,
		`{"query":"query{...A} fragment A on Query{...A}"}`, `{"query":"{ me { id } }","variables":[]}`, `{"query":null}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		status, answer := postGraphQL(t, s.URL, body, "")
		checkAnswer(t, "POST /graphql", status, answer)
		if bytes.Contains(answer, []byte(`"INTERNAL"`)) {
			t.Fatalf("INTERNAL for a client's request: %.300s", answer)
		}
	})
}

func FuzzWebhook(f *testing.F) {
	s := fuzzServer(f)
	for _, seed := range []struct{ body, id string }{
		{`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"tgen_20240101abcd","status":"DONE"}}`, "whtrans_1"},
		{`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"../../etc"}}`, ""},
		{`{"eventType":"SOMETHING_ELSE","data":{}}`, ""},
		{`not json`, ""},
		{`[]`, strings.Repeat("x", 200)},
		{`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"tgen_\u0000"}}`, "\x00"},
	} {
		f.Add(seed.body, seed.id)
	}
	f.Fuzz(func(t *testing.T, body, id string) {
		req, err := http.NewRequest(http.MethodPost, s.URL+"/webhooks/pg", strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if id != "" && !strings.ContainsAny(id, "\r\n\x00") {
			req.Header.Set("tosspayments-webhook-transmission-id", id)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return // net/http refused to send it (a bad header value)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkAnswer(t, "POST /webhooks/pg", resp.StatusCode, answer)
	})
}

func FuzzCheckoutPages(f *testing.F) {
	s := fuzzServer(f)
	for _, seed := range []struct{ path, a, b, c string }{
		{"success", "tgen_20240101abcd", "ord_01", "1000"},
		{"success", "", "", "-1"},
		{"success", "x\x00", "../../", "99999999999999999999"},
		{"fail", "PAY_PROCESS_CANCELED", "<script>alert(1)</script>", "ord_01"},
		{"ord_01", "", "", ""},
		{"ord_01/status", "", "", ""},
		{"%00", "", "", ""},
	} {
		f.Add(seed.path, seed.a, seed.b, seed.c)
	}
	f.Fuzz(func(t *testing.T, path, a, b, c string) {
		q := url.Values{"paymentKey": {a}, "orderId": {b}, "amount": {c}, "code": {a}, "message": {b}, "t": {c}}
		u := s.URL + "/checkout/" + url.PathEscape(path)
		if strings.Contains(path, "/") {
			u = s.URL + "/checkout/" + path
		}
		req, err := http.NewRequest(http.MethodGet, u+"?"+q.Encode(), nil)
		if err != nil {
			return
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkAnswer(t, "GET "+req.URL.Path, resp.StatusCode, answer)
		if bytes.Contains(answer, []byte("<script>alert(1)")) {
			t.Fatalf("reflected markup in %s", req.URL)
		}
	})
}
