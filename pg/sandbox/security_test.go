package sandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// serve sends r to the sandbox directly, so that the caller's address and
// headers can be anything.
func serve(sb *Sandbox, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	sb.ServeHTTP(rec, r)
	return rec
}

func adminRequest(method, remote, host string, body string) *http.Request {
	r := httptest.NewRequest(method, "http://"+host+"/_sandbox/config", strings.NewReader(body))
	r.RemoteAddr = remote
	r.Host = host
	r.Header.Set("Content-Type", "application/json")
	return r
}

// The admin API could repoint webhooks at any URL (SSRF), read every
// payment and break every confirm; it now answers loopback callers only,
// or holders of the admin token.
func TestAdminAPIIsLoopbackOnly(t *testing.T) {
	sb := New(Config{})
	defer sb.Close()
	hijack := `{"webhookUrl":"http://169.254.169.254/latest"}`

	for name, r := range map[string]*http.Request{
		"remote caller":             adminRequest("POST", "203.0.113.7:5555", "pay.example.com", hijack),
		"remote caller, local Host": adminRequest("POST", "203.0.113.7:5555", "127.0.0.1:8080", hijack),
		"DNS rebinding":             adminRequest("POST", "127.0.0.1:5555", "rebind.attacker.example:8080", hijack),
		"through a proxy": func() *http.Request {
			r := adminRequest("POST", "127.0.0.1:5555", "localhost:8080", hijack)
			r.Header.Set("X-Forwarded-For", "203.0.113.7")
			return r
		}(),
		"a browser, cross-site": func() *http.Request {
			r := adminRequest("POST", "127.0.0.1:5555", "localhost:8080", hijack)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.Header.Set("Content-Type", "text/plain")
			return r
		}(),
	} {
		rec := serve(sb, r)
		require.GreaterOrEqual(t, rec.Code, 400, name)
		require.Less(t, rec.Code, 500, name)
	}
	require.NotEqual(t, "http://169.254.169.254/latest", sb.hooks.target(), "the webhook target did not move")

	for _, remote := range []string{"127.0.0.1:5555", "[::1]:5555"} {
		rec := serve(sb, func() *http.Request {
			r := httptest.NewRequest("GET", "http://127.0.0.1:8080/_sandbox/faults", nil)
			r.RemoteAddr = remote
			return r
		}())
		require.Equal(t, http.StatusOK, rec.Code, remote)
	}

	// With a token configured, the token decides, from anywhere.
	tok := New(Config{AdminToken: "s3cret-admin-token"})
	defer tok.Close()
	r := httptest.NewRequest("GET", "http://127.0.0.1:8080/_sandbox/faults", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	require.Equal(t, http.StatusUnauthorized, serve(tok, r).Code, "loopback alone is not enough with a token")
	r = httptest.NewRequest("GET", "http://sandbox.internal/_sandbox/faults", nil)
	r.RemoteAddr = "10.1.2.3:5555"
	r.Header.Set("Authorization", "Bearer s3cret-admin-token")
	require.Equal(t, http.StatusOK, serve(tok, r).Code)
}

// /sdk/request sent customers to any failUrl, even with a wrong client
// key: an open redirect on the PG's (or pago's) origin.
func TestNoOpenRedirect(t *testing.T) {
	e := newEnv(t)
	c := noRedirect()
	for _, q := range []url.Values{
		{"clientKey": {"wrong"}, "amount": {"1000"}, "orderId": {"order-redirect-1"}, "orderName": {"x"},
			"successUrl": {"https://evil.example/ok"}, "failUrl": {"https://evil.example/phish"}},
		{"clientKey": {DefaultClientKey}, "amount": {"1000"}, "orderId": {"order-redirect-2"}, "orderName": {"x"},
			"successUrl": {"http://shop.test/ok"}, "failUrl": {"https://evil.example/phish"}},
		{"clientKey": {DefaultClientKey}, "amount": {"x"}, "orderId": {"order-redirect-3"}, "orderName": {"x"},
			"successUrl": {"https://evil.example/ok"}, "failUrl": {"http://shop.test/fail"}},
	} {
		resp, _ := fetch(t, c, "GET", e.base+"/sdk/request?"+q.Encode(), nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, q.Encode())
		require.Empty(t, resp.Header.Get("Location"), q.Encode())
	}
}

// The pay page's buttons are form posts; another site must not be able to
// press them in the customer's browser.
func TestPayPageRefusesCrossSitePosts(t *testing.T) {
	e := newEnv(t)
	c := noRedirect()
	q := url.Values{"clientKey": {DefaultClientKey}, "amount": {"1000"}, "orderId": {"order-csrf-1"}, "orderName": {"x"},
		"successUrl": {"http://shop.test/ok"}, "failUrl": {"http://shop.test/fail"}}
	resp, _ := fetch(t, c, "GET", e.base+"/sdk/request?"+q.Encode(), nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	key := strings.TrimPrefix(loc, "/sandbox/pay/")

	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		for _, action := range []string{"/authenticate", "/cancel"} {
			req, err := http.NewRequest("POST", e.srv.URL+loc+action, strings.NewReader("card="+CardSuccess))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%v %s", hdr, action)
		}
	}
	require.Equal(t, StatusReady, e.get(key).body["status"], "nothing was authenticated")

	// The page's own form, posted same-origin, still works.
	req, err := http.NewRequest("POST", e.srv.URL+loc+"/authenticate", strings.NewReader("card="+CardSuccess))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, StatusInProgress, e.get(key).body["status"])
}
