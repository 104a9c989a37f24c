package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/sqlc"
	"github.com/pago/pago/store"
	"github.com/pago/pago/store/storetest"
	"github.com/pago/pago/web"
)

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string // substring of the error; "" = valid
	}{
		{"defaults", nil, ""},
		{"bad env", map[string]string{"PAGO_ENV": "prod"}, `PAGO_ENV="prod" is not valid: use dev or production`},
		{"production needs a JWT secret", map[string]string{"PAGO_ENV": "production", "PAGO_PG_MODE": "sandbox"}, "PAGO_JWT_SECRET is required when PAGO_ENV=production"},
		{"short JWT secret", map[string]string{"PAGO_JWT_SECRET": "short"}, "shorter than 32 bytes"},
		{"bad duration", map[string]string{"PAGO_LOCK_WAIT": "soon"}, `PAGO_LOCK_WAIT="soon" is not a positive duration`},
		{"bad database URL", map[string]string{"PAGO_DATABASE_URL": "mysql://x"}, "PAGO_DATABASE_URL must start with postgres://"},
		{"bad redis URL", map[string]string{"PAGO_REDIS_URL": "localhost:6379"}, "PAGO_REDIS_URL must be redis://"},
		{"bad addr", map[string]string{"PAGO_ADDR": "8080"}, "PAGO_ADDR=\"8080\" is not a listen address"},
		{"bad PG mode", map[string]string{"PAGO_PG_MODE": "paypal"}, "PAGO_PG_MODE=\"paypal\" is not valid"},
		{"toss needs keys", map[string]string{"PAGO_PG_MODE": "toss"}, "needs PAGO_PG_SECRET_KEY"},
		{"toss with a widget pair", map[string]string{"PAGO_PG_MODE": "toss", "PAGO_PG_CLIENT_KEY": "live_gck_a", "PAGO_PG_SECRET_KEY": "live_gsk_b"}, ""},
		{"keys of two environments", map[string]string{"PAGO_PG_MODE": "toss", "PAGO_PG_CLIENT_KEY": "test_gck_a", "PAGO_PG_SECRET_KEY": "live_gsk_b"},
			"PAGO_PG_CLIENT_KEY and PAGO_PG_SECRET_KEY are not a pair: the client key is a test key but the secret key is a live key: copy both keys from the same environment"},
		{"widget client key with an API secret key", map[string]string{"PAGO_PG_MODE": "toss", "PAGO_PG_CLIENT_KEY": "test_gck_a", "PAGO_PG_SECRET_KEY": "test_sk_b"},
			"use the payment-widget secret key (test_gsk_…)"},
		{"API-individual pair", map[string]string{"PAGO_PG_MODE": "toss", "PAGO_PG_CLIENT_KEY": "test_ck_a", "PAGO_PG_SECRET_KEY": "test_sk_b"},
			"pago's checkout renders the payment widget, which needs the payment-widget keys"},
		{"sandbox keys are checked too", map[string]string{"PAGO_PG_SECRET_KEY": "live_gsk_b"},
			"the client key is a test key but the secret key is a live key"},
		{"bad complexity", map[string]string{"PAGO_MAX_QUERY_COMPLEXITY": "-1"}, "not a positive integer"},
		{"bad public URL", map[string]string{"PAGO_PUBLIC_URL": "localhost"}, "is not an http(s) URL"},
		{"production refuses the sandbox", map[string]string{"PAGO_ENV": "production", "PAGO_PG_MODE": "sandbox",
			"PAGO_JWT_SECRET": strings.Repeat("s", 32)}, "PAGO_PG_MODE=sandbox is not allowed when PAGO_ENV=production"},
		{"production refuses the default sandbox", map[string]string{"PAGO_ENV": "production",
			"PAGO_JWT_SECRET": strings.Repeat("s", 32)}, "PAGO_PG_MODE=sandbox is not allowed"},
		{"production with toss", map[string]string{"PAGO_ENV": "production", "PAGO_PG_MODE": "toss",
			"PAGO_PG_SECRET_KEY": "test_gsk_x", "PAGO_PG_CLIENT_KEY": "test_gck_x", "PAGO_JWT_SECRET": strings.Repeat("s", 32)}, ""},
		{"short metrics token", map[string]string{"PAGO_METRICS_TOKEN": "short"}, "PAGO_METRICS_TOKEN is shorter"},
		{"bad metrics addr", map[string]string{"PAGO_METRICS_ADDR": "9090"}, "PAGO_METRICS_ADDR"},
		{"bad open orders cap", map[string]string{"PAGO_MAX_OPEN_ORDERS": "0"}, "not a positive integer"},
		{"request timeout within a wait", map[string]string{"PAGO_REQUEST_TIMEOUT": "3s"},
			"PAGO_REQUEST_TIMEOUT=3s must be longer than PAGO_LOCK_WAIT=5s: a request would end before the answer it waits for"},
		{"request timeout past every wait", map[string]string{"PAGO_REQUEST_TIMEOUT": "6s"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(getenvFrom(tc.env))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}

	t.Run("several problems are reported together", func(t *testing.T) {
		_, err := loadConfig(getenvFrom(map[string]string{"PAGO_ENV": "x", "PAGO_LOCK_WAIT": "y"}))
		require.ErrorContains(t, err, "PAGO_ENV")
		require.ErrorContains(t, err, "PAGO_LOCK_WAIT")
	})
	t.Run("secrets are masked when printed", func(t *testing.T) {
		cfg, err := loadConfig(getenvFrom(map[string]string{"PAGO_JWT_SECRET": strings.Repeat("s3cr3t", 6),
			"PAGO_DATABASE_URL": "postgres://u:hunter2@db/pago"}))
		require.NoError(t, err)
		printed := fmt.Sprint(cfg.logAttrs()...) + fmt.Sprintf("%v %+v %s", cfg, cfg, cfg)
		require.NotContains(t, printed, "s3cr3t")
		require.NotContains(t, printed, "hunter2")
	})
	t.Run("dev secret is shared by serve and token", func(t *testing.T) {
		dir := t.TempDir()
		env := getenvFrom(map[string]string{"PAGO_DATA_DIR": dir})
		c1, _ := loadConfig(env)
		c2, _ := loadConfig(env)
		require.NoError(t, c1.ensureDevJWTSecret())
		require.NoError(t, c2.ensureDevJWTSecret())
		require.Equal(t, c1.JWTSecret, c2.JWTSecret)
		require.GreaterOrEqual(t, len(c1.JWTSecret), 32)
	})
}

func TestAuth(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, nil))
		const me = `{ me { id name isAdmin } }`

		var got struct {
			Me struct {
				ID, Name string
				IsAdmin  bool
			}
		}
		s.gql(s.token("alice", false), me, nil).into(t, &got)
		require.Equal(t, "alice", got.Me.Name)
		require.False(t, got.Me.IsAdmin)
		require.True(t, strings.HasPrefix(got.Me.ID, "usr_"))
		firstID := got.Me.ID

		// Same user next time; admin comes from the token.
		s.gql(s.token("alice", true), me, nil).into(t, &got)
		require.Equal(t, firstID, got.Me.ID)
		require.True(t, got.Me.IsAdmin)

		expired, err := web.NewTokens([]byte(s.cfg.JWTSecret), func() time.Time { return time.Now().Add(-2 * time.Hour) }).Issue("alice", false, time.Hour)
		require.NoError(t, err)
		forged, err := web.NewTokens([]byte("another-secret-0123456789abcdef0123456789"), time.Now).Issue("alice", true, time.Hour)
		require.NoError(t, err)
		good := s.token("alice", false)
		tampered := good[:len(good)-4] + "AAAA"
		// alg=none: header {"alg":"none","typ":"JWT"}
		none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + strings.Split(good, ".")[1] + "."
		for name, tok := range map[string]string{"expired": expired, "forged": forged, "tampered": tampered, "alg none": none, "garbage": "abc"} {
			resp := s.gql(tok, me, nil)
			require.Equal(t, "UNAUTHENTICATED", resp.code(), name)
			require.Equal(t, http.StatusUnauthorized, resp.Status, name)
		}
		resp := s.gql("", me, nil)
		require.Equal(t, "UNAUTHENTICATED", resp.code(), "missing token")
	})
}

func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	env := getenvFrom(map[string]string{"PAGO_DATA_DIR": dir})
	var out strings.Builder
	require.NoError(t, run(context.Background(), []string{"token", "--user", "bob", "--admin"}, env, &out, io.Discard))
	cfg, _ := loadConfig(env)
	require.NoError(t, cfg.ensureDevJWTSecret())
	name, admin, err := web.NewTokens([]byte(cfg.JWTSecret), time.Now).Verify(strings.TrimSpace(out.String()))
	require.NoError(t, err)
	require.Equal(t, "bob", name)
	require.True(t, admin)

	err = run(context.Background(), []string{"token"}, env, &out, io.Discard)
	require.ErrorContains(t, err, "--user NAME is required")
	err = run(context.Background(), []string{"token", "--user", "bad name!"}, env, &out, io.Discard)
	require.ErrorContains(t, err, "may only contain")
}

func TestQueryLimits(t *testing.T) {
	s := startServer(t, testEnv(t, storetest.SQLite(), nil))
	tok := s.token("alice", false)

	// 20 levels deep through introspection's recursive types.
	deep := "{ __schema { types { " + strings.Repeat("ofType { ", 17) + "name" + strings.Repeat(" }", 17) + " } } }"
	require.Equal(t, "QUERY_TOO_COMPLEX", s.gql(tok, deep, nil).code())

	// 20 levels deep through fragments.
	frag := "fragment F on __Type { ofType { " + strings.Repeat("ofType { ", 18) + "name" + strings.Repeat(" }", 18) + " } }"
	require.Equal(t, "QUERY_TOO_COMPLEX", s.gql(tok, "{ __type(name: \"User\") { ...F } } "+frag, nil).code())

	var b strings.Builder
	b.WriteString("{")
	for i := range 500 {
		fmt.Fprintf(&b, " a%d: me { id name }", i)
	}
	b.WriteString(" }")
	resp := s.gql(tok, b.String(), nil)
	require.Equal(t, "QUERY_TOO_COMPLEX", resp.code())
	require.Contains(t, []string{"", "null"}, string(resp.Data), "nothing may be resolved")

	require.Empty(t, s.gql(tok, "{ me { id } }", nil).Errors)
	require.Equal(t, "GRAPHQL_VALIDATION_FAILED", s.gql(tok, "{ nope }", nil).code())
}

func TestGraphQLTransports(t *testing.T) {
	s := startServer(t, testEnv(t, storetest.SQLite(), nil))
	tok := s.token("alice", false)

	req, _ := http.NewRequest(http.MethodGet, s.URL+"/graphql?query=%7Bme%7Bid%7D%7D", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(t, mw.WriteField("operations", `{"query":"{ me { id } }"}`))
	require.NoError(t, mw.WriteField("map", `{}`))
	mw.Close()
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/graphql", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)

	req, _ = http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader("query=%7Bme%7Bid%7D%7D"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
}

func TestPlaygroundIsSelfContained(t *testing.T) {
	s := startServer(t, testEnv(t, storetest.SQLite(), nil))
	resp, err := http.Get(s.URL + "/playground")
	require.NoError(t, err)
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.NotRegexp(t, `(?i)(https?:)?//[a-z0-9]`, string(html), "the page must load nothing from outside pago")

	// Every script and stylesheet it references is served by pago itself.
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(html), -1)
	require.NotEmpty(t, refs)
	for _, m := range refs {
		if strings.HasPrefix(m[1], "data:") {
			continue
		}
		r, err := http.Get(s.URL + "/" + strings.TrimPrefix(m[1], "/"))
		require.NoError(t, err)
		r.Body.Close()
		require.Equal(t, http.StatusOK, r.StatusCode, m[1])
	}

	// Production has neither playground nor introspection.
	// (Production refuses the sandbox: a toss-mode server that never calls the PG.)
	p := startServer(t, testEnv(t, storetest.SQLite(), map[string]string{"PAGO_ENV": "production",
		"PAGO_PG_MODE": "toss", "PAGO_PG_SECRET_KEY": "test_gsk_x", "PAGO_PG_CLIENT_KEY": "test_gck_x"}))
	resp, err = http.Get(p.URL + "/playground")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	intro := p.gql(p.token("alice", false), `{ __schema { queryType { name } } }`, nil)
	require.NotEmpty(t, intro.Errors)
}

func TestHealthAndReadiness(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, nil))
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/"} {
			resp, err := http.Get(s.URL + path)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, path)
		}

		s.gql(s.token("alice", false), "{ me { id } }", nil)
		resp, err := http.Get(s.URL + "/metrics")
		require.NoError(t, err)
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Contains(t, string(metrics), `pago_http_requests_total{route="POST /graphql",status="200"}`)
		require.Contains(t, string(metrics), `pago_graphql_operations_total{operation="query:me",outcome="ok"}`)

		// The database goes away: not ready, but alive.
		require.NoError(t, s.app.store.StopJobs(context.Background()))
		require.NoError(t, s.app.store.Close())
		resp, err = http.Get(s.URL + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		resp, err = http.Get(s.URL + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		env := testEnv(t, eng, nil)
		for range 3 {
			require.NoError(t, run(context.Background(), []string{"migrate"}, getenvFrom(env), io.Discard, io.Discard))
		}
		st, err := store.Open(context.Background(), env["PAGO_DATABASE_URL"])
		require.NoError(t, err)
		defer st.Close()
		var n int
		require.NoError(t, st.DB().QueryRowContext(context.Background(), "SELECT count(*) FROM pago_migrations").Scan(&n))
		files, err := fs.Glob(sqlc.Schema, "schema/"+string(st.Engine())+"/*.up.sql")
		require.NoError(t, err)
		require.Equal(t, len(files), n, "each migration applied once")
	})
}

func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"sandbox", "serve"} {
		var stderr strings.Builder
		err := run(context.Background(), []string{cmd, "--help"}, func(string) string { return "" }, io.Discard, &stderr)
		require.NoError(t, err, cmd)
		require.Contains(t, stderr.String(), "Usage of "+cmd, cmd)
	}
}

type countingAcceptor struct{ n int }

func (c *countingAcceptor) AcceptWebhook(context.Context, string, string, payment.GatewayStatus) error {
	c.n++
	return nil
}

// A webhook look-up coalesced before shutdown and due after it is not sent
// to a service whose database is closing (it logged "database is closed" at
// ERROR for every pending window at every shutdown).
func TestWebhooksStopWithTheApp(t *testing.T) {
	acc := &countingAcceptor{}
	g := &webhookGate{WebhookAcceptor: acc}
	require.NoError(t, g.AcceptWebhook(context.Background(), "d1", "pk", ""))
	g.closed.Store(true)
	require.NoError(t, g.AcceptWebhook(context.Background(), "d2", "pk", ""))
	require.Equal(t, 1, acc.n)
}
