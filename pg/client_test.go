package pg_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg"
)

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  pg.Config
	}{
		{"missing base URL", pg.Config{SecretKey: testSecret}},
		{"relative base URL", pg.Config{BaseURL: "api.tosspayments.com", SecretKey: testSecret}},
		{"unparseable base URL", pg.Config{BaseURL: "http://[::1", SecretKey: testSecret}},
		{"credentials in base URL", pg.Config{BaseURL: "https://u:p@api.tosspayments.com", SecretKey: testSecret}},
		{"missing secret", pg.Config{BaseURL: "https://api.tosspayments.com"}},
		{"secret with colon", pg.Config{BaseURL: "https://api.tosspayments.com", SecretKey: testSecret + ":"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pg.New(tt.cfg)
			require.Error(t, err)
			require.NotContains(t, err.Error(), testSecret)
		})
	}

	c, err := pg.New(pg.Config{BaseURL: "https://api.tosspayments.com", SecretKey: testSecret})
	require.NoError(t, err)
	require.Equal(t, "closed", c.BreakerState())
}

func TestAuthAndHeaders(t *testing.T) {
	f := newFakePG(t)
	c := newClient(t, f.srv.URL, nil)

	p, err := c.Confirm(context.Background(), confirmReq(), "pago-key-1")
	require.NoError(t, err)
	require.Equal(t, pg.StatusDone, p.Status)

	reqs := f.requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/v1/payments/confirm", r.RequestURI)
	require.Equal(t, testBasic, r.Header.Get("Authorization"))
	require.Equal(t, "pago-key-1", r.Header.Get("Idempotency-Key"))
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.JSONEq(t, `{"paymentKey":"tviva20240101100130abcD1","orderId":"order-000001","amount":15000}`, r.Body)

	_, err = c.GetPayment(context.Background(), testPaymentKey)
	require.NoError(t, err)
	get := f.requests()[1]
	require.Equal(t, testBasic, get.Header.Get("Authorization"))
	require.Empty(t, get.Header.Get("Idempotency-Key"), "reads carry no Idempotency-Key")
}

func TestBaseURLPathPrefixIsKept(t *testing.T) {
	f := newFakePG(t)
	c := newClient(t, f.srv.URL+"/toss/", nil)
	_, err := c.GetPayment(context.Background(), testPaymentKey)
	require.NoError(t, err)
	require.Equal(t, "/toss/v1/payments/"+testPaymentKey, f.requests()[0].RequestURI)
}

func TestMutationsRequireIdempotencyKey(t *testing.T) {
	f := newFakePG(t)
	c := newClient(t, f.srv.URL, nil)
	ctx := context.Background()

	_, err := c.Confirm(ctx, confirmReq(), "")
	require.ErrorIs(t, err, pg.ErrInvalidArgument)
	_, err = c.Cancel(ctx, testPaymentKey, pg.CancelRequest{CancelReason: "고객 요청"}, "")
	require.ErrorIs(t, err, pg.ErrInvalidArgument)
	_, err = c.Confirm(ctx, confirmReq(), strings.Repeat("k", 301))
	require.ErrorIs(t, err, pg.ErrInvalidArgument)
	require.Zero(t, f.hits(), "nothing may be sent without a usable key")
}

func TestIdempotencyKey(t *testing.T) {
	k := pg.IdempotencyKey("confirm", "order-1")
	require.Equal(t, k, pg.IdempotencyKey("confirm", "order-1"), "deterministic")
	require.NotEqual(t, k, pg.IdempotencyKey("cancel", "order-1"), "scoped")
	// The separator keeps ("ab","c") and ("a","bc") apart.
	require.NotEqual(t, pg.IdempotencyKey("ab", "c"), pg.IdempotencyKey("a", "bc"))
	require.True(t, strings.HasPrefix(k, "pago-"))
	require.LessOrEqual(t, len(k), 300)
	require.Len(t, pg.IdempotencyKey("x", strings.Repeat("y", 10_000)), len(k))
}

func TestRetryOn5xxThenSuccessReusesKey(t *testing.T) {
	f := newFakePG(t,
		step{status: 500, body: "<html>internal server error</html>"},
		step{status: 502, body: "<html>bad gateway</html>"},
		step{status: 200, body: paymentJSON},
	)
	var outcomes []string
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) {
		cfg.OnCall = func(op, outcome string, _ time.Duration) { outcomes = append(outcomes, op+":"+outcome) }
	})

	key := pg.IdempotencyKey("confirm", testOrderID)
	p, err := c.Confirm(context.Background(), confirmReq(), key)
	require.NoError(t, err)
	require.Equal(t, testPaymentKey, p.PaymentKey)

	reqs := f.requests()
	require.Len(t, reqs, 3)
	for _, r := range reqs {
		require.Equal(t, key, r.Header.Get("Idempotency-Key"), "every retry must reuse the key")
		require.Equal(t, reqs[0].Body, r.Body)
	}
	require.Equal(t, []string{"confirm:ok"}, outcomes)
}

func TestDeclineIsNotRetried(t *testing.T) {
	f := newFakePG(t, step{status: 403, body: tossError("REJECT_CARD_PAYMENT", "한도초과 혹은 잔액부족으로 결제에 실패했습니다.")})
	c := newClient(t, f.srv.URL, nil)

	_, err := c.Confirm(context.Background(), confirmReq(), "k")
	require.Error(t, err)
	require.Equal(t, 1, f.hits())
	require.True(t, pg.IsDecline(err))
	var e *pg.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 403, e.HTTPStatus)
	require.Equal(t, "REJECT_CARD_PAYMENT", e.Code)
	require.True(t, e.IsDecline())
	require.NotErrorIs(t, err, pg.ErrUnknownOutcome)
	require.NotErrorIs(t, err, pg.ErrUnavailable)
}

// TestErrorClassification pins down, per Toss answer, how many attempts
// are made and what the caller is told (docs/toss.md §6).
func TestErrorClassification(t *testing.T) {
	type want struct {
		hits                                           int
		unknown, unavailable, misconfigured, retryable bool
		decline, alreadyProcessed, alreadyCanceled, nf bool
	}
	confirm := func(c *pg.Client) error { _, err := c.Confirm(context.Background(), confirmReq(), "k"); return err }
	cancel := func(c *pg.Client) error {
		_, err := c.Cancel(context.Background(), testPaymentKey, pg.CancelRequest{CancelReason: "r"}, "k")
		return err
	}
	get := func(c *pg.Client) error { _, err := c.GetPayment(context.Background(), testPaymentKey); return err }
	byOrder := func(c *pg.Client) error {
		_, err := c.GetPaymentByOrderID(context.Background(), testOrderID)
		return err
	}

	tests := []struct {
		name   string
		status int
		code   string
		run    func(*pg.Client) error
		want   want
	}{
		{"already processed", 400, "ALREADY_PROCESSED_PAYMENT", confirm, want{hits: 1, alreadyProcessed: true}},
		{"already canceled", 400, "ALREADY_CANCELED_PAYMENT", cancel, want{hits: 1, alreadyCanceled: true}},
		{"not found", 404, "NOT_FOUND_PAYMENT", get, want{hits: 1, nf: true}},
		{"not found by order", 404, "NOT_FOUND_PAYMENT", byOrder, want{hits: 1, nf: true}},
		{"session expired is a decline", 404, "NOT_FOUND_PAYMENT_SESSION", confirm, want{hits: 1, decline: true}},
		{"invalid card", 400, "INVALID_CARD_EXPIRATION", confirm, want{hits: 1, decline: true}},
		{"limit", 400, "EXCEED_MAX_PAYMENT_AMOUNT", confirm, want{hits: 1, decline: true}},
		{"below minimum", 400, "BELOW_MINIMUM_AMOUNT", confirm, want{hits: 1, decline: true}},
		{"bad key is not a decline", 401, "UNAUTHORIZED_KEY", confirm, want{hits: 1, unavailable: true, misconfigured: true}},
		{"invalid request", 400, "INVALID_REQUEST", cancel, want{hits: 1, unavailable: true, misconfigured: true}},
		{"unknown payment error: no blind retry", 500, "UNKNOWN_PAYMENT_ERROR", confirm, want{hits: 1, unknown: true}},
		{"payment internal: no blind retry", 500, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", confirm, want{hits: 1, unknown: true}},
		{"payment internal on a read is retried", 500, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", get, want{hits: 3, unavailable: true}},
		// Toss replays a stored error to a repeated key: never retried
		// under the same key, the caller re-sends under a new one.
		{"provider error: new key", 400, "PROVIDER_ERROR", confirm, want{hits: 1, retryable: true}},
		{"card processing: new key", 400, "CARD_PROCESSING_ERROR", confirm, want{hits: 1, retryable: true}},
		{"internal failure on confirm: new key", 500, "FAILED_INTERNAL_SYSTEM_PROCESSING", confirm, want{hits: 1, retryable: true}},
		{"Toss's throttle on a confirm: new key", 403, "FORBIDDEN_CONSECUTIVE_REQUEST", confirm, want{hits: 1, retryable: true}},
		{"Toss's throttle on a read is retried", 403, "FORBIDDEN_CONSECUTIVE_REQUEST", get, want{hits: 3, unavailable: true}},
		{"duplicated order id: look up", 400, "DUPLICATED_ORDER_ID", confirm, want{hits: 1, unknown: true}},
		{"unknown code on a confirm: look up", 400, "SOMETHING_NEW", confirm, want{hits: 1, unknown: true}},
		{"in flight outlasts budget", 409, "IDEMPOTENT_REQUEST_PROCESSING", confirm, want{hits: 3, unknown: true}},
		{"cancel 5xx: new key", 500, "COMMON_ERROR", cancel, want{hits: 1, retryable: true}},
		{"bare 5xx on a cancel outlasts budget", 502, "", cancel, want{hits: 3, unknown: true}},
		{"rate limited: nothing happened", 429, "TOO_MANY_REQUESTS", confirm, want{hits: 3, unavailable: true}},
		{"read 5xx outlasts budget", 503, "", get, want{hits: 3, unavailable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "service unavailable"
			if tt.code != "" {
				body = tossError(tt.code, "메시지")
			}
			f := newFakePG(t, step{status: tt.status, body: body})
			err := tt.run(newClient(t, f.srv.URL, nil))
			require.Error(t, err)
			require.Equal(t, tt.want.hits, f.hits(), "attempts")
			require.Equal(t, tt.want.unknown, errors.Is(err, pg.ErrUnknownOutcome), "ErrUnknownOutcome: %v", err)
			require.Equal(t, tt.want.unavailable, errors.Is(err, pg.ErrUnavailable), "ErrUnavailable: %v", err)
			require.Equal(t, tt.want.misconfigured, errors.Is(err, pg.ErrMisconfigured), "ErrMisconfigured: %v", err)
			require.Equal(t, tt.want.retryable, errors.Is(err, pg.ErrRetryable), "ErrRetryable: %v", err)
			require.Equal(t, tt.want.decline, pg.IsDecline(err), "IsDecline")
			require.Equal(t, tt.want.alreadyProcessed, pg.IsAlreadyProcessed(err), "IsAlreadyProcessed")
			require.Equal(t, tt.want.alreadyCanceled, pg.IsAlreadyCanceled(err), "IsAlreadyCanceled")
			require.Equal(t, tt.want.nf, pg.IsNotFound(err), "IsNotFound")
			var e *pg.Error
			require.ErrorAs(t, err, &e, "the Toss answer stays reachable")
			require.Equal(t, tt.status, e.HTTPStatus)
			require.Equal(t, tt.code, e.Code)
		})
	}
}

func TestRetryAfterIsHonouredWhenSmall(t *testing.T) {
	f := newFakePG(t,
		step{status: 429, body: tossError("TOO_MANY_REQUESTS", "slow down"), header: map[string]string{"Retry-After": "1"}},
		step{status: 200, body: paymentJSON},
	)
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) { cfg.RetryMaxDelay = 2 * time.Second })
	start := time.Now()
	_, err := c.GetPayment(context.Background(), testPaymentKey)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
	require.Equal(t, 2, f.hits())

	// A Retry-After beyond RetryMaxDelay ends the call instead of stalling it.
	f = newFakePG(t, step{status: 429, body: tossError("TOO_MANY_REQUESTS", "slow down"), header: map[string]string{"Retry-After": "60"}})
	c = newClient(t, f.srv.URL, nil)
	_, err = c.GetPayment(context.Background(), testPaymentKey)
	require.ErrorIs(t, err, pg.ErrUnavailable)
	require.Equal(t, 1, f.hits())
}

func TestConfirmTimeoutIsUnknownOutcome(t *testing.T) {
	f := newFakePG(t, step{hang: 5 * time.Second})
	var outcome string
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) {
		cfg.RequestTimeout = 50 * time.Millisecond
		cfg.MaxAttempts = 2
		cfg.OnCall = func(_, o string, _ time.Duration) { outcome = o }
	})

	start := time.Now()
	_, err := c.Confirm(context.Background(), confirmReq(), "key-timeout")
	require.ErrorIs(t, err, pg.ErrUnknownOutcome)
	require.NotErrorIs(t, err, pg.ErrUnavailable)
	require.False(t, pg.IsDecline(err))
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, pg.OutcomeUnknownOutcome, outcome)

	// The retry after a timeout is safe only because it carries the same key.
	reqs := f.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "key-timeout", reqs[0].Header.Get("Idempotency-Key"))
	require.Equal(t, "key-timeout", reqs[1].Header.Get("Idempotency-Key"))
}

func TestTimeoutThenReplayedAnswerSucceeds(t *testing.T) {
	f := newFakePG(t, step{hang: 5 * time.Second}, step{status: 200, body: paymentJSON})
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) { cfg.RequestTimeout = 50 * time.Millisecond })
	p, err := c.Confirm(context.Background(), confirmReq(), "k")
	require.NoError(t, err)
	require.Equal(t, pg.StatusDone, p.Status)
}

func TestTimeoutThenDeclineIsDefinite(t *testing.T) {
	// The replay of the first attempt's answer is authoritative.
	f := newFakePG(t, step{hang: 5 * time.Second}, step{status: 403, body: tossError("REJECT_CARD_PAYMENT", "잔액부족")})
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) { cfg.RequestTimeout = 50 * time.Millisecond })
	_, err := c.Confirm(context.Background(), confirmReq(), "k")
	require.True(t, pg.IsDecline(err))
	require.NotErrorIs(t, err, pg.ErrUnknownOutcome)
}

func TestTimeoutThenNonTossAnswerIsInDoubt(t *testing.T) {
	// After a timed-out attempt only a Toss answer can settle a mutation;
	// a proxy's HTML 404 cannot tell us the first attempt did nothing.
	f := newFakePG(t, step{hang: 5 * time.Second}, step{status: 404, body: "<html>not found</html>"})
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) { cfg.RequestTimeout = 50 * time.Millisecond })
	_, err := c.Confirm(context.Background(), confirmReq(), "k")
	require.ErrorIs(t, err, pg.ErrUnknownOutcome)
	require.Equal(t, 2, f.hits())

	// Without an earlier attempt the same answer is a plain refusal.
	f = newFakePG(t, step{status: 404, body: "<html>not found</html>"})
	_, err = newClient(t, f.srv.URL, nil).Confirm(context.Background(), confirmReq(), "k")
	require.NotErrorIs(t, err, pg.ErrUnknownOutcome)
	var e *pg.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 404, e.HTTPStatus)
	require.Contains(t, e.Message, "not found")
}

func TestPossibleEffectIsNotForgottenByLaterAttempts(t *testing.T) {
	// A 503 from a load balancer may have been processed behind it; the
	// 429s after it say nothing about that attempt, so the confirm stays
	// in doubt.
	f := newFakePG(t,
		step{status: 503, body: "<html>service unavailable</html>"},
		step{status: 429, body: tossError("TOO_MANY_REQUESTS", "y")},
	)
	c := newClient(t, f.srv.URL, nil)
	_, err := c.Confirm(context.Background(), confirmReq(), "k")
	require.ErrorIs(t, err, pg.ErrUnknownOutcome)
	require.Equal(t, 3, f.hits())
}

func TestReadTimeoutIsUnavailable(t *testing.T) {
	f := newFakePG(t, step{hang: 5 * time.Second})
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) { cfg.RequestTimeout = 30 * time.Millisecond })
	_, err := c.GetPaymentByOrderID(context.Background(), testOrderID)
	require.ErrorIs(t, err, pg.ErrUnavailable)
	require.NotErrorIs(t, err, pg.ErrUnknownOutcome)
	require.Equal(t, 3, f.hits(), "reads retry on timeouts")
}

// refusedURL returns a URL nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	var outcome string
	c := newClient(t, refusedURL(t), func(cfg *pg.Config) {
		cfg.OnCall = func(_, o string, _ time.Duration) { outcome = o }
	})
	_, err := c.Confirm(context.Background(), confirmReq(), "k")
	require.ErrorIs(t, err, pg.ErrUnavailable, "a request never sent cannot have charged anyone")
	require.NotErrorIs(t, err, pg.ErrUnknownOutcome)
	require.Equal(t, pg.OutcomeUnavailable, outcome)

	_, err = c.Cancel(context.Background(), testPaymentKey, pg.CancelRequest{CancelReason: "r"}, "k")
	require.ErrorIs(t, err, pg.ErrUnavailable)
}

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	f := newFakePG(t, step{status: 500, body: tossError("FAILED_INTERNAL_SYSTEM_PROCESSING", "down")})
	var mu sync.Mutex
	var changes []string
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) {
		cfg.MaxAttempts = 1
		cfg.Breaker = pg.BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: 100 * time.Millisecond, HalfOpenMaxRequests: 1}
		cfg.OnBreakerStateChange = func(from, to string) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, from+"->"+to)
		}
	})
	ctx := context.Background()

	for range 3 {
		_, err := c.GetPayment(ctx, testPaymentKey)
		require.ErrorIs(t, err, pg.ErrUnavailable)
	}
	require.Equal(t, "open", c.BreakerState())
	require.Equal(t, 3, f.hits())

	// Open: fail fast, without touching the network, for reads and writes.
	start := time.Now()
	_, err := c.GetPayment(ctx, testPaymentKey)
	require.ErrorIs(t, err, pg.ErrUnavailable)
	_, err = c.Confirm(ctx, confirmReq(), "k")
	require.ErrorIs(t, err, pg.ErrUnavailable)
	require.NotErrorIs(t, err, pg.ErrUnknownOutcome)
	require.Less(t, time.Since(start), 50*time.Millisecond)
	require.Equal(t, 3, f.hits(), "an open breaker sends nothing")

	// A failed half-open probe reopens it.
	time.Sleep(120 * time.Millisecond)
	require.Equal(t, "half-open", c.BreakerState())
	_, err = c.GetPayment(ctx, testPaymentKey)
	require.ErrorIs(t, err, pg.ErrUnavailable)
	require.Equal(t, 4, f.hits())
	require.Equal(t, "open", c.BreakerState())

	// The PG recovers; after OpenTimeout a successful probe closes it.
	f.script(step{status: 200, body: paymentJSON})
	time.Sleep(120 * time.Millisecond)
	_, err = c.GetPayment(ctx, testPaymentKey)
	require.NoError(t, err)
	require.Equal(t, "closed", c.BreakerState())

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{
		"closed->open", "open->half-open", "half-open->open", "open->half-open", "half-open->closed",
	}, changes)
}

func TestBreakerIgnoresBusinessErrors(t *testing.T) {
	f := newFakePG(t, step{status: 403, body: tossError("REJECT_CARD_PAYMENT", "잔액부족")})
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) {
		cfg.Breaker = pg.BreakerConfig{ConsecutiveFailures: 2, OpenTimeout: time.Minute}
	})
	for range 5 {
		_, err := c.Confirm(context.Background(), confirmReq(), "k")
		require.True(t, pg.IsDecline(err))
	}
	require.Equal(t, "closed", c.BreakerState(), "declines prove the PG is up")
	require.Equal(t, 5, f.hits())
}

func TestBreakerCountsConnectionFailures(t *testing.T) {
	c := newClient(t, refusedURL(t), func(cfg *pg.Config) {
		cfg.MaxAttempts = 1
		cfg.Breaker = pg.BreakerConfig{ConsecutiveFailures: 2, OpenTimeout: time.Minute}
	})
	for range 2 {
		_, err := c.GetPayment(context.Background(), testPaymentKey)
		require.ErrorIs(t, err, pg.ErrUnavailable)
	}
	require.Equal(t, "open", c.BreakerState())
}

func TestContextDeadlineBoundsRetries(t *testing.T) {
	f := newFakePG(t, step{status: 503, body: tossError("FAILED_INTERNAL_SYSTEM_PROCESSING", "busy")})
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) {
		cfg.MaxAttempts = 1000
		cfg.RetryBaseDelay = 20 * time.Millisecond
		cfg.RetryMaxDelay = 80 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetPayment(ctx, testPaymentKey)
	require.Error(t, err)
	require.Less(t, time.Since(start), 400*time.Millisecond)
	require.Less(t, f.hits(), 1000)
}

func TestContextDeadlineOnHangingConfirm(t *testing.T) {
	f := newFakePG(t, step{hang: 5 * time.Second})
	var outcome string
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) {
		cfg.RequestTimeout = 10 * time.Second
		cfg.OnCall = func(_, o string, _ time.Duration) { outcome = o }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Confirm(ctx, confirmReq(), "k")
	require.Less(t, time.Since(start), 500*time.Millisecond)
	require.ErrorIs(t, err, pg.ErrUnknownOutcome, "the PG had the request when we stopped waiting")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, pg.OutcomeUnknownOutcome, outcome)
	require.Equal(t, 1, f.hits())
}

func TestCanceledBeforeSendingIsNotInDoubt(t *testing.T) {
	f := newFakePG(t)
	c := newClient(t, f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Confirm(ctx, confirmReq(), "k")
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, pg.ErrUnknownOutcome)
	require.Zero(t, f.hits())
}

func TestResponseForAnotherPaymentIsInDoubt(t *testing.T) {
	// Toss replays by key alone; a reused key answers with another payment.
	other := strings.ReplaceAll(paymentJSON, testPaymentKey, "someone-elses-payment")
	f := newFakePG(t, step{status: 200, body: other})
	c := newClient(t, f.srv.URL, nil)
	_, err := c.Confirm(context.Background(), confirmReq(), "k")
	require.ErrorIs(t, err, pg.ErrUnknownOutcome)

	_, err = c.Cancel(context.Background(), testPaymentKey, pg.CancelRequest{CancelReason: "r"}, "k")
	require.ErrorIs(t, err, pg.ErrUnknownOutcome)
}

func TestUndecodableConfirmResponseIsInDoubt(t *testing.T) {
	f := newFakePG(t, step{status: 200, body: `{"paymentKey": `})
	c := newClient(t, f.srv.URL, nil)
	_, err := c.Confirm(context.Background(), confirmReq(), "k")
	require.ErrorIs(t, err, pg.ErrUnknownOutcome, "a 200 means the PG acted, readable or not")
	require.Equal(t, 1, f.hits())
}

func TestPathEscaping(t *testing.T) {
	f := newFakePG(t)
	c := newClient(t, f.srv.URL, nil)
	ctx := context.Background()
	key := "a/b c?d#e%f"

	_, _ = c.GetPayment(ctx, key)
	_, _ = c.GetPaymentByOrderID(ctx, "order/../1?x=y")
	_, _ = c.Cancel(ctx, key, pg.CancelRequest{CancelReason: "r"}, "k")

	reqs := f.requests()
	require.Len(t, reqs, 3)
	require.Equal(t, "/v1/payments/a%2Fb%20c%3Fd%23e%25f", reqs[0].RequestURI)
	require.Equal(t, "/v1/payments/orders/order%2F..%2F1%3Fx=y", reqs[1].RequestURI)
	require.Equal(t, "/v1/payments/a%2Fb%20c%3Fd%23e%25f/cancel", reqs[2].RequestURI)

	for _, bad := range []string{"", ".", ".."} {
		_, err := c.GetPayment(ctx, bad)
		require.ErrorIs(t, err, pg.ErrInvalidArgument, "%q", bad)
	}
	require.Equal(t, 3, f.hits())
}

func TestCancelBody(t *testing.T) {
	f := newFakePG(t)
	c := newClient(t, f.srv.URL, nil)
	ctx := context.Background()

	_, err := c.Cancel(ctx, testPaymentKey, pg.CancelRequest{CancelReason: "고객 변심"}, "cancel-full")
	require.NoError(t, err)
	amount := int64(5000)
	_, err = c.Cancel(ctx, testPaymentKey, pg.CancelRequest{CancelReason: "부분 환불", CancelAmount: &amount}, "cancel-part")
	require.NoError(t, err)

	reqs := f.requests()
	require.JSONEq(t, `{"cancelReason":"고객 변심"}`, reqs[0].Body, "a full cancel omits cancelAmount")
	require.JSONEq(t, `{"cancelReason":"부분 환불","cancelAmount":5000}`, reqs[1].Body)
	require.Equal(t, "cancel-full", reqs[0].Header.Get("Idempotency-Key"))
	require.Equal(t, "cancel-part", reqs[1].Header.Get("Idempotency-Key"))
	require.Equal(t, "/v1/payments/"+testPaymentKey+"/cancel", reqs[0].RequestURI)

	zero := int64(0)
	_, err = c.Cancel(ctx, testPaymentKey, pg.CancelRequest{CancelReason: "r", CancelAmount: &zero}, "k")
	require.ErrorIs(t, err, pg.ErrInvalidArgument)
	_, err = c.Cancel(ctx, testPaymentKey, pg.CancelRequest{}, "k")
	require.ErrorIs(t, err, pg.ErrInvalidArgument)
}

func TestSettlements(t *testing.T) {
	f := newFakePG(t, step{status: 200, body: settlementsJSON})
	c := newClient(t, f.srv.URL, nil)

	rows, err := c.Settlements(context.Background(), pg.SettlementsQuery{
		StartDate: "2024-01-01", EndDate: "2024-01-31", DateType: "paidOutDate", Page: 2, Size: 500,
	})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, "/v1/settlements?dateType=paidOutDate&endDate=2024-01-31&page=2&size=500&startDate=2024-01-01",
		f.requests()[0].RequestURI)

	sale := rows[0]
	require.Equal(t, testPaymentKey, sale.PaymentKey)
	require.Equal(t, "카드", sale.Method)
	n, err := sale.PayOutAmount.Int64()
	require.NoError(t, err)
	require.Equal(t, int64(14505), n)
	require.Len(t, sale.Fees, 1)
	require.Equal(t, "BASE", sale.Fees[0].Type)
	require.NotNil(t, sale.Card)
	require.Nil(t, sale.Cancel)

	refund := rows[1]
	require.NotNil(t, refund.Cancel)
	require.Nil(t, refund.Fees, "fees may be absent")
	n, err = refund.Amount.Int64()
	require.NoError(t, err)
	require.Equal(t, int64(-5000), n)

	// An empty page is an empty slice, not nil.
	f.script(step{status: 200, body: `[]`})
	rows, err = c.Settlements(context.Background(), pg.SettlementsQuery{StartDate: "2024-02-01", EndDate: "2024-02-01"})
	require.NoError(t, err)
	require.NotNil(t, rows)
	require.Empty(t, rows)
	require.Equal(t, "/v1/settlements?endDate=2024-02-01&startDate=2024-02-01", f.requests()[1].RequestURI)

	_, err = c.Settlements(context.Background(), pg.SettlementsQuery{StartDate: "2024-02-01"})
	require.ErrorIs(t, err, pg.ErrInvalidArgument)
}

const settlementsJSON = `[
  {
    "mId": "tvivarepublica",
    "paymentKey": "tviva20240101100130abcD1",
    "transactionKey": "9C62B18EEF0DE3EB7F4422EB6D14BC6E",
    "orderId": "order-000001",
    "currency": "KRW",
    "method": "카드",
    "amount": 15000,
    "interestFee": 0,
    "fees": [{"type": "BASE", "fee": 495}],
    "fee": 495,
    "supplyAmount": 450,
    "vat": 45,
    "payOutAmount": 14505,
    "approvedAt": "2024-01-01T10:02:05+09:00",
    "soldDate": "2024-01-01",
    "paidOutDate": "2024-01-03",
    "card": {"issuerCode": "61", "acquirerCode": "31", "number": "12341234****123*", "installmentPlanMonths": 0,
             "approveNo": "00000000", "useCardPoint": false, "cardType": "신용", "ownerType": "개인",
             "acquireStatus": "COMPLETED", "isInterestFree": false, "interestPayer": null, "amount": 15000},
    "easyPay": null, "giftCertificate": null, "mobilePhone": null, "transfer": null, "virtualAccount": null,
    "cancel": null
  },
  {
    "mId": "tvivarepublica",
    "paymentKey": "tviva20240101100130abcD1",
    "transactionKey": "txrd_a01jabcdefghijklmn",
    "orderId": "order-000001",
    "currency": "KRW",
    "method": "카드",
    "amount": -5000,
    "interestFee": 0,
    "fee": -165,
    "supplyAmount": -150,
    "vat": -15,
    "payOutAmount": -4835,
    "approvedAt": "2024-01-02T09:00:00+09:00",
    "soldDate": "2024-01-02",
    "paidOutDate": "2024-01-04",
    "cancel": {"cancelAmount": 5000, "cancelReason": "부분 환불", "taxFreeAmount": 0, "taxExemptionAmount": 0,
               "refundableAmount": 10000, "easyPayDiscountAmount": 0, "canceledAt": "2024-01-02T09:00:00+09:00",
               "transactionKey": "txrd_a01jabcdefghijklmn", "receiptKey": null, "cancelStatus": "DONE",
               "cancelRequestId": null},
    "someFutureField": {"x": 1}
  }
]`

// With UnencryptedHTTP2, calls at once to an http:// PG share one HTTP/2
// connection rather than dialling one each; without it, HTTP/1.1.
func TestUnencryptedHTTP2SharesAConnection(t *testing.T) {
	var mu sync.Mutex
	protos, conns := map[string]int{}, 0
	var hold chan struct{} // the PG answers once it is closed
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos[r.Proto]++
		h := hold
		mu.Unlock()
		<-h
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, paymentJSON)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	// calls makes n calls at once and answers them when all are at the PG.
	calls := func(c *pg.Client, n int) {
		mu.Lock()
		protos, conns, hold = map[string]int{}, 0, make(chan struct{})
		release := sync.OnceFunc(func() { close(hold) })
		mu.Unlock()
		defer release() // also when a check below fails: srv.Close waits for the calls
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := c.GetPayment(context.Background(), testPaymentKey)
				errs <- err
			}()
		}
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			total := 0
			for _, k := range protos {
				total += k
			}
			return total == n
		}, 10*time.Second, time.Millisecond, "every call at the PG at once")
		release()
		for range n {
			require.NoError(t, <-errs)
		}
	}
	h2c := newClient(t, srv.URL, func(c *pg.Config) { c.UnencryptedHTTP2 = true })
	calls(h2c, 10)
	require.Equal(t, map[string]int{"HTTP/2.0": 10}, protos)
	require.Equal(t, 1, conns)

	calls(newClient(t, srv.URL, nil), 10)
	require.Equal(t, map[string]int{"HTTP/1.1": 10}, protos)
	require.Equal(t, 10, conns)

	_, err := pg.New(pg.Config{BaseURL: "https://api.tosspayments.com", SecretKey: testSecret, UnencryptedHTTP2: true})
	require.ErrorContains(t, err, "http://", "h2c is for http:// only")
}
