package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/store/storetest"
	"github.com/pago/pago/web"
)

// testServer is pago built from a real Config, served over real HTTP.
type testServer struct {
	t   testing.TB
	URL string
	cfg Config
	app *app
	srv *httptest.Server
}

// forEachEngine runs fn as a subtest on SQLite+miniredis and, when
// reachable, PostgreSQL+Redis.
func forEachEngine(t *testing.T, fn func(t *testing.T, eng storetest.Engine)) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) { fn(t, eng) })
	}
}

// testEnv is the environment of a pago on eng with its own database, key
// prefix and data directory; extra overrides it.
func testEnv(t testing.TB, eng storetest.Engine, extra map[string]string) map[string]string {
	env := map[string]string{
		"PAGO_DATA_DIR":     t.TempDir(),
		"PAGO_DATABASE_URL": eng.NewDatabase(t),
		"PAGO_REDIS_URL":    eng.RedisURL,
		"PAGO_REDIS_PREFIX": storetest.RedisPrefix(),
		"PAGO_JWT_SECRET":   "test-secret-0123456789abcdef0123456789abcdef",
		"PAGO_LOG_LEVEL":    "warn",
		// Many tests hold hundreds of unpaid orders on purpose (concurrent
		// payments, the bench); TestOpenOrderCaps tests the caps.
		"PAGO_MAX_OPEN_ORDERS":    "100000",
		"PAGO_MAX_RESERVED_UNITS": "1000000",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func getenvFrom(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func startServer(t testing.TB, env map[string]string) *testServer {
	return startServerWith(t, env, appOptions{})
}

func startServerWith(t testing.TB, env map[string]string, opts appOptions) *testServer {
	t.Helper()
	// Listen first: pago must know its public URL (checkout links, the
	// in-process PG's base URL and webhook target).
	srv := httptest.NewUnstartedServer(nil)
	if _, set := env["PAGO_PUBLIC_URL"]; !set {
		env = maps.Clone(env)
		env["PAGO_PUBLIC_URL"] = "http://" + srv.Listener.Addr().String()
	}
	cfg, err := loadConfig(getenvFrom(env))
	require.NoError(t, err)
	log := slog.New(slog.NewJSONHandler(testWriter{t}, &slog.HandlerOptions{Level: cfg.LogLevel}))
	a, err := newAppWith(context.Background(), cfg, log, opts)
	require.NoError(t, err)
	srv.Config.Handler = a.handler
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.close(ctx)
	})
	return &testServer{t: t, URL: srv.URL, cfg: cfg, app: a, srv: srv}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// token signs a token the server accepts.
func (s *testServer) token(name string, admin bool) string {
	tok, err := web.NewTokens([]byte(s.cfg.JWTSecret), time.Now).Issue(name, admin, time.Hour)
	require.NoError(s.t, err)
	return tok
}

// gqlResponse is a GraphQL response with errors decoded for assertions.
type gqlResponse struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// code is the first error's code, or "" when there is none.
func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// gql POSTs query with vars as token's user ("" = anonymous).
func (s *testServer) gql(token, query string, vars map[string]any) gqlResponse {
	s.t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(s.t, err)
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	var out gqlResponse
	require.NoError(s.t, json.Unmarshal(raw, &out), "body: %s", raw)
	out.Status = resp.StatusCode
	return out
}

// httpClient keeps enough idle connections for the concurrency tests.
var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 60 * time.Second}

// into decodes the response data into v, failing on errors.
func (r gqlResponse) into(t testing.TB, v any) {
	t.Helper()
	require.Empty(t, r.Errors, "unexpected errors: %+v", r.Errors)
	require.NoError(t, json.Unmarshal(r.Data, v))
}
