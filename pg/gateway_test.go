package pg_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/pg"
)

// Outcomes payment sees from a gateway call.
const (
	oDecline     = "decline"            // *payment.DeclinedError
	oRetry       = "retry-with-new-key" // payment.ErrGatewayRetryable
	oUnavailable = "unavailable"        // payment.ErrGatewayUnavailable (not misconfigured)
	oMisconfig   = "misconfigured"      // payment.ErrGatewayUnavailable, logged at ERROR
	oUnknown     = "unknown"            // payment.ErrGatewayUnknownOutcome
	oProcessed   = "already-processed"  // payment.ErrGatewayAlreadyProcessed
	oCanceled    = "already-canceled"   // payment.ErrGatewayAlreadyCanceled
	oNotFound    = "not-found"          // payment.ErrGatewayNotFound
)

// tossCodes is Toss's documented error list (docs /reference/error-codes
// for confirm, look-up and cancel; docs/toss.md §6), with the HTTP status Toss
// sends each code with and what a confirm (or, for cancel-only codes, a
// cancel) answered with it must mean to payment. It is written out here,
// not derived from pg's table, so that a change to either shows up as a
// failing row.
var tossCodes = []struct {
	code    string
	status  int
	cancel  bool   // a cancel-only code: sent to Cancel instead of Confirm
	want    string // outcome when it is the first answer
	breaker bool   // counts against the circuit breaker
}{
	{"ALREADY_PROCESSED_PAYMENT", 400, false, oProcessed, false},
	{"PROVIDER_ERROR", 400, false, oRetry, false},
	{"CARD_PROCESSING_ERROR", 400, false, oRetry, false},
	{"EXCEED_MAX_CARD_INSTALLMENT_PLAN", 400, false, oDecline, false},
	{"INVALID_REQUEST", 400, false, oMisconfig, true},
	{"NOT_ALLOWED_POINT_USE", 400, false, oDecline, false},
	{"INVALID_API_KEY", 400, false, oMisconfig, true},
	{"INVALID_CLIENT_KEY", 400, false, oMisconfig, true},
	{"INVALID_IDEMPOTENCY_KEY", 400, false, oMisconfig, true},
	{"API_VERSION_UPDATE_NEEDED", 400, false, oMisconfig, true},
	{"INVALID_REJECT_CARD", 400, false, oDecline, false},
	{"BELOW_MINIMUM_AMOUNT", 400, false, oDecline, false},
	{"INVALID_CARD_EXPIRATION", 400, false, oDecline, false},
	{"INVALID_STOPPED_CARD", 400, false, oDecline, false},
	{"EXCEED_MAX_DAILY_PAYMENT_COUNT", 400, false, oDecline, false},
	{"NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT", 400, false, oDecline, false},
	{"INVALID_CARD_INSTALLMENT_PLAN", 400, false, oDecline, false},
	{"NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN", 400, false, oDecline, false},
	{"EXCEED_MAX_PAYMENT_AMOUNT", 400, false, oDecline, false},
	{"NOT_FOUND_TERMINAL_ID", 400, false, oMisconfig, true},
	{"INVALID_AUTHORIZE_AUTH", 400, false, oDecline, false},
	{"INVALID_CARD_LOST_OR_STOLEN", 400, false, oDecline, false},
	{"RESTRICTED_TRANSFER_ACCOUNT", 400, false, oDecline, false},
	{"INVALID_CARD_NUMBER", 400, false, oDecline, false},
	{"INVALID_UNREGISTERED_SUBMALL", 400, false, oMisconfig, true},
	{"NOT_REGISTERED_BUSINESS", 400, false, oMisconfig, true},
	{"EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT", 400, false, oDecline, false},
	{"EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT", 400, false, oDecline, false},
	{"EXCEED_MAX_AMOUNT", 400, false, oDecline, false},
	{"INVALID_ACCOUNT_INFO_RE_REGISTER", 400, false, oDecline, false},
	{"NOT_AVAILABLE_PAYMENT", 400, false, oDecline, false},
	{"UNAPPROVED_ORDER_ID", 400, false, oUnknown, false},
	{"EXCEED_MAX_MONTHLY_PAYMENT_AMOUNT", 400, false, oDecline, false},
	{"DUPLICATED_ORDER_ID", 400, false, oUnknown, false},
	{"UNAUTHORIZED_KEY", 401, false, oMisconfig, true},
	{"REJECT_ACCOUNT_PAYMENT", 403, false, oDecline, false},
	{"REJECT_CARD_PAYMENT", 403, false, oDecline, false},
	{"REJECT_CARD_COMPANY", 403, false, oDecline, false},
	{"FORBIDDEN_REQUEST", 403, false, oMisconfig, true},
	{"REJECT_TOSSPAY_INVALID_ACCOUNT", 403, false, oDecline, false},
	{"EXCEED_MAX_AUTH_COUNT", 403, false, oDecline, false},
	{"EXCEED_MAX_ONE_DAY_AMOUNT", 403, false, oDecline, false},
	{"NOT_AVAILABLE_BANK", 403, false, oDecline, false},
	{"INVALID_PASSWORD", 403, false, oDecline, false},
	{"INCORRECT_BASIC_AUTH_FORMAT", 403, false, oMisconfig, true},
	{"FDS_ERROR", 403, false, oDecline, false},
	{"FORBIDDEN_CONSECUTIVE_REQUEST", 403, false, oRetry, true},
	{"NOT_FOUND_PAYMENT", 404, false, oNotFound, false},
	{"NOT_FOUND", 404, false, oNotFound, false},
	{"NOT_FOUND_PAYMENT_SESSION", 404, false, oDecline, false},
	{"NOT_FOUND_MERCHANT", 404, false, oMisconfig, true},
	{"IDEMPOTENT_REQUEST_PROCESSING", 409, false, oUnknown, false},
	{"FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", 500, false, oUnknown, true},
	{"FAILED_INTERNAL_SYSTEM_PROCESSING", 500, false, oRetry, true},
	{"UNKNOWN_PAYMENT_ERROR", 500, false, oUnknown, true},

	{"ALREADY_CANCELED_PAYMENT", 400, true, oCanceled, false},
	{"INVALID_REFUND_ACCOUNT_INFO", 400, true, oDecline, false},
	{"EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT", 400, true, oDecline, false},
	{"INVALID_REFUND_ACCOUNT_NUMBER", 400, true, oDecline, false},
	{"INVALID_BANK", 400, true, oDecline, false},
	{"NOT_MATCHES_REFUNDABLE_AMOUNT", 400, true, oDecline, false},
	{"REFUND_REJECTED", 400, true, oDecline, false},
	{"ALREADY_REFUND_PAYMENT", 400, true, oDecline, false},
	{"FORBIDDEN_BANK_REFUND_REQUEST", 400, true, oDecline, false},
	{"NOT_CANCELABLE_AMOUNT", 403, true, oDecline, false},
	{"NOT_CANCELABLE_PAYMENT", 403, true, oDecline, false},
	{"EXCEED_MAX_REFUND_DUE", 403, true, oDecline, false},
	{"NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT", 403, true, oDecline, false},
	{"NOT_ALLOWED_PARTIAL_REFUND", 403, true, oDecline, false},
	{"NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER", 403, true, oDecline, false},
	{"FAILED_REFUND_PROCESS", 500, true, oRetry, true},
	{"FAILED_METHOD_HANDLING_CANCEL", 500, true, oRetry, true},
	{"FAILED_PARTIAL_REFUND", 500, true, oRetry, true},
	{"FAILED_CLOSED_ACCOUNT_REFUND", 500, true, oRetry, true},
	{"COMMON_ERROR", 500, true, oRetry, true},
}

// outcomeOf names what payment sees.
func outcomeOf(err error) string {
	var d *payment.DeclinedError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &d):
		return oDecline
	case errors.Is(err, payment.ErrGatewayUnknownOutcome):
		return oUnknown
	case errors.Is(err, payment.ErrGatewayRetryable):
		return oRetry
	case errors.Is(err, payment.ErrGatewayUnavailable) && errors.Is(err, pg.ErrMisconfigured):
		return oMisconfig
	case errors.Is(err, payment.ErrGatewayUnavailable):
		return oUnavailable
	case errors.Is(err, payment.ErrGatewayAlreadyProcessed):
		return oProcessed
	case errors.Is(err, payment.ErrGatewayAlreadyCanceled):
		return oCanceled
	case errors.Is(err, payment.ErrGatewayNotFound):
		return oNotFound
	}
	return "other: " + err.Error()
}

func TestEveryDocumentedCodeIsInTheOutcomeTable(t *testing.T) {
	inTest := map[string]bool{}
	for _, r := range tossCodes {
		require.False(t, inTest[r.code], "%s listed twice", r.code)
		inTest[r.code] = true
	}
	codes := pg.DocumentedCodes()
	sort.Strings(codes)
	for _, c := range codes {
		require.True(t, inTest[c], "pg classifies %s but the outcome table has no row for it", c)
	}
	require.Len(t, codes, len(tossCodes))
}

// TestGatewayOutcomeTable sends every documented code through the client
// and the gateway, row by row: what payment is told, how many attempts the
// client made (a coded answer is never retried under the same key, except
// IDEMPOTENT_REQUEST_PROCESSING, which means "still in flight"), whether
// the breaker counted it, and that a configuration refusal is logged at
// ERROR.
func TestGatewayOutcomeTable(t *testing.T) {
	for _, r := range tossCodes {
		t.Run(r.code, func(t *testing.T) {
			f := newFakePG(t, step{status: r.status, body: tossError(r.code, "메시지")})
			var logs bytes.Buffer
			c := newClient(t, f.srv.URL, func(cfg *pg.Config) {
				cfg.Breaker = pg.BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Minute}
				cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			g := pg.Gateway{Client: c}
			var err error
			if r.cancel {
				_, err = g.Cancel(context.Background(), testPaymentKey, nil, "reason", "k")
			} else {
				_, err = g.Confirm(context.Background(), testPaymentKey, testOrderID, 15000, "k")
			}
			require.Equal(t, r.want, outcomeOf(err), "%v", err)

			hits := 1
			if r.code == pg.CodeIdempotentRequestProcessing {
				hits = 3
			}
			if r.breaker && hits > 1 {
				hits = 1 // the breaker opened after the first failure
			}
			require.Equal(t, hits, f.hits(), "attempts")
			wantState := "closed"
			if r.breaker {
				wantState = "open"
			}
			require.Equal(t, wantState, c.BreakerState(), "breaker")
			require.Equal(t, r.want == oMisconfig, bytes.Contains(logs.Bytes(), []byte(`"level":"ERROR","msg":"pg refused pago's configuration`)),
				"a configuration refusal is logged at ERROR, nothing else is: %s", logs.String())

			var d *payment.DeclinedError
			if errors.As(err, &d) {
				require.Equal(t, r.code, d.Code, "the decline keeps Toss's code")
				return
			}
			var e *pg.Error
			require.ErrorAs(t, err, &e, "the Toss answer stays in the chain for logs")
			require.Equal(t, r.code, e.Code)
		})
	}
}

// TestAfterAnUncertainAttemptOnlyDeclinesAreEvidence: when the first
// confirm may have taken effect (here a load balancer's bare 502: the
// request may have reached Toss behind it), the retry's answer is believed
// only if it is a decline or ALREADY_PROCESSED_PAYMENT. Anything else —
// Toss's throttle, a configuration refusal, a temporary error — is about
// the retry alone: the outcome stays unknown and the payment is looked up,
// never failed.
func TestAfterAnUncertainAttemptOnlyDeclinesAreEvidence(t *testing.T) {
	for _, r := range tossCodes {
		if r.cancel {
			continue
		}
		t.Run(r.code, func(t *testing.T) {
			f := newFakePG(t, step{status: 502, body: "<html>bad gateway</html>"}, step{status: r.status, body: tossError(r.code, "메시지")})
			c := newClient(t, f.srv.URL, nil)
			_, err := pg.Gateway{Client: c}.Confirm(context.Background(), testPaymentKey, testOrderID, 15000, "k")
			want := oUnknown
			if r.want == oDecline || r.want == oProcessed {
				want = r.want
			}
			require.Equal(t, want, outcomeOf(err), "%v", err)
			require.GreaterOrEqual(t, f.hits(), 2)
		})
	}
}

// TestTimeoutThenThrottleIsUnknown is the case: the first confirm
// timed out, the retry was answered with Toss's throttle. The card may
// have been charged by the first: in doubt, never declined.
func TestTimeoutThenThrottleIsUnknown(t *testing.T) {
	f := newFakePG(t, step{hang: 5 * time.Second}, step{status: 403, body: tossError("FORBIDDEN_CONSECUTIVE_REQUEST", "반복적인 요청")})
	c := newClient(t, f.srv.URL, func(cfg *pg.Config) { cfg.RequestTimeout = 50 * time.Millisecond })
	_, err := pg.Gateway{Client: c}.Confirm(context.Background(), testPaymentKey, testOrderID, 15000, "k")
	require.Equal(t, oUnknown, outcomeOf(err), "%v", err)
}

func TestGatewayBareAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   string
	}{
		{"proxy 401", 401, oMisconfig},
		{"proxy 403", 403, oMisconfig},
		{"proxy 404", 404, oMisconfig},
		{"load balancer 502 (may have reached Toss)", 502, oUnknown},
		{"rate limited in front of Toss", 429, oUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePG(t, step{status: tt.status, body: "<html>nope</html>"})
			_, err := pg.Gateway{Client: newClient(t, f.srv.URL, nil)}.Confirm(context.Background(), testPaymentKey, testOrderID, 15000, "k")
			require.Equal(t, tt.want, outcomeOf(err), "%v", err)
		})
	}
}

// TestStoredErrorIsNotRetriedUnderTheSameKey: Toss replays a stored error
// to every request with the same Idempotency-Key. A PROVIDER_ERROR is
// therefore answered once, not retried with the same key until the
// confirm window closes; the caller re-sends under a new key, which
// succeeds.
func TestStoredErrorIsNotRetriedUnderTheSameKey(t *testing.T) {
	f := newFakePG(t, step{status: 400, body: tossError("PROVIDER_ERROR", "일시적인 오류")}, step{status: 200, body: paymentJSON})
	g := pg.Gateway{Client: newClient(t, f.srv.URL, nil)}
	_, err := g.Confirm(context.Background(), testPaymentKey, testOrderID, 15000, "key-1")
	require.ErrorIs(t, err, payment.ErrGatewayRetryable)
	require.Equal(t, 1, f.hits())

	p, err := g.Confirm(context.Background(), testPaymentKey, testOrderID, 15000, "key-2")
	require.NoError(t, err)
	require.Equal(t, payment.GatewayDone, p.Status)
	reqs := f.requests()
	require.Equal(t, "key-1", reqs[0].Header.Get("Idempotency-Key"))
	require.Equal(t, "key-2", reqs[1].Header.Get("Idempotency-Key"))
}

// TestVirtualAccountIsRefused: pago is card-only. A confirm that issues a
// virtual account is cancelled before any deposit and answered as a
// decline; a cancel that fails leaves the outcome unknown, never failed.
func TestVirtualAccountIsRefused(t *testing.T) {
	va := strings.Replace(strings.Replace(paymentJSON, `"status": "DONE"`, `"status": "WAITING_FOR_DEPOSIT"`, 1), `"method": "카드"`, `"method": "가상계좌"`, 1)
	canceled := strings.Replace(paymentJSON, `"status": "DONE"`, `"status": "CANCELED"`, 1)
	f := newFakePG(t, step{status: 200, body: va}, step{status: 200, body: canceled})
	_, err := pg.Gateway{Client: newClient(t, f.srv.URL, nil)}.Confirm(context.Background(), testPaymentKey, testOrderID, 15000, "k")
	var d *payment.DeclinedError
	require.ErrorAs(t, err, &d)
	require.Equal(t, pg.CodeVirtualAccountNotSupported, d.Code)
	reqs := f.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "/v1/payments/"+testPaymentKey+"/cancel", reqs[1].RequestURI)
	require.NotEqual(t, "k", reqs[1].Header.Get("Idempotency-Key"))

	f = newFakePG(t, step{status: 200, body: va}, step{status: 500, body: tossError("COMMON_ERROR", "x")})
	_, err = pg.Gateway{Client: newClient(t, f.srv.URL, nil)}.Confirm(context.Background(), testPaymentKey, testOrderID, 15000, "k")
	require.ErrorIs(t, err, payment.ErrGatewayUnknownOutcome)
}
