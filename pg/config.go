package pg

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Client. Zero values take the defaults documented on
// each field; New applies them and validates the rest.
type Config struct {
	// BaseURL is the PG's origin, e.g. https://api.tosspayments.com or the
	// sandbox's URL; a path prefix is kept. Required. It must not carry
	// credentials, a query or a fragment.
	BaseURL string
	// SecretKey is the Toss secret key (test_gsk_…, live_gsk_…, or the
	// API-individual test_sk_…, live_sk_…). Required; see CheckKeyPair.
	// It is sent only in the Authorization header and never appears in logs
	// or error strings; Config's String and LogValue mask it.
	SecretKey string

	// DialTimeout bounds opening a TCP connection. Default 3s.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake. Default 3s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers once the
	// request is written. Default 10s.
	ResponseHeaderTimeout time.Duration
	// RequestTimeout bounds one attempt, from dialling to the last byte of
	// the response body. The whole call, retries included, is bounded by
	// MaxAttempts and the caller's context. Default 15s.
	RequestTimeout time.Duration

	// MaxAttempts is the number of attempts per call, first one included.
	// Default 3; 1 disables retries.
	MaxAttempts int
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff with
	// full jitter: before retry n the client sleeps a random duration in
	// [0, min(RetryMaxDelay, RetryBaseDelay·2^(n-1))]. A Retry-After header
	// is honoured when it is at most RetryMaxDelay; a longer one ends the
	// call. Defaults 100ms and 2s.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration

	// Breaker configures the circuit breaker.
	Breaker BreakerConfig

	// UnencryptedHTTP2 speaks HTTP/2 without TLS (h2c, with prior
	// knowledge) to an http:// BaseURL, such as the standalone sandbox, so
	// that concurrent calls share connections as they do over https, where
	// TLS agrees on HTTP/2 whatever this says. New refuses it with an
	// https BaseURL. Default false: HTTP/1.1 over http.
	UnencryptedHTTP2 bool

	// HTTPClient, if set, replaces the client New builds from the timeouts
	// above (which are then ignored, except RequestTimeout). Tests use it;
	// production should not need it.
	HTTPClient *http.Client
	// Logger receives structured logs of attempts, retries and breaker
	// changes. Default: discard.
	Logger *slog.Logger
	// OnCall, if set, is called once per operation when it ends, with the
	// operation name (OpConfirm, ...), its outcome (OutcomeOK, ...) and its
	// duration including retries. It is the metrics hook.
	OnCall func(op string, outcome string, d time.Duration)
	// OnBreakerStateChange, if set, is called when the breaker moves
	// between "closed", "open" and "half-open". It runs while the breaker
	// holds its lock, so it must be quick and must not call the Client.
	OnBreakerStateChange func(from, to string)
}

// BreakerConfig configures the circuit breaker that stops calls while the
// PG is down or refuses pago. Unavailability and misconfiguration count:
// network errors, timeouts, 5xx, throttling (429,
// FORBIDDEN_CONSECUTIVE_REQUEST) and configuration refusals
// (UNAUTHORIZED_KEY, INVALID_API_KEY, a bare 401/403/404, ...). Business
// answers such as declines and PROVIDER_ERROR count as successes, since
// they prove the PG is up and pago's keys work.
type BreakerConfig struct {
	// ConsecutiveFailures opens the breaker after this many failed
	// attempts in a row. Default 5.
	ConsecutiveFailures uint32
	// OpenTimeout is how long the breaker stays open before it lets probe
	// requests through (half-open). Default 10s.
	OpenTimeout time.Duration
	// HalfOpenMaxRequests is how many probes run while half-open; that
	// many successes in a row close it, one failure reopens it. Default 1.
	HalfOpenMaxRequests uint32
}

// Defaults applied by New to zero fields.
const (
	DefaultDialTimeout           = 3 * time.Second
	DefaultTLSHandshakeTimeout   = 3 * time.Second
	DefaultResponseHeaderTimeout = 10 * time.Second
	DefaultRequestTimeout        = 15 * time.Second
	DefaultMaxAttempts           = 3
	DefaultRetryBaseDelay        = 100 * time.Millisecond
	DefaultRetryMaxDelay         = 2 * time.Second
	DefaultBreakerFailures       = 5
	DefaultBreakerOpenTimeout    = 10 * time.Second
	DefaultBreakerHalfOpenMax    = 1
)

// withDefaults returns cfg with every zero (or negative) field replaced by
// its default.
func (cfg Config) withDefaults() Config {
	orDur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	orDur(&cfg.DialTimeout, DefaultDialTimeout)
	orDur(&cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	orDur(&cfg.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	orDur(&cfg.RequestTimeout, DefaultRequestTimeout)
	orDur(&cfg.RetryBaseDelay, DefaultRetryBaseDelay)
	orDur(&cfg.RetryMaxDelay, DefaultRetryMaxDelay)
	orDur(&cfg.Breaker.OpenTimeout, DefaultBreakerOpenTimeout)
	if cfg.RetryMaxDelay < cfg.RetryBaseDelay {
		cfg.RetryMaxDelay = cfg.RetryBaseDelay
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Breaker.ConsecutiveFailures == 0 {
		cfg.Breaker.ConsecutiveFailures = DefaultBreakerFailures
	}
	if cfg.Breaker.HalfOpenMaxRequests == 0 {
		cfg.Breaker.HalfOpenMaxRequests = DefaultBreakerHalfOpenMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// validate checks what has no default. Messages say how to fix the problem
// and never quote the secret key.
func (cfg Config) validate() (*url.URL, error) {
	if cfg.BaseURL == "" {
		return nil, fmt.Errorf("pg: BaseURL is required (e.g. https://api.tosspayments.com)")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("pg: BaseURL %q is not a URL: %w", cfg.BaseURL, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("pg: BaseURL %q must be an absolute http(s) URL such as https://api.tosspayments.com", cfg.BaseURL)
	}
	if u.User != nil {
		// Credentials in the URL would end up in every *url.Error string.
		return nil, fmt.Errorf("pg: BaseURL must not contain credentials; set SecretKey instead")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("pg: BaseURL %q must not have a query or fragment", cfg.BaseURL)
	}
	if cfg.UnencryptedHTTP2 && u.Scheme != "http" {
		return nil, fmt.Errorf("pg: UnencryptedHTTP2 needs an http:// BaseURL, not %q: over https TLS agrees on HTTP/2", cfg.BaseURL)
	}
	if cfg.SecretKey == "" {
		return nil, fmt.Errorf("pg: SecretKey is required (a Toss secret key, test_sk_… or live_sk_…)")
	}
	if strings.ContainsAny(cfg.SecretKey, ":\r\n \t") {
		// Basic auth is "key:" with an empty password; a colon or white
		// space inside the key can only be a paste error.
		return nil, fmt.Errorf("pg: SecretKey must not contain ':' or white space")
	}
	return u, nil
}

// maskedKey shows a secret key's kind and nothing of its secret part.
func maskedKey(key string) string {
	if key == "" {
		return ""
	}
	for _, p := range []string{"test_gsk_", "live_gsk_", "test_sk_", "live_sk_"} {
		if strings.HasPrefix(key, p) {
			return p + "****"
		}
	}
	return "****"
}

// String formats the configuration with the secret key masked, so printing
// the configuration at start-up is safe.
func (cfg Config) String() string {
	return fmt.Sprintf("pg.Config{BaseURL:%s SecretKey:%s DialTimeout:%s TLSHandshakeTimeout:%s "+
		"ResponseHeaderTimeout:%s RequestTimeout:%s MaxAttempts:%d RetryBaseDelay:%s RetryMaxDelay:%s "+
		"Breaker:{ConsecutiveFailures:%d OpenTimeout:%s HalfOpenMaxRequests:%d}}",
		cfg.BaseURL, maskedKey(cfg.SecretKey), cfg.DialTimeout, cfg.TLSHandshakeTimeout,
		cfg.ResponseHeaderTimeout, cfg.RequestTimeout, cfg.MaxAttempts, cfg.RetryBaseDelay, cfg.RetryMaxDelay,
		cfg.Breaker.ConsecutiveFailures, cfg.Breaker.OpenTimeout, cfg.Breaker.HalfOpenMaxRequests)
}

// GoString masks the secret key under %#v too.
func (cfg Config) GoString() string { return cfg.String() }

// LogValue masks the secret key when the configuration is logged with slog.
func (cfg Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", cfg.BaseURL),
		slog.String("secret_key", maskedKey(cfg.SecretKey)),
		slog.Duration("dial_timeout", cfg.DialTimeout),
		slog.Duration("tls_handshake_timeout", cfg.TLSHandshakeTimeout),
		slog.Duration("response_header_timeout", cfg.ResponseHeaderTimeout),
		slog.Duration("request_timeout", cfg.RequestTimeout),
		slog.Int("max_attempts", cfg.MaxAttempts),
		slog.Duration("retry_base_delay", cfg.RetryBaseDelay),
		slog.Duration("retry_max_delay", cfg.RetryMaxDelay),
		slog.Any("breaker_consecutive_failures", cfg.Breaker.ConsecutiveFailures),
		slog.Duration("breaker_open_timeout", cfg.Breaker.OpenTimeout),
		slog.Any("breaker_half_open_max_requests", cfg.Breaker.HalfOpenMaxRequests),
	)
}

// KeyKind describes a Toss API key from its prefix (docs/toss.md §1).
type KeyKind struct {
	// Live is true for live_ keys (real money), false for test_ keys.
	Live bool
	// Widget is true for the payment-widget pair (gck/gsk), false for the
	// "API individual" pair (ck/sk).
	Widget bool
	// Secret is true for a secret key, false for a client key.
	Secret bool
}

// env names a key's environment for messages.
func (k KeyKind) env() string {
	if k.Live {
		return "live"
	}
	return "test"
}

// kind names a key's integration for messages.
func (k KeyKind) kind() string {
	if k.Widget {
		return "payment-widget"
	}
	return "API-individual"
}

// ParseKeyKind reads a key's kind from its prefix: test_ck_, test_sk_,
// test_gck_, test_gsk_ and their live_ twins. Any other key is an error.
func ParseKeyKind(key string) (KeyKind, error) {
	env, rest, ok := strings.Cut(key, "_")
	if !ok || (env != "test" && env != "live") {
		return KeyKind{}, fmt.Errorf("does not start with test_ or live_")
	}
	k := KeyKind{Live: env == "live"}
	switch {
	case strings.HasPrefix(rest, "gck_"):
		k.Widget = true
	case strings.HasPrefix(rest, "gsk_"):
		k.Widget, k.Secret = true, true
	case strings.HasPrefix(rest, "ck_"):
	case strings.HasPrefix(rest, "sk_"):
		k.Secret = true
	default:
		return KeyKind{}, fmt.Errorf("is not a Toss key (%s_ck_, %s_sk_, %s_gck_ or %s_gsk_)", env, env, env, env)
	}
	return k, nil
}

// CheckKeyPair reports whether clientKey and secretKey can work together:
// a client key and a secret key, of the same environment (test_ or live_)
// and the same integration (gck with gsk, ck with sk). Toss answers a
// mismatched pair with INVALID_API_KEY or UNAUTHORIZED_KEY on every call,
// and the browser SDK throws on the wrong kind, so a mismatch is refused
// before anything starts. Messages never quote the keys.
func CheckKeyPair(clientKey, secretKey string) error {
	ck, err := ParseKeyKind(clientKey)
	if err != nil {
		return fmt.Errorf("the client key %s", err)
	}
	if ck.Secret {
		return fmt.Errorf("the client key is a secret key (%s): use the client key (%s) shown next to it in the developer center, and never put a secret key in a page", maskedKey(clientKey), clientPrefix(ck))
	}
	sk, err := ParseKeyKind(secretKey)
	if err != nil {
		return fmt.Errorf("the secret key %s", err)
	}
	if !sk.Secret {
		return fmt.Errorf("the secret key is a client key: use the secret key (%s) shown next to it in the developer center", secretPrefix(sk))
	}
	if ck.Live != sk.Live {
		return fmt.Errorf("the client key is a %s key but the secret key is a %s key: copy both keys from the same environment (%s_… or %s_…) of the developer center",
			ck.env(), sk.env(), ck.env(), sk.env())
	}
	if ck.Widget != sk.Widget {
		return fmt.Errorf("the client key is a %s key (%s) but the secret key is an %s key (%s): use the %s secret key (%s) with this client key",
			ck.kind(), clientPrefix(ck), sk.kind(), secretPrefix(sk), ck.kind(), secretPrefix(ck))
	}
	return nil
}

func clientPrefix(k KeyKind) string {
	if k.Widget {
		return k.env() + "_gck_…"
	}
	return k.env() + "_ck_…"
}

func secretPrefix(k KeyKind) string {
	if k.Widget {
		return k.env() + "_gsk_…"
	}
	return k.env() + "_sk_…"
}
