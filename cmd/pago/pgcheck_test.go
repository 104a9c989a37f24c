package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg/sandbox"
)

func pgCheckEnv(base string) func(string) string {
	return getenvFrom(map[string]string{
		"PAGO_PG_BASE_URL":   base,
		"PAGO_PG_SECRET_KEY": sandbox.DefaultSecretKey,
		"PAGO_PG_CLIENT_KEY": sandbox.DefaultClientKey,
	})
}

// TestPGCheckPassesAgainstTheSandbox: the conformance run a merchant points
// at Toss's test environment passes against pago's sandbox, every check
// included (the sandbox's admin API authenticates the test payment).
func TestPGCheckPassesAgainstTheSandbox(t *testing.T) {
	sb := sandbox.New(sandbox.Config{})
	t.Cleanup(sb.Close)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)

	var out strings.Builder
	err := run(context.Background(), []string{"pg-check"}, pgCheckEnv(srv.URL), &out, &out)
	require.NoError(t, err, out.String())
	require.NotContains(t, out.String(), "FAIL", out.String())
	require.NotContains(t, out.String(), "skip", out.String())
	for _, check := range []string{"key pair", "auth: key accepted", "auth: wrong key refused", "auth: missing colon refused", "test code: forced decline",
		"replay: error under same key", "confirm: new key", "replay: success under same key", "repeated confirm, new key",
		"look-up by orderId", "cancel: partial", "replay: cancel under same key", "cancel: already canceled", "settlements"} {
		require.Contains(t, out.String(), "ok    "+check, out.String())
	}
}

// TestPGCheckFindsAnEndpointThatDoesNotReplay: an endpoint that forgets
// Idempotency-Keys (as a proxy stripping the header would make Toss) is a
// mismatch, and the command exits non-zero.
func TestPGCheckFindsAnEndpointThatDoesNotReplay(t *testing.T) {
	sb := sandbox.New(sandbox.Config{})
	t.Cleanup(sb.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Idempotency-Key")
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	var out strings.Builder
	err := run(context.Background(), []string{"pg-check"}, pgCheckEnv(srv.URL), &out, &out)
	require.Error(t, err)
	require.Contains(t, out.String(), "FAIL  replay: error under same key", out.String())
}

func TestPGCheckRefusesLiveKeys(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"pg-check", "--base-url", "http://127.0.0.1:1",
		"--secret-key", "live_gsk_x", "--client-key", "live_gck_x"}, getenvFrom(nil), &out, &out)
	require.ErrorContains(t, err, "refuses live keys")
	require.Empty(t, out.String(), "nothing was sent")
	require.NoError(t, run(context.Background(), []string{"pg-check", "--help"}, getenvFrom(nil), &out, &out))
}
