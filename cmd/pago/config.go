package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pago/pago/pg"
	"github.com/pago/pago/store"
)

// Config is pago's whole configuration, read from PAGO_* environment
// variables. Each field's default is in defaults(); README.md has the table.
type Config struct {
	Env       string // PAGO_ENV: dev (default) or production
	Addr      string // PAGO_ADDR: listen address, default :8080
	PprofAddr string // PAGO_PPROF_ADDR: loopback address for net/http/pprof (profiling); empty = off
	PublicURL string // PAGO_PUBLIC_URL: the URL customers reach pago at, default http://localhost:<port>
	DataDir   string // PAGO_DATA_DIR: where the SQLite file and dev secrets live, default data
	// PAGO_DATABASE_URL: postgres://… or sqlite:PATH; default sqlite:<DataDir>/pago.db
	DatabaseURL string
	// PAGO_REDIS_URL: redis://…, comma-separated for a Redlock quorum; empty = in-process Redis
	RedisURL    string
	RedisPrefix string // PAGO_REDIS_PREFIX: lock key prefix, default pago:
	JWTSecret   secret // PAGO_JWT_SECRET: HS256 key, ≥32 bytes; generated into DataDir in dev
	LogLevel    slog.Level

	PGMode      string // PAGO_PG_MODE: sandbox (default, in-process) or toss
	PGBaseURL   string // PAGO_PG_BASE_URL: default <PublicURL>/sandbox in sandbox mode, https://api.tosspayments.com for toss
	PGSecretKey secret // PAGO_PG_SECRET_KEY
	PGClientKey string // PAGO_PG_CLIENT_KEY
	// PAGO_PG_H2C: true speaks HTTP/2 without TLS to an http://
	// PAGO_PG_BASE_URL (the standalone sandbox accepts it), so that many
	// calls at once share a connection as they do over https; default false
	PGH2C bool
	// PAGO_PG_SCRIPT_URL: the PG's browser SDK the checkout page loads; default
	// <PGBaseURL>/v2/standard in sandbox mode, https://js.tosspayments.com/v2/standard for toss
	PGScriptURL string

	IdempotencyRetention time.Duration // PAGO_IDEMPOTENCY_RETENTION: default 360h (15 days)
	IdempotencyLease     time.Duration // PAGO_IDEMPOTENCY_LEASE: how long a dead request blocks its key, default 2m
	LockExpiry           time.Duration // PAGO_LOCK_EXPIRY: wallet lock lease, default 8s
	LockWait             time.Duration // PAGO_LOCK_WAIT: longest wait for a wallet lock, default 5s
	MaxQueryDepth        int           // PAGO_MAX_QUERY_DEPTH: default 10
	MaxQueryComplexity   int           // PAGO_MAX_QUERY_COMPLEXITY: default 1000
	// PAGO_MAX_SUBSCRIPTIONS_PER_CONNECTION and _PER_USER: live
	// subscriptions one websocket / one user may hold, default 10 and 25
	MaxSubscriptionsPerConn int
	MaxSubscriptionsPerUser int
	// PAGO_MAX_OPEN_ORDERS: unpaid (PENDING) orders one user may hold at
	// once, so that nobody can reserve all of a product's stock, default 20
	MaxOpenOrders int
	// PAGO_MAX_RESERVED_UNITS: units of stock one user's unpaid orders may
	// hold together, default 1000
	MaxReservedUnits int
	// PAGO_METRICS_TOKEN: when set, GET /metrics needs "Authorization:
	// Bearer <token>"; required for /metrics on the main listener in production
	MetricsToken secret
	// PAGO_METRICS_ADDR: a separate listener serving only /metrics (e.g.
	// 127.0.0.1:9090, for a private network), without a token
	MetricsAddr string
	// PAGO_SANDBOX_ADMIN_TOKEN: when set, the in-process sandbox's
	// /_sandbox/ admin API needs it as a bearer token; unset, it answers
	// loopback callers only
	SandboxAdminToken secret
	ShutdownTimeout   time.Duration // PAGO_SHUTDOWN_TIMEOUT: default 30s
	WalletLimit       int64         // PAGO_WALLET_LIMIT: balance ceiling of new wallets in won, default 100000
	OrderTTL          time.Duration // PAGO_ORDER_TTL: how long a PENDING order holds stock, default 30m
	PGTimeout         time.Duration // PAGO_PG_TIMEOUT: one PG request attempt, default 15s
	ConfirmTimeout    time.Duration // PAGO_CONFIRM_TIMEOUT: a whole confirm with retries, default 20s
	ConfirmWait       time.Duration // PAGO_CONFIRM_WAIT: how long a customer waits for a confirm before "processing", default 2s
	ProbeDelay        time.Duration // PAGO_PROBE_DELAY: first look at an in-doubt payment, default 15s
	ProbeMaxDelay     time.Duration // PAGO_PROBE_MAX_DELAY: longest wait between probes, default 30s
	RefundWait        time.Duration // PAGO_REFUND_WAIT: how long cancelPayment waits for its refund before answering PENDING, default 3s
	// PAGO_REQUEST_TIMEOUT: longest a GraphQL query or mutation, a checkout
	// page or a webhook may take before what it waits for gives up and the
	// client hears an error to retry, default 15s; longer than each of the
	// waits inside a request (PAGO_CONFIRM_WAIT, PAGO_REFUND_WAIT,
	// PAGO_LOCK_WAIT, PAGO_BATCH_TIMEOUT)
	RequestTimeout     time.Duration
	BatchTimeout       time.Duration // PAGO_BATCH_TIMEOUT: longest any batch (wallet payments; card confirms' claims, reads, intents, settles) may take before its callers answer REQUEST_IN_PROGRESS, default 5s
	BreakerFailures    int           // PAGO_PG_BREAKER_FAILURES: consecutive PG failures that open the breaker, default 5
	BreakerOpenTimeout time.Duration // PAGO_PG_BREAKER_OPEN_TIMEOUT: how long it stays open before probing, default 10s
	// PAGO_PG_FEE_PER_MILLE: the PG's contracted card fee in thousandths, VAT
	// included, default 32 (3.2 %); reconciliation corrects lines charged otherwise
	PGFeePerMille int64

	jwtSecretGenerated bool // dev only: the secret came from DataDir/jwt-secret
}

// secret is a string that never prints itself.
type secret string

func (s secret) String() string {
	if s == "" {
		return ""
	}
	return "*****"
}

// LogValue keeps secrets out of structured logs too.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Dev tells whether pago runs in development mode.
func (c Config) Dev() bool { return c.Env == "dev" }

// loadConfig reads the environment, applies defaults and validates. Every
// error says which variable to fix and how.
func loadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a positive duration: use Go syntax such as 30s, 5m or 360h", name, v))
			return def
		}
		return d
	}
	num := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a positive integer", name, v))
			return def
		}
		return n
	}

	c := Config{
		Env:                     str("PAGO_ENV", "dev"),
		Addr:                    str("PAGO_ADDR", ":8080"),
		PprofAddr:               str("PAGO_PPROF_ADDR", ""),
		DataDir:                 str("PAGO_DATA_DIR", "data"),
		RedisURL:                str("PAGO_REDIS_URL", ""),
		RedisPrefix:             str("PAGO_REDIS_PREFIX", "pago:"),
		JWTSecret:               secret(str("PAGO_JWT_SECRET", "")),
		PGMode:                  str("PAGO_PG_MODE", "sandbox"),
		PGSecretKey:             secret(str("PAGO_PG_SECRET_KEY", "")),
		PGClientKey:             str("PAGO_PG_CLIENT_KEY", ""),
		IdempotencyRetention:    dur("PAGO_IDEMPOTENCY_RETENTION", 15*24*time.Hour),
		IdempotencyLease:        dur("PAGO_IDEMPOTENCY_LEASE", 2*time.Minute),
		LockExpiry:              dur("PAGO_LOCK_EXPIRY", 8*time.Second),
		LockWait:                dur("PAGO_LOCK_WAIT", 5*time.Second),
		MaxQueryDepth:           num("PAGO_MAX_QUERY_DEPTH", 10),
		MaxQueryComplexity:      num("PAGO_MAX_QUERY_COMPLEXITY", 1000),
		MaxSubscriptionsPerConn: num("PAGO_MAX_SUBSCRIPTIONS_PER_CONNECTION", 10),
		MaxSubscriptionsPerUser: num("PAGO_MAX_SUBSCRIPTIONS_PER_USER", 25),
		MaxOpenOrders:           num("PAGO_MAX_OPEN_ORDERS", 20),
		MaxReservedUnits:        num("PAGO_MAX_RESERVED_UNITS", 1000),
		MetricsToken:            secret(str("PAGO_METRICS_TOKEN", "")),
		MetricsAddr:             str("PAGO_METRICS_ADDR", ""),
		SandboxAdminToken:       secret(str("PAGO_SANDBOX_ADMIN_TOKEN", "")),
		ShutdownTimeout:         dur("PAGO_SHUTDOWN_TIMEOUT", 30*time.Second),
		WalletLimit:             int64(num("PAGO_WALLET_LIMIT", 100_000)),
		OrderTTL:                dur("PAGO_ORDER_TTL", 30*time.Minute),
		PGTimeout:               dur("PAGO_PG_TIMEOUT", 15*time.Second),
		ConfirmTimeout:          dur("PAGO_CONFIRM_TIMEOUT", 20*time.Second),
		ConfirmWait:             dur("PAGO_CONFIRM_WAIT", 2*time.Second),
		PGFeePerMille:           int64(num("PAGO_PG_FEE_PER_MILLE", 32)),
		ProbeDelay:              dur("PAGO_PROBE_DELAY", 15*time.Second),
		ProbeMaxDelay:           dur("PAGO_PROBE_MAX_DELAY", 30*time.Second),
		RefundWait:              dur("PAGO_REFUND_WAIT", 3*time.Second),
		BatchTimeout:            dur("PAGO_BATCH_TIMEOUT", 5*time.Second),
		RequestTimeout:          dur("PAGO_REQUEST_TIMEOUT", 15*time.Second),
		BreakerFailures:         num("PAGO_PG_BREAKER_FAILURES", 5),
		BreakerOpenTimeout:      dur("PAGO_PG_BREAKER_OPEN_TIMEOUT", 10*time.Second),
	}
	c.DatabaseURL = str("PAGO_DATABASE_URL", "sqlite:"+filepath.Join(c.DataDir, "pago.db"))

	switch c.Env {
	case "dev", "production":
	default:
		errs = append(errs, fmt.Errorf("PAGO_ENV=%q is not valid: use dev or production", c.Env))
	}
	switch lvl := strings.ToLower(str("PAGO_LOG_LEVEL", "info")); lvl {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("PAGO_LOG_LEVEL=%q is not valid: use debug, info, warn or error", lvl))
	}

	if c.PprofAddr != "" {
		host, _, err := net.SplitHostPort(c.PprofAddr)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			errs = append(errs, fmt.Errorf("PAGO_PPROF_ADDR=%q must be a loopback host:port, e.g. 127.0.0.1:6060: profiles show internals", c.PprofAddr))
		}
	}
	port := "8080"
	if _, p, ok := strings.Cut(c.Addr, ":"); !ok || p == "" {
		errs = append(errs, fmt.Errorf("PAGO_ADDR=%q is not a listen address: use host:port or :port, e.g. :8080", c.Addr))
	} else {
		port = p
	}
	c.PublicURL = strings.TrimRight(str("PAGO_PUBLIC_URL", "http://localhost:"+port), "/")
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("PAGO_PUBLIC_URL=%q is not an http(s) URL: use e.g. https://pay.example.com", c.PublicURL))
	}

	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") &&
		!strings.HasPrefix(c.DatabaseURL, "sqlite:") {
		errs = append(errs, fmt.Errorf("PAGO_DATABASE_URL must start with postgres://, postgresql:// or sqlite: (e.g. sqlite:data/pago.db)"))
	}
	if c.RedisURL != "" {
		for _, u := range strings.Split(c.RedisURL, ",") {
			if !strings.HasPrefix(strings.TrimSpace(u), "redis://") && !strings.HasPrefix(strings.TrimSpace(u), "rediss://") {
				errs = append(errs, fmt.Errorf("PAGO_REDIS_URL must be redis:// or rediss:// URLs separated by commas, or empty for the in-process Redis"))
				break
			}
		}
	}

	switch c.PGMode {
	case "sandbox":
		if c.PGBaseURL = str("PAGO_PG_BASE_URL", c.PublicURL+"/sandbox"); c.PGSecretKey == "" {
			c.PGSecretKey = "test_gsk_pago_sandbox"
		}
		if c.PGClientKey == "" {
			c.PGClientKey = "test_gck_pago_sandbox"
		}
	case "toss":
		c.PGBaseURL = str("PAGO_PG_BASE_URL", "https://api.tosspayments.com")
		if c.PGSecretKey == "" || c.PGClientKey == "" {
			errs = append(errs, errors.New("PAGO_PG_MODE=toss needs PAGO_PG_SECRET_KEY and PAGO_PG_CLIENT_KEY from the Toss Payments developer center"))
		}
	default:
		errs = append(errs, fmt.Errorf("PAGO_PG_MODE=%q is not valid: use sandbox or toss", c.PGMode))
	}
	if u, err := url.Parse(c.PGBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		errs = append(errs, fmt.Errorf("PAGO_PG_BASE_URL=%q is not an http(s) URL", c.PGBaseURL))
	}
	switch v := strings.ToLower(str("PAGO_PG_H2C", "false")); v {
	case "true":
		c.PGH2C = true
		if u, err := url.Parse(c.PGBaseURL); err != nil || u.Scheme != "http" {
			errs = append(errs, fmt.Errorf("PAGO_PG_H2C=true needs an http:// PAGO_PG_BASE_URL, not %q: over https HTTP/2 is agreed by TLS", c.PGBaseURL))
		}
	case "false":
	default:
		errs = append(errs, fmt.Errorf("PAGO_PG_H2C=%q is not valid: use true or false", v))
	}
	if c.PGClientKey != "" && c.PGSecretKey != "" {
		errs = append(errs, checkPGKeys(c.PGClientKey, string(c.PGSecretKey))...)
	}
	switch c.PGMode {
	case "toss":
		c.PGScriptURL = str("PAGO_PG_SCRIPT_URL", "https://js.tosspayments.com/v2/standard")
		// The script runs with the checkout page's authority: never over plain HTTP.
		if u, err := url.Parse(c.PGScriptURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("PAGO_PG_SCRIPT_URL=%q is not an https URL: use https://js.tosspayments.com/v2/standard", c.PGScriptURL))
		}
	default:
		c.PGScriptURL = str("PAGO_PG_SCRIPT_URL", strings.TrimRight(c.PGBaseURL, "/")+"/v2/standard")
		if u, err := url.Parse(c.PGScriptURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("PAGO_PG_SCRIPT_URL=%q is not an http(s) URL: use the sandbox's SDK, e.g. http://localhost:8080/sandbox/v2/standard", c.PGScriptURL))
		}
	}

	if err := checkJWTSecret(c.JWTSecret, c.Dev()); err != nil {
		errs = append(errs, err)
	}
	if c.Env == "production" {
		// The sandbox is a test tool: its admin API can read every order and
		// repoint webhooks, and its test cards approve anything.
		if c.PGMode == "sandbox" {
			errs = append(errs, errors.New("PAGO_PG_MODE=sandbox is not allowed when PAGO_ENV=production: use PAGO_PG_MODE=toss (with Toss's test keys for a staging system)"))
		}
	}
	for _, w := range []struct {
		name string
		d    time.Duration
	}{{"PAGO_CONFIRM_WAIT", c.ConfirmWait}, {"PAGO_REFUND_WAIT", c.RefundWait}, {"PAGO_LOCK_WAIT", c.LockWait}, {"PAGO_BATCH_TIMEOUT", c.BatchTimeout}} {
		if c.RequestTimeout <= w.d {
			errs = append(errs, fmt.Errorf("PAGO_REQUEST_TIMEOUT=%s must be longer than %s=%s: a request would end before the answer it waits for", c.RequestTimeout, w.name, w.d))
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		errs = append(errs, errors.New("PAGO_METRICS_TOKEN is shorter than 16 bytes: generate one with `openssl rand -hex 16`"))
	}
	if c.MetricsAddr != "" {
		if _, p, ok := strings.Cut(c.MetricsAddr, ":"); !ok || p == "" {
			errs = append(errs, fmt.Errorf("PAGO_METRICS_ADDR=%q is not a listen address: use host:port, e.g. 127.0.0.1:9090", c.MetricsAddr))
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration:\n  %w", joinLines(errs))
	}
	return c, nil
}

func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// checkJWTSecret is the one rule for the JWT secret, which signs tokens and
// checkout links: at least 32 bytes, and set — except that dev (devGenerates)
// may leave it empty for ensureDevJWTSecret to fill.
func checkJWTSecret(s secret, devGenerates bool) error {
	switch {
	case s == "" && devGenerates:
		return nil
	case s == "":
		return errors.New("PAGO_JWT_SECRET is required when PAGO_ENV=production: generate one with `openssl rand -hex 32`")
	case len(s) < 32:
		return errors.New("PAGO_JWT_SECRET is shorter than 32 bytes: generate one with `openssl rand -hex 32`")
	}
	return nil
}

// ensureDevJWTSecret gives dev a secret with no setup: generated once into
// DataDir/jwt-secret so that `pago serve` and `pago token` agree.
func (c *Config) ensureDevJWTSecret() error {
	if c.JWTSecret != "" || !c.Dev() {
		return checkJWTSecret(c.JWTSecret, false)
	}
	path := filepath.Join(c.DataDir, "jwt-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		c.JWTSecret = secret(strings.TrimSpace(string(b)))
		c.jwtSecretGenerated = true
		return nil
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data directory %s: %w", c.DataDir, err)
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	// O_EXCL: if two processes race, the loser reads the winner's secret.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.ensureDevJWTSecret()
	}
	if err != nil {
		return fmt.Errorf("write dev JWT secret: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(s + "\n"); err != nil {
		return fmt.Errorf("write dev JWT secret: %w", err)
	}
	c.JWTSecret = secret(s)
	c.jwtSecretGenerated = true
	return nil
}

// String prints the configuration with secrets and passwords masked, so a
// stray %v in a log line cannot leak them.
func (c Config) String() string { return fmt.Sprint(c.logAttrs()...) }

// LogValue does the same for slog.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slogAttrs(c.logAttrs())...)
}

func slogAttrs(kv []any) []slog.Attr {
	var out []slog.Attr
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, slog.Any(kv[i].(string), kv[i+1]))
	}
	return out
}

// logAttrs lists the configuration for the start-up log, secrets masked.
func (c Config) logAttrs() []any {
	return []any{
		"env", c.Env, "addr", c.Addr, "pprof_addr", c.PprofAddr, "public_url", c.PublicURL, "data_dir", c.DataDir,
		"database_url", redactURL(c.DatabaseURL), "redis_url", redactURL(c.RedisURL), "redis_prefix", c.RedisPrefix,
		"jwt_secret", c.JWTSecret, "pg_mode", c.PGMode, "pg_base_url", c.PGBaseURL,
		"pg_secret_key", c.PGSecretKey, "pg_client_key", c.PGClientKey, "pg_script_url", c.PGScriptURL,
		"idempotency_retention", c.IdempotencyRetention.String(), "idempotency_lease", c.IdempotencyLease.String(),
		"lock_expiry", c.LockExpiry.String(), "lock_wait", c.LockWait.String(),
		"max_query_depth", c.MaxQueryDepth, "max_query_complexity", c.MaxQueryComplexity,
		"max_subscriptions_per_connection", c.MaxSubscriptionsPerConn, "max_subscriptions_per_user", c.MaxSubscriptionsPerUser,
		"max_open_orders", c.MaxOpenOrders, "max_reserved_units", c.MaxReservedUnits, "metrics_token", c.MetricsToken, "metrics_addr", c.MetricsAddr,
		"sandbox_admin_token", c.SandboxAdminToken,
		"shutdown_timeout", c.ShutdownTimeout.String(), "log_level", c.LogLevel.String(),
		"wallet_limit", c.WalletLimit, "pg_fee_per_mille", c.PGFeePerMille, "order_ttl", c.OrderTTL.String(),
		"pg_timeout", c.PGTimeout.String(), "confirm_timeout", c.ConfirmTimeout.String(), "confirm_wait", c.ConfirmWait.String(), "refund_wait", c.RefundWait.String(), "batch_timeout", c.BatchTimeout.String(),
		"request_timeout", c.RequestTimeout.String(),
		"probe_delay", c.ProbeDelay.String(), "probe_max_delay", c.ProbeMaxDelay.String(),
		"pg_breaker_failures", c.BreakerFailures, "pg_breaker_open_timeout", c.BreakerOpenTimeout.String(),
	}
}

func redactURL(raw string) string {
	if raw == "" {
		return "(in-process)"
	}
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = store.Redact(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// checkPGKeys refuses a client and secret key that cannot work together:
// with a mismatched pair every confirm fails at the PG. pago's checkout
// renders the payment widget, so the pair must be the widget's.
func checkPGKeys(clientKey, secretKey string) []error {
	if err := pg.CheckKeyPair(clientKey, secretKey); err != nil {
		return []error{fmt.Errorf("PAGO_PG_CLIENT_KEY and PAGO_PG_SECRET_KEY are not a pair: %w", err)}
	}
	if k, _ := pg.ParseKeyKind(clientKey); !k.Widget {
		return []error{errors.New("PAGO_PG_CLIENT_KEY and PAGO_PG_SECRET_KEY are API-individual keys (…_ck_…/…_sk_…): " +
			"pago's checkout renders the payment widget, which needs the payment-widget keys (test_gck_…/test_gsk_…, " +
			"or live_gck_…/live_gsk_…) from the developer center's 결제위젯 연동 키 section")}
	}
	return nil
}
