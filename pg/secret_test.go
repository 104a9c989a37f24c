package pg_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes slog may make.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSecretNeverInErrorsOrLogs(t *testing.T) {
	// A hostile or buggy hop that echoes the request's Authorization header
	// (and the decoded secret) back in its error bodies.
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		n := hits
		mu.Unlock()
		auth := r.Header.Get("Authorization")
		switch n % 3 {
		case 0:
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "<html>upstream saw %s (%s)</html>", auth, testSecret)
		case 1:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"code":"INVALID_REQUEST","message":"bad header %s for key %s"}`, auth, testSecret)
		default:
			time.Sleep(50 * time.Millisecond)
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)

	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mk := func(base string, mod func(*pg.Config)) *pg.Client {
		return newClient(t, base, func(cfg *pg.Config) {
			cfg.Logger = logger
			cfg.RequestTimeout = 20 * time.Millisecond
			cfg.Breaker = pg.BreakerConfig{ConsecutiveFailures: 4, OpenTimeout: time.Minute}
			if mod != nil {
				mod(cfg)
			}
		})
	}
	c := mk(srv.URL, nil)
	refused := mk(refusedURL(t), nil)
	ctx := context.Background()

	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }
	for range 3 {
		collect(c.Confirm(ctx, confirmReq(), "k"))
		collect(c.GetPayment(ctx, testPaymentKey))
		collect(c.Cancel(ctx, testPaymentKey, pg.CancelRequest{CancelReason: "r"}, "k"))
		collect(c.Settlements(ctx, pg.SettlementsQuery{StartDate: "2024-01-01", EndDate: "2024-01-01"}))
		collect(refused.Confirm(ctx, confirmReq(), "k"))
	}
	collect(c.Confirm(ctx, confirmReq(), "")) // invalid argument

	require.NotEmpty(t, logs.String(), "the test must actually exercise logging")
	require.Contains(t, logs.String(), "circuit breaker", "breaker changes are logged")

	forbidden := []string{testSecret, strings.TrimPrefix(testBasic, "Basic "), "zXLkKEypNArWmo50nX3lmeaxYG5R"}
	for _, err := range errs {
		require.Error(t, err)
		for _, f := range forbidden {
			require.NotContains(t, err.Error(), f)
			require.NotContains(t, fmt.Sprintf("%+v", err), f)
		}
	}
	for _, f := range forbidden {
		require.NotContains(t, logs.String(), f)
	}

	// Printing or logging the configuration masks the key too.
	cfg := pg.Config{BaseURL: srv.URL, SecretKey: testSecret}
	var cfgLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&cfgLog, nil)).Info("config", "pg", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfgLog.String()} {
		require.NotContains(t, s, "zXLkKEypNArWmo50nX3lmeaxYG5R")
		require.Contains(t, s, "test_sk_****")
	}
}
