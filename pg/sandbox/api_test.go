package sandbox

import (
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-auth-1", 10000, CardSuccess)
	enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		header string
		status int
		code   string
	}{
		{"missing", "", 401, "UNAUTHORIZED_KEY"},
		{"bearer", "Bearer " + DefaultSecretKey, 401, "UNAUTHORIZED_KEY"},
		{"wrong key", enc("test_gsk_wrong:"), 401, "UNAUTHORIZED_KEY"},
		{"missing colon", enc(DefaultSecretKey), 403, "INCORRECT_BASIC_AUTH_FORMAT"},
		{"not base64", "Basic !!!", 403, "INCORRECT_BASIC_AUTH_FORMAT"},
		{"padded", enc(DefaultSecretKey + ":"), 200, ""},
		{"unpadded", "Basic " + base64.RawStdEncoding.EncodeToString([]byte(DefaultSecretKey+":")), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": tc.header}
			res := e.call("GET", "/v1/payments/"+key, nil, hdr)
			require.Equal(t, tc.status, res.status, string(res.raw))
			require.Equal(t, tc.code, res.code())
		})
	}
	// The unpadded form must really lack padding for the case to mean anything.
	require.NotContains(t, base64.RawStdEncoding.EncodeToString([]byte(DefaultSecretKey+":")), "=")
}

// paymentKeys is every key of docs/toss.md §3.
var paymentKeys = []string{
	"version", "paymentKey", "type", "orderId", "orderName", "mId", "currency", "method",
	"totalAmount", "balanceAmount", "status", "requestedAt", "approvedAt", "useEscrow",
	"lastTransactionKey", "suppliedAmount", "vat", "cultureExpense", "isPartialCancelable",
	"taxFreeAmount", "taxExemptionAmount", "cancels", "card", "virtualAccount", "transfer",
	"mobilePhone", "giftCertificate", "foreignEasyPay", "cashReceipt", "cashReceipts",
	"discount", "secret", "easyPay", "country", "failure", "receipt", "checkout", "metadata",
	"transactionKey",
}

func TestConfirmFlow(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-flow-1", 15000, CardSuccess)
	require.Regexp(t, `^tgen_[0-9]{14}[A-Za-z0-9]{10}$`, key)

	before := e.get(key)
	require.Equal(t, 200, before.status)
	require.Equal(t, StatusInProgress, before.body["status"])
	require.Nil(t, before.body["approvedAt"])
	require.Nil(t, before.body["card"])

	res := e.confirm(key, "order-flow-1", 15000, nil)
	require.Equal(t, 200, res.status, string(res.raw))
	for _, k := range paymentKeys {
		require.Contains(t, res.body, k)
	}
	require.Equal(t, StatusDone, res.body["status"])
	require.Equal(t, "카드", res.body["method"])
	require.Equal(t, "2024-01-02T01:00:00+09:00", res.body["approvedAt"])
	require.EqualValues(t, 15000, res.body["totalAmount"])
	require.EqualValues(t, 15000, res.body["balanceAmount"])
	require.EqualValues(t, 13636, res.body["suppliedAmount"])
	require.EqualValues(t, 1364, res.body["vat"])
	require.Nil(t, res.body["cancels"])
	require.Nil(t, res.body["failure"])
	require.Len(t, res.body["lastTransactionKey"], 32)
	card := res.body["card"].(map[string]any)
	require.Equal(t, "00000000", card["approveNo"])
	require.EqualValues(t, 15000, card["amount"])
	require.Equal(t, "신용", card["cardType"])

	byOrder := e.call("GET", "/v1/payments/orders/order-flow-1", nil, nil)
	require.Equal(t, 200, byOrder.status)
	require.Equal(t, res.body, byOrder.body)

	en := e.call("GET", "/v1/payments/"+key, nil, map[string]string{"Accept-Language": "en-US"})
	require.Equal(t, "CARD", en.body["method"])

	require.Equal(t, 1, e.sb.ConfirmCount("order-flow-1"))
	rec := e.sb.Record()
	require.Len(t, rec, 1)
	require.Equal(t, RecordEntry{Op: OpConfirm, PaymentKey: key, OrderID: "order-flow-1", Amount: 15000,
		At: e.clock.Now(), TransactionKey: res.body["lastTransactionKey"].(string)}, rec[0])
}

func TestNotFound(t *testing.T) {
	e := newEnv(t)
	require.Equal(t, "NOT_FOUND_PAYMENT", e.get("tgen_nope").code())
	res := e.call("GET", "/v1/payments/orders/no-such-order", nil, nil)
	require.Equal(t, 404, res.status)
	require.Equal(t, "NOT_FOUND_PAYMENT", res.code())
	res = e.confirm("tgen_nope", "order-none-1", 1000, nil)
	require.Equal(t, 404, res.status)
	require.Equal(t, "NOT_FOUND_PAYMENT", res.code())
}

func TestConfirmValidation(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-valid-1", 10000, CardSuccess)

	res := e.confirm(key, "order-valid-1", 9000, nil)
	require.Equal(t, 400, res.status)
	require.Equal(t, "INVALID_REQUEST", res.code())

	res = e.confirm(key, "order-other-1", 10000, nil)
	require.Equal(t, 404, res.status)
	require.Equal(t, "NOT_FOUND_PAYMENT_SESSION", res.code())

	res = e.call("POST", "/v1/payments/confirm", map[string]any{"paymentKey": key}, nil)
	require.Equal(t, "INVALID_REQUEST", res.code())

	// Nothing above changed the payment: the right confirm still works.
	require.Equal(t, StatusInProgress, e.get(key).body["status"])
	require.Equal(t, 200, e.confirm(key, "order-valid-1", 10000, nil).status)

	res = e.confirm(key, "order-valid-1", 10000, nil)
	require.Equal(t, 400, res.status)
	require.Equal(t, "ALREADY_PROCESSED_PAYMENT", res.code())
	require.Equal(t, 1, e.sb.ConfirmCount("order-valid-1"))

	// A payment that was never authenticated has no session to confirm.
	ready, err := e.sb.CreatePayment(PaymentRequest{OrderID: "order-valid-2", OrderName: "x", Amount: 1000})
	require.NoError(t, err)
	res = e.confirm(ready, "order-valid-2", 1000, nil)
	require.Equal(t, "NOT_FOUND_PAYMENT_SESSION", res.code())

	// A second payment for an order that was already paid is refused.
	_, err = e.sb.CreatePayment(PaymentRequest{OrderID: "order-valid-1", OrderName: "x", Amount: 1000})
	require.ErrorContains(t, err, "DUPLICATED_ORDER_ID")
}

func TestWindows(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-window-1", 10000, CardSuccess)
	e.clock.mu.Lock()
	e.clock.t = e.clock.t.Add(9 * time.Minute)
	e.clock.mu.Unlock()
	require.Equal(t, StatusInProgress, e.get(key).body["status"])

	e.sb.AdvanceClock(2 * time.Minute) // 11 minutes after authentication
	res := e.confirm(key, "order-window-1", 10000, nil)
	require.Equal(t, 404, res.status)
	require.Equal(t, "NOT_FOUND_PAYMENT_SESSION", res.code())
	got := e.get(key).body
	require.Equal(t, StatusExpired, got["status"])
	require.Nil(t, got["method"])
	require.Equal(t, "EXPIRED_PAYMENT", got["failure"].(map[string]any)["code"])
	require.Equal(t, 0, e.sb.ConfirmCount("order-window-1"))

	ready, err := e.sb.CreatePayment(PaymentRequest{OrderID: "order-window-2", OrderName: "x", Amount: 1000})
	require.NoError(t, err)
	e.sb.AdvanceClock(31 * time.Minute)
	require.Equal(t, StatusExpired, e.get(ready).body["status"])
	require.Error(t, e.sb.Authenticate(ready, CardSuccess))
}

func TestDeclinedCards(t *testing.T) {
	for _, card := range []string{CardDeclined, CardInsufficient} {
		t.Run(card, func(t *testing.T) {
			e := newEnv(t)
			key := e.authenticated("order-decline-1", 10000, card)
			res := e.confirm(key, "order-decline-1", 10000, nil)
			require.Equal(t, 403, res.status)
			require.Equal(t, "REJECT_CARD_PAYMENT", res.code())
			got := e.get(key).body
			require.Equal(t, StatusAborted, got["status"])
			require.Equal(t, "REJECT_CARD_PAYMENT", got["failure"].(map[string]any)["code"])
			require.Equal(t, 0, e.sb.ConfirmCount("order-decline-1"))
			require.Equal(t, "ALREADY_PROCESSED_PAYMENT", e.confirm(key, "order-decline-1", 10000, nil).code())
		})
	}
}

func TestAuthFailCard(t *testing.T) {
	e := newEnv(t)
	key, err := e.sb.CreatePayment(PaymentRequest{OrderID: "order-authfail-1", OrderName: "x", Amount: 1000})
	require.NoError(t, err)
	err = e.sb.Authenticate(key, CardAuthFail)
	var se *Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, "REJECT_CARD_COMPANY", se.Code)
	require.Equal(t, StatusReady, e.get(key).body["status"])
}

func TestSlowCard(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SlowCardDelay = 2 * time.Second })
	key := e.authenticated("order-slow-1", 10000, CardSlow)
	c := &http.Client{Timeout: 100 * time.Millisecond}
	_, err := e.try(c, "POST", "/v1/payments/confirm",
		map[string]any{"paymentKey": key, "orderId": "order-slow-1", "amount": 10000}, nil)
	require.Error(t, err)
	require.Equal(t, StatusDone, e.get(key).body["status"])
	require.Equal(t, 1, e.sb.ConfirmCount("order-slow-1"))

	// The delay is adjustable at run time.
	e.sb.SetSlowCardDelay(10 * time.Millisecond)
	key = e.authenticated("order-slow-2", 10000, CardSlow)
	require.Equal(t, 200, e.confirm(key, "order-slow-2", 10000, nil).status)
}

func TestIdempotentReplay(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-idem-1", 10000, CardSuccess)
	other := e.authenticated("order-idem-2", 20000, CardSuccess)
	hdr := map[string]string{"Idempotency-Key": "idem-1"}

	first := e.confirm(key, "order-idem-1", 10000, hdr)
	require.Equal(t, 200, first.status)
	e.sb.AdvanceClock(time.Minute)
	again := e.confirm(key, "order-idem-1", 10000, hdr)
	require.Equal(t, 200, again.status)
	require.Equal(t, first.raw, again.raw)

	// The body is not part of the scope: another paymentKey replays too.
	cross := e.confirm(other, "order-idem-2", 20000, hdr)
	require.Equal(t, first.raw, cross.raw)
	require.Equal(t, StatusInProgress, e.get(other).body["status"])
	require.Len(t, e.sb.Record(), 1)
	require.Equal(t, "idem-1", e.sb.Record()[0].IdempotencyKey)

	// Errors replay as well.
	bad := map[string]string{"Idempotency-Key": "idem-2"}
	require.Equal(t, 400, e.confirm(other, "order-idem-2", 1, bad).status)
	res := e.confirm(other, "order-idem-2", 20000, bad)
	require.Equal(t, 400, res.status)
	require.Equal(t, "INVALID_REQUEST", res.code())

	// A different path is a different scope.
	res = e.call("POST", "/v1/payments/"+key+"/cancel", map[string]any{"cancelReason": "test"}, hdr)
	require.Equal(t, 200, res.status)
	require.Equal(t, StatusCanceled, res.body["status"])

	// Keys live 15 days.
	e.sb.AdvanceClock(15 * 24 * time.Hour)
	res = e.confirm(key, "order-idem-1", 10000, hdr)
	require.Equal(t, "ALREADY_PROCESSED_PAYMENT", res.code())
	require.Equal(t, 1, e.sb.ConfirmCount("order-idem-1"))

	long := make([]byte, 301)
	for i := range long {
		long[i] = 'k'
	}
	res = e.confirm(other, "order-idem-2", 20000, map[string]string{"Idempotency-Key": string(long)})
	require.Equal(t, "INVALID_IDEMPOTENCY_KEY", res.code())
}

func TestIdempotencyInFlight(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-flight-1", 10000, CardSuccess)
	// The first request sleeps until Close wakes it, so the second one is
	// certain to arrive while the first is in flight.
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpConfirm, Kind: Latency, Latency: time.Minute, Times: 1}))
	hdr := map[string]string{"Idempotency-Key": "flight-1"}

	var first result
	var wg sync.WaitGroup
	wg.Go(func() { first = e.confirm(key, "order-flight-1", 10000, hdr) })
	require.Eventually(t, func() bool {
		e.sb.mu.Lock()
		defer e.sb.mu.Unlock()
		return len(e.sb.idem) == 1
	}, time.Second, 5*time.Millisecond)

	busy := e.confirm(key, "order-flight-1", 10000, hdr)
	require.Equal(t, 409, busy.status)
	require.Equal(t, "IDEMPOTENT_REQUEST_PROCESSING", busy.code())
	e.sb.Close() // wakes the sleeper, which then commits
	wg.Wait()
	require.Equal(t, 200, first.status)

	replay := e.confirm(key, "order-flight-1", 10000, hdr)
	require.Equal(t, first.raw, replay.raw)
	require.Equal(t, 1, e.sb.ConfirmCount("order-flight-1"))
}

func TestConcurrentConfirms(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-race-1", 10000, CardSuccess)
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			res := e.confirm(key, "order-race-1", 10000, nil)
			mu.Lock()
			statuses[res.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Equal(t, map[int]int{200: 1, 400: 19}, statuses)
	require.Equal(t, 1, e.sb.ConfirmCount("order-race-1"))
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-cancel-1", 10000, CardSuccess)
	path := "/v1/payments/" + key + "/cancel"

	res := e.call("POST", path, map[string]any{"cancelReason": "early"}, nil)
	require.Equal(t, 403, res.status)
	require.Equal(t, "NOT_CANCELABLE_PAYMENT", res.code())

	require.Equal(t, 200, e.confirm(key, "order-cancel-1", 10000, nil).status)
	res = e.call("POST", path, map[string]any{}, nil)
	require.Equal(t, "INVALID_REQUEST", res.code())

	res = e.call("POST", path, map[string]any{"cancelReason": "부분 환불", "cancelAmount": 4000}, nil)
	require.Equal(t, 200, res.status, string(res.raw))
	require.Equal(t, StatusPartialCanceled, res.body["status"])
	require.EqualValues(t, 6000, res.body["balanceAmount"])
	require.EqualValues(t, 10000, res.body["totalAmount"])
	require.EqualValues(t, 5455, res.body["suppliedAmount"])
	require.EqualValues(t, 545, res.body["vat"])
	cancels := res.body["cancels"].([]any)
	require.Len(t, cancels, 1)
	c0 := cancels[0].(map[string]any)
	require.EqualValues(t, 4000, c0["cancelAmount"])
	require.EqualValues(t, 6000, c0["refundableAmount"])
	require.Equal(t, "DONE", c0["cancelStatus"])
	require.Equal(t, c0["transactionKey"], res.body["lastTransactionKey"])

	res = e.call("POST", path, map[string]any{"cancelReason": "too much", "cancelAmount": 7000}, nil)
	require.Equal(t, 403, res.status)
	require.Equal(t, "NOT_CANCELABLE_AMOUNT", res.code())

	res = e.call("POST", path, map[string]any{"cancelReason": "rest"}, nil)
	require.Equal(t, 200, res.status)
	require.Equal(t, StatusCanceled, res.body["status"])
	require.EqualValues(t, 0, res.body["balanceAmount"])
	require.Len(t, res.body["cancels"], 2)
	require.Equal(t, "CANCELED", res.body["card"].(map[string]any)["acquireStatus"])

	res = e.call("POST", path, map[string]any{"cancelReason": "again"}, nil)
	require.Equal(t, 400, res.status)
	require.Equal(t, "ALREADY_CANCELED_PAYMENT", res.code())

	require.Equal(t, 2, e.sb.CancelCount("order-cancel-1"))
	rec := e.sb.Record()
	require.Equal(t, []int64{10000, 4000, 6000}, []int64{rec[0].Amount, rec[1].Amount, rec[2].Amount})
}

func TestSettlements(t *testing.T) {
	e := newEnv(t)
	k1 := e.authenticated("order-settle-1", 10000, CardSuccess)
	require.Equal(t, 200, e.confirm(k1, "order-settle-1", 10000, nil).status)
	e.sb.AdvanceClock(time.Hour)
	k2 := e.authenticated("order-settle-2", 5000, CardSuccess)
	require.Equal(t, 200, e.confirm(k2, "order-settle-2", 5000, nil).status)
	e.sb.AdvanceClock(time.Hour)
	require.Equal(t, 200, e.call("POST", "/v1/payments/"+k1+"/cancel",
		map[string]any{"cancelReason": "partial", "cancelAmount": 2500}, nil).status)
	e.authenticated("order-settle-3", 7000, CardSuccess) // never confirmed: no row

	// The clock is 2024-01-01 16:00 UTC, so the sale happened on the 2nd in Seoul.
	res := e.call("GET", "/v1/settlements?startDate=2024-01-01&endDate=2024-01-01", nil, nil)
	require.Equal(t, 200, res.status)
	require.JSONEq(t, "[]", string(res.raw))

	res = e.call("GET", "/v1/settlements?startDate=2024-01-02&endDate=2024-01-02", nil, nil)
	require.Equal(t, 200, res.status)
	var rows []map[string]any
	require.NoError(t, jsonUnmarshal(res.raw, &rows))
	require.Len(t, rows, 3)
	require.Equal(t, "order-settle-1", rows[0]["orderId"])
	require.EqualValues(t, 10000, rows[0]["amount"])
	require.EqualValues(t, 320, rows[0]["fee"])
	require.EqualValues(t, 9680, rows[0]["payOutAmount"])
	require.EqualValues(t, 291, rows[0]["supplyAmount"])
	require.EqualValues(t, 29, rows[0]["vat"])
	require.Equal(t, "2024-01-02", rows[0]["soldDate"])
	require.Equal(t, "2024-01-04", rows[0]["paidOutDate"])
	require.Equal(t, "카드", rows[0]["method"])
	require.Nil(t, rows[0]["cancel"])
	require.EqualValues(t, 160, rows[1]["fee"])
	require.EqualValues(t, -2500, rows[2]["amount"])
	require.EqualValues(t, -80, rows[2]["fee"])
	require.EqualValues(t, -2420, rows[2]["payOutAmount"])
	require.NotNil(t, rows[2]["cancel"])

	res = e.call("GET", "/v1/settlements?startDate=2024-01-02&endDate=2024-01-02&page=2&size=2", nil, nil)
	require.NoError(t, jsonUnmarshal(res.raw, &rows))
	require.Len(t, rows, 1)

	res = e.call("GET", "/v1/settlements?startDate=2024-01-04&endDate=2024-01-04&dateType=paidOutDate", nil, nil)
	require.NoError(t, jsonUnmarshal(res.raw, &rows))
	require.Len(t, rows, 3)

	require.Equal(t, "INVALID_REQUEST", e.call("GET", "/v1/settlements?startDate=2024-01-02", nil, nil).code())
	require.Equal(t, "INVALID_REQUEST", e.call("GET", "/v1/settlements?startDate=2024-01-02&endDate=2024-01-02&size=5001", nil, nil).code())
}

func TestTestCodeHeader(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		code   string
		status int
	}{
		{"REJECT_CARD_PAYMENT", 403},
		{"ALREADY_PROCESSED_PAYMENT", 400},
		{"IDEMPOTENT_REQUEST_PROCESSING", 409},
		{"FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", 500},
		{"NOT_FOUND_PAYMENT_SESSION", 404},
	}
	for _, tc := range tests {
		hdr := map[string]string{"TossPayments-Test-Code": tc.code}
		// A dummy paymentKey is fine: the header wins before validation.
		res := e.confirm("dummy", "dummy-order", 1, hdr)
		require.Equal(t, tc.status, res.status, tc.code)
		require.Equal(t, tc.code, res.code())
		require.NotEmpty(t, res.body["message"])
	}
	res := e.call("GET", "/v1/payments/whatever", nil, map[string]string{"TossPayments-Test-Code": "COMMON_ERROR"})
	require.Equal(t, 500, res.status)
	require.Empty(t, e.sb.Record())
}

func TestMountWithoutStripPrefix(t *testing.T) {
	sb := New(Config{BasePath: "/sandbox/"})
	t.Cleanup(sb.Close)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", sb) // no StripPrefix: the sandbox strips BasePath itself
	srv := mustServe(t, mux)
	e := &env{t: t, sb: sb, base: srv + "/sandbox", client: http.DefaultClient}
	key := e.authenticated("order-mount-1", 1000, CardSuccess)
	require.Equal(t, 200, e.confirm(key, "order-mount-1", 1000, nil).status)
}
