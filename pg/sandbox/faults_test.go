package sandbox

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFaultHTTPErrorIsStoredUnderTheKey: Toss replays the first answer to
// a repeated Idempotency-Key, errors included, so an error answer is never
// followed by a success under the same key; a new key executes.
func TestFaultHTTPErrorIsStoredUnderTheKey(t *testing.T) {
	for _, f := range []Fault{
		{Op: OpConfirm, Kind: HTTPError, StatusCode: 500, Times: 1},
		{Op: OpConfirm, Kind: HTTPError, Code: "PROVIDER_ERROR", Times: 1},
		{Op: OpConfirm, Kind: HTTPError, Code: "FORBIDDEN_CONSECUTIVE_REQUEST", Times: 1},
	} {
		e := newEnv(t)
		key := e.authenticated("order-fault-500", 10000, CardSuccess)
		require.NoError(t, e.sb.Faults().Inject(f))
		hdr := map[string]string{"Idempotency-Key": "k-500"}

		first := e.confirm(key, "order-fault-500", 10000, hdr)
		require.GreaterOrEqual(t, first.status, 400)
		for range 2 {
			res := e.confirm(key, "order-fault-500", 10000, hdr)
			require.Equal(t, first.status, res.status, "the error is replayed under its key")
			require.Equal(t, first.code(), res.code())
			require.Equal(t, StatusInProgress, e.get(key).body["status"])
		}
		require.Empty(t, e.sb.Faults().Rules(), "Times counted down to removal")
		require.Zero(t, e.sb.ConfirmCount("order-fault-500"))

		res := e.confirm(key, "order-fault-500", 10000, map[string]string{"Idempotency-Key": "k-501"})
		require.Equal(t, 200, res.status, "a new key executes")
		require.Equal(t, 1, e.sb.ConfirmCount("order-fault-500"))
	}
}

func TestFaultAuthRefusalIsNotStored(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-fault-401", 10000, CardSuccess)
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpConfirm, Kind: HTTPError, Code: "UNAUTHORIZED_KEY", Times: 1}))
	hdr := map[string]string{"Idempotency-Key": "k-401"}
	res := e.confirm(key, "order-fault-401", 10000, hdr)
	require.Equal(t, 401, res.status)
	require.Equal(t, "UNAUTHORIZED_KEY", res.code())
	res = e.confirm(key, "order-fault-401", 10000, hdr)
	require.Equal(t, 200, res.status, "authentication comes before the idempotency store")
}

func TestOverlongIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-long-key", 10000, CardSuccess)
	res := e.confirm(key, "order-long-key", 10000, map[string]string{"Idempotency-Key": strings.Repeat("k", 301)})
	require.Equal(t, 400, res.status)
	require.Equal(t, "INVALID_IDEMPOTENCY_KEY", res.code())
	res = e.confirm(key, "order-long-key", 10000, map[string]string{"Idempotency-Key": strings.Repeat("k", 300)})
	require.Equal(t, 200, res.status)
}

func TestFaultHTTPErrorDefaults(t *testing.T) {
	tests := []struct {
		fault  Fault
		status int
		code   string
	}{
		{Fault{Kind: HTTPError}, 500, "FAILED_INTERNAL_SYSTEM_PROCESSING"},
		{Fault{Kind: HTTPError, StatusCode: 429}, 403, "FORBIDDEN_CONSECUTIVE_REQUEST"},
		{Fault{Kind: HTTPError, Code: "FORBIDDEN_CONSECUTIVE_REQUEST"}, 403, "FORBIDDEN_CONSECUTIVE_REQUEST"},
		{Fault{Kind: HTTPError, Code: "PROVIDER_ERROR"}, 400, "PROVIDER_ERROR"},
		{Fault{Kind: HTTPError, StatusCode: 503, Code: "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING"}, 503, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING"},
	}
	for _, tc := range tests {
		e := newEnv(t)
		tc.fault.Op = OpGet
		require.NoError(t, e.sb.Faults().Inject(tc.fault))
		res := e.get("tgen_any")
		require.Equal(t, tc.status, res.status)
		require.Equal(t, tc.code, res.code())
	}
}

func TestFaultOrderFilterAndOps(t *testing.T) {
	e := newEnv(t)
	a := e.authenticated("order-filter-a", 1000, CardSuccess)
	b := e.authenticated("order-filter-b", 1000, CardSuccess)
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpAny, OrderID: "order-filter-a", Kind: HTTPError}))
	require.Equal(t, 500, e.get(a).status)
	require.Equal(t, 500, e.call("GET", "/v1/payments/orders/order-filter-a", nil, nil).status)
	require.Equal(t, 500, e.confirm(a, "order-filter-a", 1000, nil).status)
	require.Equal(t, 200, e.get(b).status)
	require.Equal(t, 200, e.confirm(b, "order-filter-b", 1000, nil).status)
	e.sb.Faults().Clear()
	require.Equal(t, 200, e.confirm(a, "order-filter-a", 1000, nil).status)

	require.Error(t, e.sb.Faults().Inject(Fault{Kind: "Nope"}))
	require.Error(t, e.sb.Faults().Inject(Fault{Kind: Latency, Op: "refund"}))
}

func TestFaultDecline(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-fault-decline", 1000, CardSuccess)
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpConfirm, Kind: Decline, Code: "INVALID_STOPPED_CARD", Times: 1}))
	res := e.confirm(key, "order-fault-decline", 1000, nil)
	require.Equal(t, 400, res.status)
	require.Equal(t, "INVALID_STOPPED_CARD", res.code())
	got := e.get(key).body
	require.Equal(t, StatusAborted, got["status"])
	require.Equal(t, "INVALID_STOPPED_CARD", got["failure"].(map[string]any)["code"])
	require.Equal(t, 0, e.sb.ConfirmCount("order-fault-decline"))

	key = e.authenticated("order-fault-decline2", 1000, CardSuccess)
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpConfirm, Kind: Decline, Times: 1}))
	res = e.confirm(key, "order-fault-decline2", 1000, nil)
	require.Equal(t, 403, res.status)
	require.Equal(t, "REJECT_CARD_PAYMENT", res.code())
}

func TestFaultConnReset(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-fault-reset", 1000, CardSuccess)
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpConfirm, Kind: ConnReset, Times: 1}))
	hdr := map[string]string{"Idempotency-Key": "k-reset"}
	_, err := e.try(freshClient(), "POST", "/v1/payments/confirm",
		map[string]any{"paymentKey": key, "orderId": "order-fault-reset", "amount": 1000}, hdr)
	require.Error(t, err)
	require.Equal(t, StatusInProgress, e.get(key).body["status"], "nothing was done")
	require.Equal(t, 0, e.sb.ConfirmCount("order-fault-reset"))

	require.Equal(t, 200, e.confirm(key, "order-fault-reset", 1000, hdr).status)
	require.Equal(t, 1, e.sb.ConfirmCount("order-fault-reset"))
}

func TestFaultCommitThenDrop(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-fault-drop", 1000, CardSuccess)
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpConfirm, Kind: CommitThenDrop, Times: 1}))
	hdr := map[string]string{"Idempotency-Key": "k-drop"}
	body := map[string]any{"paymentKey": key, "orderId": "order-fault-drop", "amount": 1000}

	_, err := e.try(freshClient(), "POST", "/v1/payments/confirm", body, hdr)
	require.Error(t, err, "the client gets no response")
	got := e.call("GET", "/v1/payments/orders/order-fault-drop", nil, nil)
	require.Equal(t, StatusDone, got.body["status"], "yet the PG committed")
	require.Equal(t, 1, e.sb.ConfirmCount("order-fault-drop"))

	// The retry with the same key gets the stored answer, not a second charge.
	res := e.confirm(key, "order-fault-drop", 1000, hdr)
	require.Equal(t, 200, res.status)
	require.Equal(t, StatusDone, res.body["status"])
	require.Equal(t, 1, e.sb.ConfirmCount("order-fault-drop"))
	require.Len(t, e.sb.Record(), 1)
}

func TestFaultCommitThenDropCancel(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-drop-cancel", 1000, CardSuccess)
	require.Equal(t, 200, e.confirm(key, "order-drop-cancel", 1000, nil).status)
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpCancel, Kind: CommitThenDrop, Times: 1}))
	_, err := e.try(freshClient(), "POST", "/v1/payments/"+key+"/cancel", map[string]any{"cancelReason": "x"}, nil)
	require.Error(t, err)
	require.Equal(t, StatusCanceled, e.get(key).body["status"])
	require.Equal(t, 1, e.sb.CancelCount("order-drop-cancel"))
}

func TestFaultLatency(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-fault-latency", 1000, CardSuccess)
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpGet, Kind: Latency, Latency: 150 * time.Millisecond, Times: 1}))
	start := time.Now()
	require.Equal(t, 200, e.get(key).status)
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	// A confirm the client gave up on still commits, once the PG's own
	// processing time has passed: not before, not never.
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpConfirm, Kind: Latency, Latency: 500 * time.Millisecond, Times: 1}))
	c := &http.Client{Timeout: 100 * time.Millisecond}
	_, err := e.try(c, "POST", "/v1/payments/confirm",
		map[string]any{"paymentKey": key, "orderId": "order-fault-latency", "amount": 1000}, nil)
	require.Error(t, err)
	require.Equal(t, StatusInProgress, e.get(key).body["status"], "still processing")
	require.Eventually(t, func() bool {
		return e.get(key).body["status"] == StatusDone
	}, 2*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, e.sb.ConfirmCount("order-fault-latency"))
}

func TestFaultLatencyOnLookupStopsWithClient(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.sb.Faults().Inject(Fault{Op: OpSettlements, Kind: Latency, Latency: 5 * time.Second}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", e.base+"/v1/settlements?startDate=2024-01-01&endDate=2024-01-02", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", basicAuth(DefaultSecretKey))
	start := time.Now()
	_, err = e.client.Do(req)
	require.Error(t, err)
	require.Less(t, time.Since(start), time.Second)
}

func TestAdminFaultsOverHTTP(t *testing.T) {
	e := newEnv(t)
	key := e.authenticated("order-admin-fault", 1000, CardSuccess)
	post := func(body string) *http.Response {
		resp, err := http.Post(e.base+"/_sandbox/faults", "application/json", bytes.NewBufferString(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	require.Equal(t, 400, post(`{"kind":"bogus"}`).StatusCode)
	require.Equal(t, 201, post(`{"op":"confirm","kind":"http_error","statusCode":502,"code":"PROVIDER_ERROR","latency":"20ms"}`).StatusCode)

	res := e.call("GET", "/_sandbox/faults", nil, nil)
	require.Contains(t, string(res.raw), `"latency":"20ms"`)
	require.Contains(t, string(res.raw), `"kind":"HTTPError"`)

	got := e.confirm(key, "order-admin-fault", 1000, nil)
	require.Equal(t, 502, got.status)
	require.Equal(t, "PROVIDER_ERROR", got.code())

	req, _ := http.NewRequest("DELETE", e.base+"/_sandbox/faults", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 204, resp.StatusCode)
	require.Equal(t, 200, e.confirm(key, "order-admin-fault", 1000, nil).status)

	// Latency may also be given in milliseconds.
	require.Equal(t, 201, post(`{"op":"get","kind":"LATENCY","latency":30,"times":1}`).StatusCode)
	require.Equal(t, 30*time.Millisecond, e.sb.Faults().Rules()[0].Latency)
}
