package pg_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg"
)

// Public docs key from docs/toss.md §1 and its Basic value.
const (
	testSecret = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"
	testBasic  = "Basic dGVzdF9za196WExrS0V5cE5BcldtbzUwblgzbG1lYXhZRzVSOg=="
)

// seen is one request as the fake PG received it.
type seen struct {
	Method     string
	RequestURI string
	Header     http.Header
	Body       string
}

// step scripts one response of the fake PG.
type step struct {
	status int
	body   string
	header map[string]string
	// hang blocks until the client gives up (its context ends) or the
	// duration passes, simulating a PG that received the request but whose
	// answer never arrives.
	hang time.Duration
}

// fakePG is a scripted Toss: hit n gets steps[n], the last step repeats.
type fakePG struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	steps []step
	reqs  []seen
}

func newFakePG(t *testing.T, steps ...step) *fakePG {
	t.Helper()
	f := &fakePG{t: t, steps: steps}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePG) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, seen{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Body: string(b)})
	s := step{status: 200, body: paymentJSON}
	if len(f.steps) > 0 {
		s = f.steps[min(n, len(f.steps)-1)]
	}
	f.mu.Unlock()

	if s.hang > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(s.hang):
		}
	}
	for k, v := range s.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = io.WriteString(w, s.body)
}

// script replaces the remaining script; hits already made keep counting.
func (f *fakePG) script(steps ...step) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pad := make([]step, len(f.reqs))
	for i := range pad {
		pad[i] = step{status: 200, body: paymentJSON}
	}
	f.steps = append(pad, steps...)
}

func (f *fakePG) hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fakePG) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// newClient returns a client for baseURL with fast test timings and a
// breaker that stays out of the way unless mod configures it.
func newClient(t *testing.T, baseURL string, mod func(*pg.Config)) *pg.Client {
	t.Helper()
	cfg := pg.Config{
		BaseURL:        baseURL,
		SecretKey:      testSecret,
		RequestTimeout: 2 * time.Second,
		MaxAttempts:    3,
		RetryBaseDelay: time.Millisecond,
		RetryMaxDelay:  5 * time.Millisecond,
		Breaker:        pg.BreakerConfig{ConsecutiveFailures: 1000},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := pg.New(cfg)
	require.NoError(t, err)
	return c
}

func tossError(code, msg string) string {
	b, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	return string(b)
}

// paymentJSON is a DONE card payment shaped like docs/toss.md §3 says Toss sends
// it: every key present, absent sub-objects as explicit nulls.
const paymentJSON = `{
  "mId": "tvivarepublica",
  "lastTransactionKey": "9C62B18EEF0DE3EB7F4422EB6D14BC6E",
  "paymentKey": "tviva20240101100130abcD1",
  "orderId": "order-000001",
  "orderName": "토스 티셔츠 외 2건",
  "taxExemptionAmount": 0,
  "status": "DONE",
  "requestedAt": "2024-01-01T10:01:30+09:00",
  "approvedAt": "2024-01-01T10:02:05+09:00",
  "useEscrow": false,
  "cultureExpense": false,
  "card": {
    "issuerCode": "61",
    "acquirerCode": "31",
    "number": "12341234****123*",
    "installmentPlanMonths": 0,
    "isInterestFree": false,
    "interestPayer": null,
    "approveNo": "00000000",
    "useCardPoint": false,
    "cardType": "신용",
    "ownerType": "개인",
    "acquireStatus": "READY",
    "amount": 15000
  },
  "virtualAccount": null,
  "transfer": null,
  "mobilePhone": null,
  "giftCertificate": null,
  "cashReceipt": null,
  "cashReceipts": null,
  "discount": null,
  "cancels": null,
  "secret": null,
  "type": "NORMAL",
  "easyPay": null,
  "country": "KR",
  "failure": null,
  "isPartialCancelable": true,
  "receipt": {"url": "https://dashboard-sandbox.tosspayments.com/receipt/redirection?transactionId=tviva20240101100130abcD1"},
  "checkout": {"url": "https://api.tosspayments.com/v1/payments/tviva20240101100130abcD1/checkout"},
  "currency": "KRW",
  "totalAmount": 15000,
  "balanceAmount": 15000,
  "suppliedAmount": 13636,
  "vat": 1364,
  "taxFreeAmount": 0,
  "metadata": null,
  "method": "카드",
  "version": "2022-11-16",
  "transactionKey": null,
  "foreignEasyPay": null
}`

const (
	testPaymentKey = "tviva20240101100130abcD1"
	testOrderID    = "order-000001"
)

func confirmReq() pg.ConfirmRequest {
	return pg.ConfirmRequest{PaymentKey: testPaymentKey, OrderID: testOrderID, Amount: 15000}
}
