package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/store/storetest"
)

// The bench runs end to end on tiny numbers, and leaves a database that
// pago verify finds clean.
func TestBenchWallet(t *testing.T) {
	env := testEnv(t, storetest.SQLite(), nil)
	s := startServer(t, env)
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"bench", "wallet", "--url", s.URL,
		"--clients", "4", "--ops", "40", "--wallets", "4", "--duration", "10s"}, getenvFrom(env), &out, &errOut)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	t.Log(out.String())
	require.Contains(t, out.String(), "engine=sqlite")
	for _, sc := range []string{"http hot", "http many", "raw hot", "raw many"} {
		require.Regexp(t, `(?m)^\s*`+sc+`\s+40\s`, out.String(), "every scenario made all 40 payments")
	}
	require.Regexp(t, `(?m)^hot:\s+http [0-9.]+ ops/s, raw [0-9.]+ ops/s, ratio http/raw [0-9.]+$`, out.String())
	require.Regexp(t, `(?m)^many: http [0-9.]+ ops/s, raw [0-9.]+ ops/s, ratio http/raw [0-9.]+$`, out.String())
	s.verify()
}

func TestBenchRefusesNonLoopback(t *testing.T) {
	env := testEnv(t, storetest.SQLite(), nil)
	for _, u := range []string{"http://10.0.0.1:8080", "http://example.com", "https://[2001:db8::1]:8080", "http://127.0.0.1.example.com"} {
		err := run(context.Background(), []string{"bench", "wallet", "--url", u}, getenvFrom(env), &strings.Builder{}, &strings.Builder{})
		require.ErrorContains(t, err, "not loopback", u)
	}
	for _, u := range []string{"http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "http://127.9.9.9:1"} {
		_, err := loopbackURL(u)
		require.NoError(t, err, u)
	}
}
