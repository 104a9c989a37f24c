package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/store/storetest"
)

const (
	confirmQ = `mutation($k: String!, $o: ID!, $pk: String!, $a: Money!) {
		confirmPayment(input: {idempotencyKey: $k, orderId: $o, paymentKey: $pk, amount: $a}) {
			order { id status } payment { id status amount pgPaymentKey events { from to source } } } }`
	orderStatusQ = `query($id: ID!) { order(id: $id) { status payments { status } } }`
	topUpQ       = `mutation($k: String!, $a: Money!) { createOrder(input: {idempotencyKey: $k, kind: WALLET_TOPUP, amount: $a}) { order { id amount } } }`
)

// cardEnv makes the probe quick and the breaker easy to trip.
func cardEnv(t testing.TB, eng storetest.Engine, extra map[string]string) map[string]string {
	env := map[string]string{
		"PAGO_PROBE_DELAY": "500ms", "PAGO_PROBE_MAX_DELAY": "1s",
		"PAGO_CONFIRM_TIMEOUT": "2s", "PAGO_PG_TIMEOUT": "1s",
		"PAGO_PG_BREAKER_FAILURES": "3", "PAGO_PG_BREAKER_OPEN_TIMEOUT": "1s",
		// The PG call is bounded by PAGO_CONFIRM_TIMEOUT; these tests are
		// about its outcome, so the customer waits for it even when a busy
		// machine makes settling slow (the wait bound has tests of its own).
		"PAGO_CONFIRM_WAIT": "15s",
		// Longer than every wait above (PAGO_REFUND_WAIT too, in refundEnv).
		"PAGO_REQUEST_TIMEOUT": "60s",
	}
	for k, v := range extra {
		env[k] = v
	}
	return testEnv(t, eng, env)
}

// authenticate does at the sandbox what the customer does in the widget:
// creates the payment and pays with card; it returns the payment key.
func (s *testServer) authenticate(orderID string, amount int64, card string) string {
	s.t.Helper()
	key, err := s.app.sandbox.CreatePayment(sandbox.PaymentRequest{OrderID: orderID, OrderName: "test", Amount: amount})
	require.NoError(s.t, err)
	require.NoError(s.t, s.app.sandbox.Authenticate(key, card))
	return key
}

func (c *customer) orderStatus(id string) string {
	var out struct{ Order struct{ Status string } }
	c.do(orderStatusQ, map[string]any{"id": id}).into(c.s.t, &out)
	return out.Order.Status
}

func TestCardPaymentConfirm(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, nil))
		alice := s.customer("alice")
		prod := s.product("mug", 28_000, 3)

		// Success: PAID, one confirm at the PG, history kept.
		orderID := alice.order(prod, 1)
		key := s.authenticate(orderID, 28_000, sandbox.CardSuccess)
		var out struct {
			ConfirmPayment struct {
				Order   struct{ Status string }
				Payment struct {
					Status string
					Events []struct{ From, To, Source string }
				}
			}
		}
		alice.do(confirmQ, map[string]any{"k": "c1", "o": orderID, "pk": key, "a": 28_000}).into(t, &out)
		require.Equal(t, "PAID", out.ConfirmPayment.Order.Status)
		require.Equal(t, "DONE", out.ConfirmPayment.Payment.Status)
		require.Len(t, out.ConfirmPayment.Payment.Events, 2)
		// A repeat (the SPA after the redirect, another key) is a no-op.
		alice.do(confirmQ, map[string]any{"k": "c2", "o": orderID, "pk": key, "a": 28_000}).into(t, &out)
		require.Equal(t, "PAID", out.ConfirmPayment.Order.Status)
		require.Equal(t, 1, s.app.sandbox.ConfirmCount(orderID))

		// Tampered amount: refused, order untouched, PG never asked.
		o2 := alice.order(prod, 1)
		k2 := s.authenticate(o2, 28_000, sandbox.CardSuccess)
		require.Equal(t, "AMOUNT_MISMATCH", alice.do(confirmQ, map[string]any{"k": "c3", "o": o2, "pk": k2, "a": 100}).code())
		require.Equal(t, "PENDING", alice.orderStatus(o2))
		require.Zero(t, s.app.sandbox.ConfirmCount(o2))

		// Declined: FAILED with the PG's code, stock back.
		o3 := alice.order(prod, 1)
		k3 := s.authenticate(o3, 28_000, sandbox.CardDeclined)
		resp := alice.do(confirmQ, map[string]any{"k": "c4", "o": o3, "pk": k3, "a": 28_000})
		require.Equal(t, "PAYMENT_DECLINED", resp.code())
		require.Equal(t, "REJECT_CARD_PAYMENT", resp.Errors[0].Extensions["pgCode"])
		require.Equal(t, "FAILED", alice.orderStatus(o3))
		require.Equal(t, 1, s.stock(prod), "3 − paid − pending o2 + returned o3")

		// Someone else's order is not found.
		bob := s.customer("bob")
		require.Equal(t, "NOT_FOUND", bob.do(confirmQ, map[string]any{"k": "c5", "o": o2, "pk": k2, "a": 28_000}).code())
		s.verify()
	})
}

func TestCardTopUpCreditsWallet(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, nil))
		alice := s.customer("alice")
		var out struct {
			CreateOrder struct{ Order struct{ ID string } }
		}
		alice.do(topUpQ, map[string]any{"k": "t1", "a": 30_000}).into(t, &out)
		id := out.CreateOrder.Order.ID
		key := s.authenticate(id, 30_000, sandbox.CardSuccess)
		alice.do(confirmQ, map[string]any{"k": "c1", "o": id, "pk": key, "a": 30_000}).into(t, &struct{}{})
		require.EqualValues(t, 30_000, alice.balance())
		s.verify()
	})
}

// A top-up the PG approved but the wallet can no longer hold (another
// credit landed after the order was created) is refunded at the PG, not
// kept and not left in doubt.
func TestCardTopUpPastTheCeilingIsRefunded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, nil))
		alice := s.customer("alice")
		var out struct {
			CreateOrder struct{ Order struct{ ID string } }
		}
		alice.do(topUpQ, map[string]any{"k": "t1", "a": 60_000}).into(t, &out)
		id := out.CreateOrder.Order.ID
		s.fund(alice, 50_000) // now 50,000 + 60,000 would pass the 100,000 ceiling
		key := s.authenticate(id, 60_000, sandbox.CardSuccess)

		resp := alice.do(confirmQ, map[string]any{"k": "c1", "o": id, "pk": key, "a": 60_000})
		require.Equal(t, "BALANCE_LIMIT_EXCEEDED", resp.code())
		require.Equal(t, "FAILED", alice.orderStatus(id))
		require.EqualValues(t, 50_000, alice.balance())
		require.Equal(t, 1, s.app.sandbox.ConfirmCount(id))
		require.Equal(t, 1, s.app.sandbox.CancelCount(id), "the money went back")
		// The answer is the key's: replayed, no second cancel.
		require.Equal(t, "BALANCE_LIMIT_EXCEEDED", alice.do(confirmQ, map[string]any{"k": "c1", "o": id, "pk": key, "a": 60_000}).code())
		require.Equal(t, 1, s.app.sandbox.CancelCount(id))
		s.verify()
	})
}

// 40 card top-ups racing past the wallet ceiling: the ones that fit are
// PAID, every other one is refunded at the PG and answers
// BALANCE_LIMIT_EXCEEDED — never PAYMENT_DECLINED (it raced to that, with
// pgCode REFUND_DECIDED, while the answer was read back from event text).
func TestRacingCardTopUpsPastTheCeilingAnswerBalanceLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, nil))
		alice := s.customer("alice")
		s.fund(alice, 50_000) // room for five top-ups of 10,000 under the 100,000 ceiling
		const n = 40
		orders, keys := make([]string, n), make([]string, n)
		for i := range n {
			var out struct {
				CreateOrder struct{ Order struct{ ID string } }
			}
			alice.do(topUpQ, map[string]any{"k": fmt.Sprintf("t%d", i), "a": 10_000}).into(t, &out)
			orders[i] = out.CreateOrder.Order.ID
			keys[i] = s.authenticate(orders[i], 10_000, sandbox.CardSuccess)
		}
		codes := make([]string, n)
		parallel(n, func(i int) {
			codes[i] = alice.doUntilAnswered(confirmQ, map[string]any{"k": fmt.Sprintf("c%d", i), "o": orders[i], "pk": keys[i], "a": 10_000}).code()
		})
		count := map[string]int{}
		for i, c := range codes {
			count[c]++
			want := map[string]string{"": "PAID", "BALANCE_LIMIT_EXCEEDED": "FAILED"}[c]
			require.NotEmpty(t, want, "top-up %d answered %q", i, c)
			require.Equal(t, want, alice.orderStatus(orders[i]))
			refunds := 0
			if c != "" {
				refunds = 1
			}
			require.Equal(t, refunds, s.app.sandbox.CancelCount(orders[i]), "top-up %d", i)
		}
		require.Equal(t, map[string]int{"": 5, "BALANCE_LIMIT_EXCEEDED": n - 5}, count)
		require.EqualValues(t, 100_000, alice.balance())
		s.verify()
	})
}

// The PG commits and the answer is lost (or comes too late): IN_DOUBT, then
// PAID by itself, with exactly one confirm executed at the PG.
func TestInDoubtSettlesByItself(t *testing.T) {
	for _, fault := range []sandbox.Fault{
		{Op: sandbox.OpConfirm, Kind: sandbox.CommitThenDrop},
		{Op: sandbox.OpConfirm, Kind: sandbox.Latency, Latency: 4 * time.Second},
	} {
		t.Run(string(fault.Kind), func(t *testing.T) {
			forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
				s := startServer(t, cardEnv(t, eng, nil))
				// No webhooks: the probe job alone must settle it.
				s.app.sandbox.SetWebhookURL("")
				alice := s.customer("alice")
				orderID := alice.order(s.product("tea", 12_000, 5), 1)
				key := s.authenticate(orderID, 12_000, sandbox.CardSuccess)
				f := fault
				f.OrderID = orderID
				require.NoError(t, s.app.sandbox.Faults().Inject(f))

				resp := alice.do(confirmQ, map[string]any{"k": "c1", "o": orderID, "pk": key, "a": 12_000})
				require.Equal(t, "PAYMENT_IN_DOUBT", resp.code())
				require.Equal(t, "IN_DOUBT", alice.orderStatus(orderID))
				var ops struct {
					InDoubtPayments struct{ Nodes []struct{ ID string } }
				}
				s.gql(s.token("ops", true), `{ inDoubtPayments { nodes { id } } }`, nil).into(t, &ops)
				require.Len(t, ops.InDoubtPayments.Nodes, 1)

				s.app.sandbox.Faults().Clear()
				require.Eventually(t, func() bool { return alice.orderStatus(orderID) == "PAID" }, 20*time.Second, 200*time.Millisecond)
				require.Equal(t, 1, s.app.sandbox.ConfirmCount(orderID), "charged exactly once")
				// The mutation's key now answers with the settled payment.
				var out struct {
					ConfirmPayment struct{ Order struct{ Status string } }
				}
				alice.do(confirmQ, map[string]any{"k": "c1", "o": orderID, "pk": key, "a": 12_000}).into(t, &out)
				require.Equal(t, "PAID", out.ConfirmPayment.Order.Status)
				s.verify()
			})
		})
	}
}

// With the PG failing every call, the breaker opens and confirms fail fast
// with PG_UNAVAILABLE without reaching it; when the PG heals, so does pago.
func TestBreakerFailsFastAndRecovers(t *testing.T) {
	s := startServer(t, cardEnv(t, storetest.SQLite(), nil))
	alice := s.customer("alice")
	prod := s.product("tea", 12_000, 20)
	require.NoError(t, s.app.sandbox.Faults().Inject(sandbox.Fault{Op: sandbox.OpAny, Kind: sandbox.HTTPError, StatusCode: 500, Code: "FAILED_INTERNAL_SYSTEM_PROCESSING"}))

	var orders []string
	for i := range 4 {
		o := alice.order(prod, 1)
		orders = append(orders, o)
		key := s.authenticate(o, 12_000, sandbox.CardSuccess)
		code := alice.do(confirmQ, map[string]any{"k": "c" + o, "o": o, "pk": key, "a": 12_000}).code()
		require.Contains(t, []string{"PAYMENT_IN_DOUBT", "PG_UNAVAILABLE"}, code, "attempt %d", i)
	}
	// Open now: fast, and the PG sees nothing.
	before := len(s.app.sandbox.Record())
	o := alice.order(prod, 1)
	key := s.authenticate(o, 12_000, sandbox.CardSuccess)
	start := time.Now()
	require.Equal(t, "PG_UNAVAILABLE", alice.do(confirmQ, map[string]any{"k": "open", "o": o, "pk": key, "a": 12_000}).code())
	require.Less(t, time.Since(start), 500*time.Millisecond)
	require.Equal(t, before, len(s.app.sandbox.Record()))
	require.Equal(t, "PENDING", alice.orderStatus(o), "nothing was charged: the order can be paid again")

	s.app.sandbox.Faults().Clear()
	require.Eventually(t, func() bool {
		r := alice.do(confirmQ, map[string]any{"k": "retry-" + time.Now().String(), "o": o, "pk": key, "a": 12_000})
		return r.code() == ""
	}, 10*time.Second, 300*time.Millisecond)
	require.Equal(t, "PAID", alice.orderStatus(o))
	// The ones left in doubt while it was down settle too.
	for _, id := range orders {
		require.Eventually(t, func() bool {
			st := alice.orderStatus(id)
			return st == "PAID" || st == "PENDING"
		}, 20*time.Second, 200*time.Millisecond, id)
		if alice.orderStatus(id) == "PAID" {
			require.Equal(t, 1, s.app.sandbox.ConfirmCount(id))
		} else {
			require.Zero(t, s.app.sandbox.ConfirmCount(id))
		}
	}
	s.verify()
}

// A PG that refuses pago's key is pago's misconfiguration, not the card's:
// the customer gets PG_UNAVAILABLE with nothing internal in it, the order
// stays payable, and once the key is right the same payment completes.
func TestWrongPGKeyIsUnavailableNotDeclined(t *testing.T) {
	s := startServer(t, cardEnv(t, storetest.SQLite(), nil))
	alice := s.customer("alice")
	prod := s.product("tea", 12_000, 10)
	for _, code := range []string{"UNAUTHORIZED_KEY", "INVALID_API_KEY", "FORBIDDEN_REQUEST", "NOT_FOUND_MERCHANT"} {
		o := alice.order(prod, 1)
		key := s.authenticate(o, 12_000, sandbox.CardSuccess)
		require.NoError(t, s.app.sandbox.Faults().Inject(sandbox.Fault{Op: sandbox.OpConfirm, Kind: sandbox.HTTPError, Code: code, Times: 1}))
		resp := alice.do(confirmQ, map[string]any{"k": "c-" + code, "o": o, "pk": key, "a": 12_000})
		require.Equal(t, "PG_UNAVAILABLE", resp.code(), code)
		require.Equal(t, "PENDING", alice.orderStatus(o), code)
		raw, _ := json.Marshal(resp.Errors)
		for _, internal := range []string{code, "toss", "http://", "/v1/payments"} {
			require.NotContains(t, string(raw), internal, "nothing internal reaches the customer")
		}
		require.Zero(t, s.app.sandbox.ConfirmCount(o))
		if code == "UNAUTHORIZED_KEY" {
			// Authentication is refused before Toss's idempotency store:
			// with the key fixed (the fault is spent) the same payment
			// completes. The other codes are stored under the
			// Idempotency-Key; completing those payments needs payment/'s
			// re-confirm under a new key.
			resp = alice.do(confirmQ, map[string]any{"k": "c-after", "o": o, "pk": key, "a": 12_000})
			require.Equal(t, "", resp.code())
			require.Equal(t, "PAID", alice.orderStatus(o))
		}
	}
}

// Every kind Toss may send to the webhook URL is acknowledged at once, so
// the PG never retries it for days nor e-mails the merchant.
func TestOtherWebhookKindsAreAcknowledged(t *testing.T) {
	s := startServer(t, cardEnv(t, storetest.SQLite(), nil))
	for _, kind := range sandbox.WebhookKinds {
		require.NoError(t, s.app.sandbox.SendWebhook(kind, "ord_other_kinds"))
	}
	require.Eventually(t, func() bool {
		n := 0
		for _, a := range s.app.sandbox.WebhookAttempts() {
			if a.OrderID == "ord_other_kinds" {
				n++
			}
		}
		return n >= len(sandbox.WebhookKinds)
	}, 20*time.Second, 50*time.Millisecond)
	seen := map[string]bool{}
	for _, a := range s.app.sandbox.WebhookAttempts() {
		if a.OrderID != "ord_other_kinds" {
			continue
		}
		require.Equal(t, http.StatusOK, a.ResponseStatus, "%s: %s", a.Status, a.Error)
		require.Zero(t, a.RetriedCount, a.Status)
		seen[a.Status] = true
	}
	require.Len(t, seen, len(sandbox.WebhookKinds))
}

func (s *testServer) postWebhook(body string, headers map[string]string) int {
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/webhooks/pg", bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	require.NoError(s.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestWebhooksAreNotBelieved(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, nil))
		alice := s.customer("alice")
		prod := s.product("tea", 12_000, 5)
		orderID := alice.order(prod, 1)
		key := s.authenticate(orderID, 12_000, sandbox.CardSuccess)
		alice.do(confirmQ, map[string]any{"k": "c1", "o": orderID, "pk": key, "a": 12_000}).into(t, &struct{}{})

		forged := func(status string, amount int64) string {
			b, _ := json.Marshal(map[string]any{"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-21T10:00:00.000000",
				"data": map[string]any{"paymentKey": key, "orderId": orderID, "status": status, "totalAmount": amount}})
			return string(b)
		}
		require.Equal(t, 200, s.postWebhook(forged("CANCELED", 12_000), map[string]string{"tosspayments-webhook-transmission-id": "whtrans_1"}))
		require.Equal(t, 200, s.postWebhook(forged("CANCELED", 12_000), map[string]string{"tosspayments-webhook-transmission-id": "whtrans_1"}), "replayed")
		require.Equal(t, 200, s.postWebhook(forged("DONE", 1), nil), "wrong amount")
		require.Equal(t, 200, s.postWebhook(`{"eventType":"SOMETHING_ELSE","data":{}}`, nil), "kinds pago does not handle are acknowledged")
		require.Equal(t, 200, s.postWebhook(`{"createdAt":"2024-01-01T00:00:00.000000","secret":"ps_x","status":"DONE","transactionKey":"t","orderId":"o"}`, nil), "DEPOSIT_CALLBACK is flat")
		require.Equal(t, 400, s.postWebhook(`not json`, nil))
		require.Equal(t, 400, s.postWebhook(`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"../../etc"}}`, nil))
		time.Sleep(1500 * time.Millisecond) // let the webhook jobs run
		require.Equal(t, "PAID", alice.orderStatus(orderID))

		// A webhook for a payment in doubt settles it from the PG's record.
		o2 := alice.order(prod, 1)
		k2 := s.authenticate(o2, 12_000, sandbox.CardSuccess)
		require.NoError(t, s.app.sandbox.Faults().Inject(sandbox.Fault{Op: sandbox.OpConfirm, OrderID: o2, Kind: sandbox.CommitThenDrop}))
		require.Equal(t, "PAYMENT_IN_DOUBT", alice.do(confirmQ, map[string]any{"k": "c2", "o": o2, "pk": k2, "a": 12_000}).code())
		s.app.sandbox.Faults().Clear()
		require.Equal(t, 200, s.postWebhook(forged("DONE", 12_000)[0:0]+`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"`+k2+`"}}`, nil))
		require.Eventually(t, func() bool { return alice.orderStatus(o2) == "PAID" }, 20*time.Second, 100*time.Millisecond)
		require.Equal(t, 1, s.app.sandbox.ConfirmCount(o2))
		s.verify()
	})
}
