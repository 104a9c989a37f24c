package main

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

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

// A ratio below its target fails the bench on PostgreSQL, unless reported
// only; on SQLite the targets are printed but not enforced.
func TestBenchTargets(t *testing.T) {
	phase := func(name string, ok int) phaseResult {
		return phaseResult{name: name, ok: ok, elapsed: time.Second, lat: []time.Duration{time.Millisecond}}
	}
	results := []phaseResult{phase("http hot", 500), phase("http many", 800), phase("raw many", 1000), phase("bare", 1000)}
	var out strings.Builder
	missed := printBench(&out, results, true)
	require.Equal(t, []string{"hot ratio 0.50 < 0.60"}, missed, out.String())
	require.Contains(t, out.String(), "http hot / bare = 0.50 (target ≥ 0.60) BELOW TARGET")
	require.Contains(t, out.String(), "http many / raw many = 0.80 (target ≥ 0.70) ok")
	require.Empty(t, printBench(&out, results, false), "not enforced off PostgreSQL")
}

// pago bench confirm end to end on small numbers: every confirm PAID,
// through a standalone sandbox slowed down for the run, then cleared,
// spoken to over HTTP/2 without TLS as scripts/bench.sh does.
func TestBenchConfirm(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"sandbox", "--addr", addr}, getenvFrom(nil), io.Discard, io.Discard) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)

	env := cardEnv(t, storetest.SQLite(), map[string]string{"PAGO_PG_BASE_URL": "http://" + addr, "PAGO_PG_H2C": "true",
		"PAGO_PG_TIMEOUT": "10s", "PAGO_CONFIRM_TIMEOUT": "20s"})
	s := startServer(t, env)
	var out, errOut strings.Builder
	err = run(context.Background(), []string{"bench", "confirm", "--url", s.URL, "--pg", "http://" + addr,
		"--confirms", "20", "--latency", "200ms", "--duration", "60s", "--report-only"}, getenvFrom(env), &out, &errOut)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	t.Log(out.String())
	require.Contains(t, out.String(), "confirms 20, PAID 20,")
	require.Regexp(t, `wall / PG latency = [0-9.]+`, out.String())
	s.verify()
}

// The confirm bench's CPU figures read /proc: a process's user + system
// time past a command name holding spaces and parentheses, and the
// machine's busy time without idle and iowait.
func TestBenchReadsCPUTimes(t *testing.T) {
	stat := "4242 (pago (serve) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 150 25 0 0 20 0 12 0 100 0 0"
	require.Equal(t, 1750*time.Millisecond, processCPU([]byte(stat)), "utime 150 + stime 25 ticks")
	require.Zero(t, processCPU([]byte("4242 (pago")))

	machine := "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n"
	busy, all := machineCPU([]byte(machine))
	require.Equal(t, 1600*time.Millisecond, busy, "user+nice+system+irq+softirq+steal")
	require.Equal(t, 10*time.Second, all)
	busy, all = machineCPU([]byte("intr 1 2 3\n"))
	require.Zero(t, busy)
	require.Zero(t, all)
}
