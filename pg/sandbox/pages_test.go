package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// noRedirect returns 3xx responses to the test instead of following them.
func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = c.PostForm(u, form)
	} else {
		resp, err = c.Get(u)
	}
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// externalURL matches any absolute http(s) URL: the sandbox's pages and SDK
// must load nothing from another host.
var externalURL = regexp.MustCompile(`https?://`)

func TestSDKServed(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/v2/standard", "/v2/standard.js"} {
		resp, body := fetch(t, http.DefaultClient, "GET", e.base+p, nil)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
		for _, want := range []string{"TossPayments", `"@@ANONYMOUS"`, "renderPaymentMethods", "setAmount",
			"requestPayment", "NotSetupAmountError", "/sdk/request", `"/sandbox"`} {
			require.Contains(t, body, want)
		}
		require.NotContains(t, body, "__SANDBOX_BASE__")
		require.False(t, externalURL.MatchString(body), "SDK references an external URL")
	}
	resp, css := fetch(t, http.DefaultClient, "GET", e.base+"/static/pay.css", nil)
	require.Equal(t, "text/css; charset=utf-8", resp.Header.Get("Content-Type"))
	require.False(t, externalURL.MatchString(css))
}

// TestBrowserFlow walks what the SDK and the customer do, over plain HTTP.
func TestBrowserFlow(t *testing.T) {
	e := newEnv(t)
	c := noRedirect()
	q := url.Values{
		"clientKey": {DefaultClientKey}, "customerKey": {anonymous}, "flow": {"widget"}, "method": {"CARD"},
		"amount": {"15000"}, "currency": {"KRW"}, "orderId": {"order-browser-1"}, "orderName": {"토스 티셔츠 외 2건"},
		"successUrl": {"http://shop.test/checkout/success?from=sdk"}, "failUrl": {"http://shop.test/checkout/fail"},
		"metadata": {`{"cart":"42"}`},
	}
	resp, _ := fetch(t, c, "GET", e.base+"/sdk/request?"+q.Encode(), nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.Regexp(t, `^/sandbox/pay/tgen_`, loc)
	key := strings.TrimPrefix(loc, "/sandbox/pay/")

	got := e.get(key).body
	require.Equal(t, StatusReady, got["status"])
	require.Nil(t, got["method"])
	require.Equal(t, map[string]any{"cart": "42"}, got["metadata"])
	require.True(t, strings.HasPrefix(got["checkout"].(map[string]any)["url"].(string), e.srv.URL+"/sandbox/pay/"))

	resp, page := fetch(t, c, "GET", e.srv.URL+loc, nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	for _, card := range testCards() {
		require.Contains(t, page, `data-testid="card-`+card.name+`"`)
	}
	require.Contains(t, page, `data-testid="pay-cancel"`)
	require.Contains(t, page, "토스 티셔츠 외 2건")
	require.Contains(t, page, "15,000원")
	require.NotContains(t, page, "<script")
	require.False(t, externalURL.MatchString(page), "pay page references an external URL")

	resp, _ = fetch(t, c, "POST", e.srv.URL+loc+"/authenticate", url.Values{"card": {CardSuccess}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	success, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "shop.test", success.Host)
	require.Equal(t, "/checkout/success", success.Path)
	require.Equal(t, url.Values{"from": {"sdk"}, "paymentType": {"NORMAL"}, "amount": {"15000"},
		"orderId": {"order-browser-1"}, "paymentKey": {key}}, success.Query())
	require.Contains(t, success.RawQuery, "from=sdk&")

	require.Equal(t, StatusInProgress, e.get(key).body["status"])
	require.Equal(t, 200, e.confirm(key, "order-browser-1", 15000, nil).status)

	// The window is spent: the page explains instead of offering cards again.
	resp, page = fetch(t, c, "GET", e.srv.URL+loc, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.NotContains(t, page, `data-testid="card-success"`)

	resp, page = fetch(t, c, "GET", e.base+"/receipt/"+key, nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, page, StatusDone)
}

func TestPayPageFailures(t *testing.T) {
	e := newEnv(t)
	c := noRedirect()
	open := func(orderID string) string {
		q := url.Values{"clientKey": {DefaultClientKey}, "amount": {"1000"}, "orderId": {orderID}, "orderName": {"x"},
			"successUrl": {"http://shop.test/ok"}, "failUrl": {"http://shop.test/fail"}}
		resp, _ := fetch(t, c, "GET", e.base+"/sdk/request?"+q.Encode(), nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		return resp.Header.Get("Location")
	}
	failQuery := func(resp *http.Response) url.Values {
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		u, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, "/fail", u.Path)
		return u.Query()
	}

	loc := open("order-pagefail-1")
	resp, _ := fetch(t, c, "POST", e.srv.URL+loc+"/cancel", nil)
	q := failQuery(resp)
	require.Equal(t, "PAY_PROCESS_CANCELED", q.Get("code"))
	require.Equal(t, "order-pagefail-1", q.Get("orderId"))
	require.NotEmpty(t, q.Get("message"))

	loc = open("order-pagefail-2")
	resp, _ = fetch(t, c, "POST", e.srv.URL+loc+"/authenticate", url.Values{"card": {CardAuthFail}})
	q = failQuery(resp)
	require.Equal(t, "REJECT_CARD_COMPANY", q.Get("code"))
	key := strings.TrimPrefix(loc, "/sandbox/pay/")
	require.Equal(t, StatusReady, e.get(key).body["status"])

	// Bad requests from a page that bypassed the SDK go back to failUrl,
	// except with a wrong client key: nobody vouches for that failUrl, so
	// the sandbox explains instead of redirecting (no open redirect).
	bad := url.Values{"clientKey": {"test_gck_other"}, "amount": {"1000"}, "orderId": {"order-pagefail-3"},
		"orderName": {"x"}, "successUrl": {"http://shop.test/ok"}, "failUrl": {"http://shop.test/fail"}}
	resp, page := fetch(t, c, "GET", e.base+"/sdk/request?"+bad.Encode(), nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Location"))
	require.Contains(t, page, "INVALID_CLIENT_KEY")
	bad.Set("clientKey", DefaultClientKey)
	bad.Set("orderId", "short")
	resp, _ = fetch(t, c, "GET", e.base+"/sdk/request?"+bad.Encode(), nil)
	require.Equal(t, "INVALID_REQUEST", failQuery(resp).Get("code"))
	bad.Set("failUrl", "/relative")
	resp, _ = fetch(t, c, "GET", e.base+"/sdk/request?"+bad.Encode(), nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp, _ = fetch(t, c, "GET", e.base+"/pay/tgen_missing", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestAdminAuthenticateAndClock(t *testing.T) {
	e := newEnv(t)
	post := func(path, body string) (int, map[string]any) {
		resp, err := http.Post(e.base+path, "application/json", bytes.NewBufferString(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, out := post("/_sandbox/authenticate", `{"orderId":"order-admin-1","orderName":"x","amount":5000}`)
	require.Equal(t, 200, status)
	key := out["paymentKey"].(string)
	require.Equal(t, "order-admin-1", out["orderId"])
	require.EqualValues(t, 5000, out["amount"])

	status, out = post("/_sandbox/authenticate", `{"orderId":"order-admin-2","amount":5000,"card":"auth-fail"}`)
	require.Equal(t, 403, status)
	require.Equal(t, "REJECT_CARD_COMPANY", out["code"])
	status, _ = post("/_sandbox/authenticate", `{"orderId":"order-admin-3","amount":5000,"card":"platinum"}`)
	require.Equal(t, 400, status)

	status, out = post("/_sandbox/clock", `{"advance":"11m"}`)
	require.Equal(t, 200, status)
	require.Equal(t, "11m0s", out["offset"])
	require.Equal(t, "NOT_FOUND_PAYMENT_SESSION", e.confirm(key, "order-admin-1", 5000, nil).code())
	status, _ = post("/_sandbox/clock", `{"advance":"soon"}`)
	require.Equal(t, 400, status)

	status, out = post("/_sandbox/config", `{"slowCardDelay":"5ms","webhookUrl":""}`)
	require.Equal(t, 200, status)
	require.Equal(t, "5ms", out["slowCardDelay"])
	require.Equal(t, 5*time.Millisecond, e.sb.slowCardDelay())

	_, out = post("/_sandbox/authenticate", `{"orderId":"order-admin-4","amount":5000}`)
	key = out["paymentKey"].(string)
	require.Equal(t, 200, e.confirm(key, "order-admin-4", 5000, map[string]string{"Idempotency-Key": "adm"}).status)

	res := e.call("GET", "/_sandbox/record", nil, nil)
	var rec []RecordEntry
	require.NoError(t, json.Unmarshal(res.raw, &rec))
	require.Len(t, rec, 1)
	require.Equal(t, "order-admin-4", rec[0].OrderID)
	require.Equal(t, "adm", rec[0].IdempotencyKey)

	status, _ = post("/_sandbox/reset", ``)
	require.Equal(t, 204, status)
	require.Empty(t, e.sb.Record())
	require.Equal(t, "NOT_FOUND_PAYMENT", e.get(key).code())
}
