package pg

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Operation names passed to Config.OnCall and written to logs.
const (
	OpConfirm             = "confirm"
	OpGetPayment          = "get_payment"
	OpGetPaymentByOrderID = "get_payment_by_order_id"
	OpCancel              = "cancel"
	OpSettlements         = "settlements"
)

// Outcomes passed to Config.OnCall: one per operation, derived from the
// error it returned.
const (
	OutcomeOK             = "ok"              // success
	OutcomeDeclined       = "declined"        // *Error for which IsDecline holds
	OutcomeRejected       = "rejected"        // any other definite *Error from Toss
	OutcomeUnavailable    = "unavailable"     // ErrUnavailable (not misconfigured)
	OutcomeMisconfigured  = "misconfigured"   // ErrMisconfigured (also ErrUnavailable)
	OutcomeRetryable      = "retryable"       // ErrRetryable: retry under a new key
	OutcomeUnknownOutcome = "unknown_outcome" // ErrUnknownOutcome
	OutcomeInvalid        = "invalid"         // ErrInvalidArgument: nothing was sent
	OutcomeCanceled       = "canceled"        // the caller's context ended first
	OutcomeError          = "error"           // anything else (e.g. an undecodable lookup response)
)

// maxIdempotencyKeyLen is Toss's limit on Idempotency-Key.
const maxIdempotencyKeyLen = 300

// Client calls the Toss Payments Core API. It is safe for concurrent use;
// create one per PG account and share it, since it owns the connection pool
// and the circuit breaker.
type Client struct {
	cfg     Config
	base    string // scheme://host[/prefix], no trailing slash
	auth    string // precomputed Authorization header value; never logged
	http    *http.Client
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	log     *slog.Logger
}

// New returns a Client for cfg, applying defaults to zero fields. It fails
// if BaseURL is not an absolute http(s) URL or SecretKey is empty.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	u, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:  cfg,
		base: u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.SecretKey+":")),
		http: cfg.HTTPClient,
		log:  cfg.Logger.With(slog.String("component", "pg")),
	}
	if c.http == nil {
		c.http = newHTTPClient(cfg)
	}
	c.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "toss",
		MaxRequests: cfg.Breaker.HalfOpenMaxRequests,
		// Interval 0: consecutive failures are never reset by time, only by
		// a success, which is what "N failures in a row" means.
		Timeout: cfg.Breaker.OpenTimeout,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= cfg.Breaker.ConsecutiveFailures
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return err == errBreakerExcluded },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			c.log.Warn("pg circuit breaker changed state",
				slog.String("from", from.String()), slog.String("to", to.String()))
			if cfg.OnBreakerStateChange != nil {
				cfg.OnBreakerStateChange(from.String(), to.String())
			}
		},
	})
	return c, nil
}

// newHTTPClient builds the client with the explicit timeouts from cfg. The
// transport is separate from http.DefaultTransport so that nothing else in
// the process shares or reconfigures the PG's pool.
func newHTTPClient(cfg Config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	var protocols *http.Protocols // nil: HTTP/1.1, or HTTP/2 when TLS agrees on it
	dials := 0                    // no limit
	if cfg.UnencryptedHTTP2 {
		protocols = new(http.Protocols)
		protocols.SetUnencryptedHTTP2(true)
		// For HTTP/2 this bounds the dials at once, not the connections:
		// calls made together wait for one connection and share it.
		dials = 1
	}
	return &http.Client{
		Transport: &http.Transport{
			Protocols:             protocols,
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12}, // Toss accepts TLS ≥ 1.2 only
			TLSHandshakeTimeout:   cfg.TLSHandshakeTimeout,
			ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   32,
			MaxConnsPerHost:       dials,
			IdleConnTimeout:       90 * time.Second,
		},
		// The API never redirects. Following one would resend a payment
		// mutation somewhere we did not choose; surface it instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// BreakerState returns the circuit breaker's state: "closed", "open" or
// "half-open".
func (c *Client) BreakerState() string { return c.breaker.State().String() }

// IdempotencyKey derives the Idempotency-Key for one pago operation from
// pago's own key. The derivation is deterministic, so every retry of the
// same operation — by this client, a job worker, or a restarted process —
// sends the same key and Toss replays the first response instead of
// charging twice. Because Toss scopes keys by URL and method but not by
// body, scope must name the operation and pagoKey must be unique per
// operation (e.g. IdempotencyKey("confirm", orderID)). Toss also replays
// an error answer to the same key, so a caller re-sending after
// ErrRetryable must derive a new key (e.g. with a generation number in
// pagoKey). The result is "pago-" plus 64 hex digits, well under Toss's
// 300-character limit.
func IdempotencyKey(scope, pagoKey string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + pagoKey))
	return "pago-" + hex.EncodeToString(sum[:])
}

// Confirm approves an authenticated payment: POST /v1/payments/confirm.
// idemKey is required (see IdempotencyKey). A *Error for which IsDecline
// holds means the payment was refused; ErrUnknownOutcome means it may have
// been approved, so the caller must reconcile.
func (c *Client) Confirm(ctx context.Context, req ConfirmRequest, idemKey string) (*Payment, error) {
	switch {
	case req.PaymentKey == "" || len(req.PaymentKey) > 200:
		return nil, c.invalid(OpConfirm, "paymentKey must be 1–200 characters")
	case req.OrderID == "" || len(req.OrderID) > 64:
		return nil, c.invalid(OpConfirm, "orderId must be 1–64 characters")
	case req.Amount <= 0:
		return nil, c.invalid(OpConfirm, "amount must be positive")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, c.invalid(OpConfirm, err.Error())
	}
	var p Payment
	err = c.do(ctx, call{
		op: OpConfirm, method: http.MethodPost, path: "/v1/payments/confirm",
		body: body, idemKey: idemKey,
		check: func() error { return checkEcho(&p, req.PaymentKey, req.OrderID) },
	}, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// GetPayment looks a payment up by its paymentKey: GET
// /v1/payments/{paymentKey}. IsNotFound reports an unknown key.
func (c *Client) GetPayment(ctx context.Context, paymentKey string) (*Payment, error) {
	if err := validKey(paymentKey); err != nil {
		return nil, c.invalid(OpGetPayment, "paymentKey "+err.Error())
	}
	var p Payment
	if err := c.do(ctx, call{op: OpGetPayment, method: http.MethodGet,
		path: "/v1/payments/" + url.PathEscape(paymentKey)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// GetPaymentByOrderID looks a payment up by pago's orderId: GET
// /v1/payments/orders/{orderId}. It is how an in-doubt confirm is probed,
// since the orderId is known even when the response was lost. IsNotFound
// reports that Toss has no payment for it.
func (c *Client) GetPaymentByOrderID(ctx context.Context, orderID string) (*Payment, error) {
	if err := validKey(orderID); err != nil {
		return nil, c.invalid(OpGetPaymentByOrderID, "orderId "+err.Error())
	}
	var p Payment
	if err := c.do(ctx, call{op: OpGetPaymentByOrderID, method: http.MethodGet,
		path: "/v1/payments/orders/" + url.PathEscape(orderID)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Cancel cancels a payment fully (req.CancelAmount nil) or partially: POST
// /v1/payments/{paymentKey}/cancel. idemKey is required and must differ for
// each partial cancel of the same payment. IsAlreadyCanceled reports a
// payment that was already fully canceled.
func (c *Client) Cancel(ctx context.Context, paymentKey string, req CancelRequest, idemKey string) (*Payment, error) {
	if err := validKey(paymentKey); err != nil {
		return nil, c.invalid(OpCancel, "paymentKey "+err.Error())
	}
	if strings.TrimSpace(req.CancelReason) == "" {
		return nil, c.invalid(OpCancel, "cancelReason is required")
	}
	if req.CancelAmount != nil && *req.CancelAmount <= 0 {
		return nil, c.invalid(OpCancel, "cancelAmount must be positive, or nil for a full cancel")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, c.invalid(OpCancel, err.Error())
	}
	var p Payment
	err = c.do(ctx, call{
		op: OpCancel, method: http.MethodPost,
		path: "/v1/payments/" + url.PathEscape(paymentKey) + "/cancel",
		body: body, idemKey: idemKey,
		check: func() error { return checkEcho(&p, paymentKey, "") },
	}, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Settlements lists settlement rows: GET /v1/settlements. Toss answers with
// a bare JSON array; one page per call (see SettlementsQuery).
func (c *Client) Settlements(ctx context.Context, q SettlementsQuery) ([]Settlement, error) {
	switch {
	case q.StartDate == "" || q.EndDate == "":
		return nil, c.invalid(OpSettlements, "startDate and endDate are required")
	case q.Page < 0:
		return nil, c.invalid(OpSettlements, "page must be ≥ 1, or 0 for the default")
	case q.Size < 0 || q.Size > 5000:
		return nil, c.invalid(OpSettlements, "size must be 1–5000, or 0 for the default")
	}
	v := url.Values{}
	v.Set("startDate", q.StartDate)
	v.Set("endDate", q.EndDate)
	if q.DateType != "" {
		v.Set("dateType", q.DateType)
	}
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.Size > 0 {
		v.Set("size", strconv.Itoa(q.Size))
	}
	var rows []Settlement
	if err := c.do(ctx, call{op: OpSettlements, method: http.MethodGet,
		path: "/v1/settlements", query: v}, &rows); err != nil {
		return nil, err
	}
	if rows == nil {
		rows = []Settlement{} // a JSON null page is an empty page
	}
	return rows, nil
}

// invalid reports an argument the client refuses to send, and records it.
func (c *Client) invalid(op, msg string) error {
	if c.cfg.OnCall != nil {
		c.cfg.OnCall(op, OutcomeInvalid, 0)
	}
	return fmt.Errorf("pg %s: %w: %s", op, ErrInvalidArgument, msg)
}

// validKey rejects path segments that escaping cannot make safe: "." and
// ".." would be resolved by servers and proxies into another resource.
func validKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("is required")
	case k == "." || k == "..":
		return fmt.Errorf("%q is not a valid key", k)
	case len(k) > 200:
		return fmt.Errorf("is longer than 200 characters")
	}
	return nil
}

// checkEcho verifies that a mutation's response is about the payment we
// asked for. Toss scopes an Idempotency-Key by URL and method but not by
// body, so a key reused for another payment replays that payment's
// response: our request then did not run, and the caller must not read the
// other payment as its own.
func checkEcho(p *Payment, paymentKey, orderID string) error {
	if p.PaymentKey != paymentKey || (orderID != "" && p.OrderID != orderID) {
		return fmt.Errorf("response is for paymentKey %q orderId %q, not the one requested "+
			"(Idempotency-Key reused for another payment?)", p.PaymentKey, p.OrderID)
	}
	return nil
}
