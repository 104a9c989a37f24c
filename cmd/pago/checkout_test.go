package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/store/storetest"
	"github.com/pago/pago/web"
)

const (
	checkoutOrderQ = `mutation($k: String!, $p: ID!, $q: Int!) { createOrder(input: {idempotencyKey: $k, items: [{productId: $p, quantity: $q}]}) { order { id checkoutUrl } } }`
	topUpOrderQ    = `mutation($k: String!, $a: Money!) { createOrder(input: {idempotencyKey: $k, kind: WALLET_TOPUP, amount: $a}) { order { id checkoutUrl } } }`
)

// checkoutEnv is a server for the checkout tests: SQLite is enough (the
// pages add no SQL), and the probe looks every second so an in-doubt
// payment settles while the test watches.
func checkoutEnv(t *testing.T) map[string]string {
	return testEnv(t, storetest.SQLite(), map[string]string{
		"PAGO_PROBE_DELAY":     "1s",
		"PAGO_PROBE_MAX_DELAY": "1s",
		"PAGO_CONFIRM_TIMEOUT": "3s",
		"PAGO_PG_TIMEOUT":      "2s",
	})
}

// createCheckout creates a PENDING order through GraphQL and returns its id and
// signed checkout URL.
func (c *customer) createCheckout(query string, vars map[string]any) (id, link string) {
	c.s.t.Helper()
	var out struct {
		CreateOrder struct {
			Order struct{ ID, CheckoutURL string }
		}
	}
	vars["k"] = "o-" + storetest.RandomHex(8)
	c.do(query, vars).into(c.s.t, &out)
	return out.CreateOrder.Order.ID, out.CreateOrder.Order.CheckoutURL
}

// sbConfirmCount counts the confirms the in-process PG executed for orderID.
func (s *testServer) sbConfirmCount(orderID string) int {
	s.t.Helper()
	resp, err := httpClient.Get(s.URL + "/sandbox/_sandbox/record?orderId=" + url.QueryEscape(orderID))
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var rec []struct{ Op string }
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&rec))
	n := 0
	for _, e := range rec {
		if e.Op == "confirm" {
			n++
		}
	}
	return n
}

// sbAdmin calls the in-process PG's admin API.
func (s *testServer) sbAdmin(method, path string, body any) []byte {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+"/sandbox/_sandbox/"+path, rd)
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	require.Less(s.t, resp.StatusCode, 300, "sandbox %s %s: %s", method, path, out)
	return out
}

// sbAuthenticate has the sandbox authenticate a card payment for orderID, as
// the hosted pay page would, and returns its payment key.
func (s *testServer) sbAuthenticate(orderID string, amount int64) string {
	var out struct{ PaymentKey string }
	require.NoError(s.t, json.Unmarshal(s.sbAdmin(http.MethodPost, "authenticate",
		map[string]any{"orderId": orderID, "amount": amount, "card": "success"}), &out))
	return out.PaymentKey
}

// getPage fetches a page without following redirects.
func getPage(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := httpClient.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestCheckoutPagesHTTP(t *testing.T) {
	s := startServer(t, checkoutEnv(t))
	alice := s.customer("alice")
	prod := s.product("tea", 12_000, 5)
	id, link := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 2})
	links := web.NewCheckoutLinks([]byte(s.cfg.JWTSecret), s.URL)
	sig := links.Sign(id)

	t.Run("checkoutUrl is signed", func(t *testing.T) {
		require.Equal(t, links.URL(id), link)
		require.Equal(t, s.URL+"/checkout/"+id+"/"+sig, link, "the signature is in the path, no query of pago's own")
	})

	t.Run("checkout page", func(t *testing.T) {
		status, h, body := getPage(t, link)
		require.Equal(t, http.StatusOK, status)
		csp := h.Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self' 'nonce-")
		require.NotContains(t, csp, "unsafe-inline")
		require.Equal(t, "no-store", h.Get("Cache-Control"))
		require.Contains(t, body, `data-testid="pay-button"`)
		require.Contains(t, body, `src="`+s.URL+`/sandbox/v2/standard"`)
		require.Contains(t, body, `data-amount="24000"`)
		require.Contains(t, body, "₩24,000")
		require.Contains(t, body, `data-success-url="`+s.URL+`/checkout/`+id+`/`+sig+`/success"`)
		require.Contains(t, body, `data-fail-url="`+s.URL+`/checkout/`+id+`/`+sig+`/fail"`)
		require.Contains(t, body, `data-client-key="test_gck_pago_sandbox"`)
		require.NotContains(t, body, alice.id, "the user id stays out of the page; customerKey is derived")
		require.NotContains(t, body, string(s.cfg.PGSecretKey))
		status, _, js := getPage(t, s.URL+"/static/checkout.js")
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, js, "requestPayment")
	})

	t.Run("bad or missing signature is 404", func(t *testing.T) {
		other, _ := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 1})
		for name, u := range map[string]string{
			"missing":                              s.URL + "/checkout/" + id,
			"empty":                                s.URL + "/checkout/" + id + "?t=",
			"path garbage":                         s.URL + "/checkout/" + id + "/not-a-signature",
			"path flipped":                         s.URL + "/checkout/" + id + "/" + flipSig(sig),
			"path other's":                         s.URL + "/checkout/" + id + "/" + links.Sign(other),
			"path success":                         s.URL + "/checkout/" + id + "/" + links.Sign(other) + "/success?orderId=" + id + "&paymentKey=k&amount=24000",
			"path fail":                            s.URL + "/checkout/" + id + "/" + links.Sign(other) + "/fail?orderId=" + id + "&code=X&message=y",
			"appended orderId names another order": links.SuccessURL(other) + "?orderId=" + id + "&paymentKey=k&amount=24000",
			"garbage":                              s.URL + "/checkout/" + id + "?t=not-a-signature",
			"flipped":                              s.URL + "/checkout/" + id + "?t=" + flipSig(sig),
			"other order's":                        s.URL + "/checkout/" + id + "?t=" + links.Sign(other),
			"other secret's":                       web.NewCheckoutLinks([]byte("another-secret-0123456789abcdef0123"), s.URL).URL(id),
			"success":                              s.URL + "/checkout/success?t=" + links.Sign(other) + "&orderId=" + id + "&paymentKey=k&amount=24000",
			"fail":                                 s.URL + "/checkout/fail?t=" + links.Sign(other) + "&orderId=" + id + "&code=X&message=y",
		} {
			status, _, body := getPage(t, u)
			require.Equal(t, http.StatusNotFound, status, name)
			require.Contains(t, body, `data-testid="not-found"`, name)
		}
	})

	t.Run("unknown order is 404", func(t *testing.T) {
		for _, unknown := range []string{"ord_00000000000000000000000000", "nope"} {
			status, _, body := getPage(t, links.URL(unknown))
			require.Equal(t, http.StatusNotFound, status)
			require.Contains(t, body, `data-testid="not-found"`)
		}
	})

	t.Run("fail page escapes the PG's message", func(t *testing.T) {
		q := url.Values{"orderId": {id}, "code": {`PAY_PROCESS_CANCELED"><b>`},
			"message": {`<script>alert(1)</script><img src=x onerror=alert(2)>취소`}}
		status, _, body := getPage(t, links.FailURL(id)+"?"+q.Encode())
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, `data-testid="status-failed"`)
		require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;취소")
		require.NotContains(t, body, "<script>alert")
		require.NotContains(t, body, "<img src=x")
		require.NotContains(t, body, `"><b>`)
		require.Contains(t, body, `data-testid="retry-link"`)
		require.Contains(t, body, `href="`+strings.ReplaceAll(link, "&", "&amp;")+`"`)
		require.Equal(t, "PENDING", alice.orderStatus(id))
	})

	t.Run("success with a non-integer amount is 400", func(t *testing.T) {
		for _, amount := range []string{"", "24000.0", "24000.5", "2.4e4", "+24000", "-24000", "024000", "0x5DC0", "24,000", "99999999999999999999"} {
			q := url.Values{"orderId": {id}, "paymentKey": {"tgen_x"}, "amount": {amount}}
			status, _, body := getPage(t, links.SuccessURL(id)+"?"+q.Encode())
			require.Equal(t, http.StatusBadRequest, status, amount)
			require.Contains(t, body, `data-testid="status-error"`, amount)
		}
		require.Equal(t, "PENDING", alice.orderStatus(id))
		require.Zero(t, s.sbConfirmCount(id))
	})

	t.Run("links from before the signature moved into the path still work", func(t *testing.T) {
		status, _, body := getPage(t, s.URL+"/checkout/"+id+"?t="+sig)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, `data-testid="pay-button"`)
		q := url.Values{"t": {sig}, "orderId": {id}, "code": {"PAY_PROCESS_CANCELED"}, "message": {"취소"}}
		status, _, body = getPage(t, s.URL+"/checkout/fail?"+q.Encode())
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, `data-testid="status-failed"`)
		status, _, body = getPage(t, s.URL+"/checkout/"+id+"/status?t="+sig)
		require.Equal(t, http.StatusOK, status)
		require.JSONEq(t, `{"status":"PENDING"}`, body)
	})

	t.Run("status needs the signature", func(t *testing.T) {
		status, _, _ := getPage(t, s.URL+"/checkout/"+id+"/status")
		require.Equal(t, http.StatusNotFound, status)
		status, _, _ = getPage(t, s.URL+"/checkout/"+id+"/status?t="+flipSig(sig))
		require.Equal(t, http.StatusNotFound, status)
		status, h, body := getPage(t, s.URL+links.StatusURL(id))
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "application/json", h.Get("Content-Type"))
		require.JSONEq(t, `{"status":"PENDING"}`, body)
	})

	t.Run("tampered amount leaves the order and the key alone", func(t *testing.T) {
		key := s.sbAuthenticate(id, 24_000)
		success := func(amount string) (int, string) {
			q := url.Values{"paymentType": {"NORMAL"}, "orderId": {id}, "paymentKey": {key}, "amount": {amount}}
			status, _, body := getPage(t, links.SuccessURL(id)+"?"+q.Encode())
			return status, body
		}
		status, body := success("100")
		require.Equal(t, http.StatusBadRequest, status)
		require.Contains(t, body, `data-testid="status-error"`)
		require.Contains(t, body, "AMOUNT_MISMATCH")
		require.Equal(t, "PENDING", alice.orderStatus(id))
		require.Zero(t, s.sbConfirmCount(id))
		// The genuine redirect still goes through, and a reload replays it.
		for range 2 {
			status, body = success("24000")
			require.Equal(t, http.StatusOK, status)
			require.Contains(t, body, `data-testid="status-paid"`)
		}
		require.Equal(t, "PAID", alice.orderStatus(id))
		require.Equal(t, 1, s.sbConfirmCount(id))
	})

	t.Run("a wallet top-up paid by card credits the wallet", func(t *testing.T) {
		bob := s.customer("bob")
		bob.do(createWalletQ, map[string]any{"k": "w-bob"}).into(t, &struct{}{})
		top, topLink := bob.createCheckout(topUpOrderQ, map[string]any{"a": 30_000})
		_, _, body := getPage(t, topLink)
		require.Contains(t, body, "Wallet top-up")
		key := s.sbAuthenticate(top, 30_000)
		q := url.Values{"paymentType": {"NORMAL"}, "orderId": {top}, "paymentKey": {key}, "amount": {"30000"}}
		status, _, body := getPage(t, links.SuccessURL(top)+"?"+q.Encode())
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, `data-testid="wallet-credited"`)
		require.EqualValues(t, 30_000, bob.balance())
		s.verify()
	})
}

// flipSig changes a signature's first character.
func flipSig(sig string) string {
	if sig[0] == 'A' {
		return "B" + sig[1:]
	}
	return "A" + sig[1:]
}

// startBrowser starts headless Chromium for t and returns its context. Without
// Chromium the test is skipped, unless CI is set: there it must run.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test")
	}
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		chrome, err = exec.LookPath("/usr/bin/chromium")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not found; CI runs the checkout browser tests (apt-get install chromium)")
		}
		t.Skip("chromium not installed")
	}
	// Not t.TempDir: Chromium may still be writing to its profile while it
	// exits, and t.TempDir fails the test when removal fails.
	profile, err := os.MkdirTemp("", "pago-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(900, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// Start the browser now, under the allocator's context, so that one
	// tab's timeout never kills the browser for the next.
	require.NoError(t, chromedp.Do(ctx))
	return ctx
}

// newTab opens a new tab with a bounded lifetime.
func newTab(t *testing.T, browser context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// saveScreenshot saves the tab as testout/screenshots/<name>.png for a human to
// look at.
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := filepath.Join("..", "..", "testout", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func byTestID(id string) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(`[data-testid=%q]`, id)) }

// stuckConfirmClaims hangs the claims of confirmPayment until their
// batch's context ends, as a stuck database would.
type stuckConfirmClaims struct{ payment.Store }

func (s stuckConfirmClaims) ClaimIdempotencyKey(ctx context.Context, r payment.IdempotencyRecord) (bool, error) {
	if r.Operation == "confirmPayment" {
		<-ctx.Done()
		return false, ctx.Err()
	}
	return s.Store.ClaimIdempotencyKey(ctx, r)
}

func (s stuckConfirmClaims) ClaimIdempotencyKeys(ctx context.Context, rs []payment.IdempotencyRecord) ([]int, error) {
	for _, r := range rs {
		if r.Operation == "confirmPayment" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
	return s.Store.ClaimIdempotencyKeys(ctx, rs)
}

// flipsWithoutReload waits until sel shows on a page that must update by
// itself: a marker set on the page first must still be there after.
func flipsWithoutReload(t *testing.T, ctx context.Context, sel chromedp.CSS) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pagoTestMarker = true`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(sel)))
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pagoTestMarker === true`))
	require.NoError(t, err)
	require.True(t, kept, "the page must update without reloading")
}

// payInBrowser opens the checkout link, presses pay and picks card on the
// sandbox's pay page.
func payInBrowser(t *testing.T, ctx context.Context, link, card, shotPrefix string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#checkout[data-ready="yes"]`)),
	))
	if shotPrefix != "" {
		saveScreenshot(t, ctx, shotPrefix+"-checkout")
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(byTestID("pay-button")),
		chromedp.WaitVisible(byTestID("card-"+card)),
	))
	if shotPrefix != "" {
		saveScreenshot(t, ctx, shotPrefix+"-pay-page")
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(byTestID("card-"+card))))
}

func pageText(t *testing.T, ctx context.Context, sel chromedp.CSS) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	require.NoError(t, err)
	return strings.TrimSpace(s)
}

// TestCheckoutBrowser pays real checkout pages in headless Chromium against
// the in-process PG sandbox.
func TestCheckoutBrowser(t *testing.T) {
	b := startBrowser(t)
	s := startServer(t, checkoutEnv(t))
	alice := s.customer("alice")
	prod := s.product("green-tea", 12_000, 10)

	t.Run("success card", func(t *testing.T) {
		ctx := newTab(t, b)
		id, link := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 2})
		payInBrowser(t, ctx, link, "success", "success")
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(byTestID("status-paid"))))
		saveScreenshot(t, ctx, "success-paid")
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(loc, s.URL+"/checkout/"+id+"/"), loc)
		require.Contains(t, loc, "/success?", "the PG appended its query to a URL that had none")
		require.Equal(t, "₩24,000", pageText(t, ctx, byTestID("amount")))
		require.Equal(t, "PAID", alice.orderStatus(id))
		require.Equal(t, 1, s.sbConfirmCount(id))

		// A reload of the success page replays; it does not confirm again.
		require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(byTestID("status-paid"))))
		require.Equal(t, 1, s.sbConfirmCount(id))

		// The checkout link now says the order is paid, with no widget.
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(byTestID("status-paid"))))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitNotPresent(byTestID("pay-button"))))
		saveScreenshot(t, ctx, "checkout-already-paid")
	})

	t.Run("declined card", func(t *testing.T) {
		ctx := newTab(t, b)
		before := int64(s.stock(prod))
		id, link := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 3})
		require.Equal(t, before-3, int64(s.stock(prod)))
		payInBrowser(t, ctx, link, "declined", "")
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(byTestID("status-failed"))))
		saveScreenshot(t, ctx, "declined-failed")
		require.Equal(t, "REJECT_CARD_PAYMENT", pageText(t, ctx, byTestID("failure-code")))
		require.NotEmpty(t, pageText(t, ctx, byTestID("failure-message")))
		require.Equal(t, "FAILED", alice.orderStatus(id))
		require.Equal(t, before, int64(s.stock(prod)), "a failed order returns its stock")
	})

	t.Run("cancel on the pay page lands on the fail page", func(t *testing.T) {
		ctx := newTab(t, b)
		id, link := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 1})
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(link),
			chromedp.WaitVisible(chromedp.CSS(`#checkout[data-ready="yes"]`)),
			chromedp.Click(byTestID("pay-button")),
			chromedp.WaitVisible(byTestID("pay-cancel")),
			chromedp.Click(byTestID("pay-cancel")),
			chromedp.WaitVisible(byTestID("status-failed")),
		))
		saveScreenshot(t, ctx, "fail-canceled")
		require.Equal(t, "PAY_PROCESS_CANCELED", pageText(t, ctx, byTestID("failure-code")))
		require.Equal(t, "PENDING", alice.orderStatus(id))
		// Try again goes back to the widget.
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(byTestID("retry-link")),
			chromedp.WaitVisible(chromedp.CSS(`#checkout[data-ready="yes"]`)),
		))
	})

	t.Run("tampered success URL", func(t *testing.T) {
		ctx := newTab(t, b)
		id, link := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 1})
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#checkout[data-ready="yes"]`))))
		attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS(`#checkout`)))
		require.NoError(t, err)
		key := s.sbAuthenticate(id, 12_000)
		tampered := attrs["data-success-url"] + "?" + url.Values{"paymentType": {"NORMAL"}, "orderId": {id},
			"paymentKey": {key}, "amount": {"1200"}}.Encode()
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(tampered))
		require.NoError(t, err)
		require.EqualValues(t, http.StatusBadRequest, resp.Status)
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(byTestID("status-error"))))
		saveScreenshot(t, ctx, "tampered-error")
		require.Equal(t, "PENDING", alice.orderStatus(id))
		require.Zero(t, s.sbConfirmCount(id))
	})

	t.Run("in doubt, then settled by the probe", func(t *testing.T) {
		ctx := newTab(t, b)
		id, link := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 1})
		// The PG commits the confirm and the answer is lost (every time: Go's
		// transport retries a dropped idempotent POST once), and lookups fail
		// until the fault is cleared, so the webhook and the probe cannot
		// settle the payment before the test has seen the processing page.
		s.sbAdmin(http.MethodPost, "faults", map[string]any{"op": "confirm", "orderId": id, "kind": "CommitThenDrop", "times": 0})
		s.sbAdmin(http.MethodPost, "faults", map[string]any{"op": "get", "orderId": id, "kind": "HTTPError",
			"statusCode": 403, "code": "FORBIDDEN_REQUEST", "times": 0})
		payInBrowser(t, ctx, link, "success", "")
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(byTestID("status-processing"))))
		saveScreenshot(t, ctx, "in-doubt-processing")
		require.Equal(t, "IN_DOUBT", alice.orderStatus(id))
		s.sbAdmin(http.MethodDelete, "faults", nil)

		// No reload: the page polls and flips by itself.
		flipsWithoutReload(t, ctx, byTestID("status-paid"))
		saveScreenshot(t, ctx, "in-doubt-settled-paid")
		require.Equal(t, "PAID", alice.orderStatus(id))
		require.Equal(t, 1, s.sbConfirmCount(id))
	})

	t.Run("in doubt, then declined: another card in one click", func(t *testing.T) {
		ctx := newTab(t, b)
		id, link := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 1})
		// The PG holds every confirm of this order past pago's wait and its
		// PG timeout, then declines the card: the page shows processing, and
		// the probe finds the decline. The page used to turn "failed" with
		// no way forward.
		s.sbAdmin(http.MethodPost, "faults", map[string]any{"op": "confirm", "orderId": id, "kind": "Latency", "latency": "2500ms", "times": 0})
		payInBrowser(t, ctx, link, "declined", "")
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(byTestID("status-processing"))))
		flipsWithoutReload(t, ctx, byTestID("again-button"))
		saveScreenshot(t, ctx, "in-doubt-declined")
		require.Equal(t, "FAILED", alice.orderStatus(id))
		retry, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="retry-link"]').offsetParent === null`))
		require.NoError(t, err)
		require.True(t, retry, "no try-again link for a FAILED order: it cannot be paid any more")
		s.sbAdmin(http.MethodDelete, "faults", nil)

		// Another card: a new order for the same items, on its checkout page.
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(byTestID("again-button")),
			chromedp.WaitVisible(chromedp.CSS(`#checkout[data-ready="yes"]`)),
		))
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		require.NotContains(t, loc, id, "a new order")
		require.Equal(t, "FAILED", alice.orderStatus(id))
	})

	t.Run("a confirm not recorded in time: processing, then try again", func(t *testing.T) {
		// The confirm's claim hangs, as on a stuck database, until its
		// batch's time runs out: the confirm answers REQUEST_IN_PROGRESS,
		// nothing sent to the PG, and the order stays PENDING. The page used
		// to turn "failed" with no way back to the checkout.
		stuck := startServerWith(t, testEnv(t, storetest.SQLite(), map[string]string{"PAGO_BATCH_TIMEOUT": "300ms"}),
			appOptions{idempotencyStore: func(st payment.Store) payment.Store { return stuckConfirmClaims{st} }})
		carol := stuck.customer("carol")
		id, link := carol.createCheckout(checkoutOrderQ, map[string]any{"p": stuck.product("oolong", 7_000, 5), "q": 1})
		ctx := newTab(t, b)
		payInBrowser(t, ctx, link, "success", "")
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(byTestID("status-processing"))))
		flipsWithoutReload(t, ctx, byTestID("retry-link"))
		saveScreenshot(t, ctx, "not-recorded-try-again")
		require.Equal(t, "PENDING", carol.orderStatus(id))
		require.Zero(t, stuck.sbConfirmCount(id), "nothing sent to the PG")
		again, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="again-button"]').offsetParent === null`))
		require.NoError(t, err)
		require.True(t, again, "no new order for one that can still be paid")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(byTestID("retry-link")),
			chromedp.WaitVisible(chromedp.CSS(`#checkout[data-ready="yes"]`)),
		))
	})

	t.Run("slow card with default settings: processing at once, then paid without a reload", func(t *testing.T) {
		// Default PAGO_CONFIRM_TIMEOUT (20 s) and PAGO_CONFIRM_WAIT (2 s): the
		// PG holds its answer 12 s, and the customer must not stare at a
		// frozen page meanwhile (it used to be 10–13 s of nothing).
		env := testEnv(t, storetest.SQLite(), nil)
		slow := startServer(t, env)
		const hold = 15 * time.Second
		slow.app.sandbox.SetSlowCardDelay(hold)
		bob := slow.customer("bob")
		id, link := bob.createCheckout(checkoutOrderQ, map[string]any{"p": slow.product("black-tea", 9_000, 5), "q": 1})
		ctx := newTab(t, b)
		start := time.Now()
		payInBrowser(t, ctx, link, "slow", "")
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(byTestID("status-processing"))))
		// A frozen page would answer only with the PG, after its hold; the
		// whole walk through the widget took less (the wait bound itself is
		// PAGO_CONFIRM_WAIT, pinned by payment's tests without a browser).
		require.Less(t, time.Since(start), hold, "the success page answered before the PG did")
		saveScreenshot(t, ctx, "slow-card-processing")
		// The PG's webhook (or its late answer) settles it; the page polls.
		flipsWithoutReload(t, ctx, byTestID("status-paid"))
		require.Equal(t, "PAID", bob.orderStatus(id))
		require.Equal(t, 1, slow.sbConfirmCount(id))
	})

	t.Run("wallet top-up by card", func(t *testing.T) {
		ctx := newTab(t, b)
		bob := s.customer("bob")
		bob.do(createWalletQ, map[string]any{"k": "w-bob"}).into(t, &struct{}{})
		id, link := bob.createCheckout(topUpOrderQ, map[string]any{"a": 20_000})
		payInBrowser(t, ctx, link, "success", "")
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(byTestID("wallet-credited"))))
		saveScreenshot(t, ctx, "topup-paid")
		require.Equal(t, "PAID", bob.orderStatus(id))
		require.EqualValues(t, 20_000, bob.balance())
	})
	s.verify()
}

func TestPGScriptURLConfig(t *testing.T) {
	base := map[string]string{"PAGO_PUBLIC_URL": "http://localhost:8080"}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	cfg, err := loadConfig(getenvFrom(with()))
	require.NoError(t, err)
	require.Equal(t, "http://localhost:8080/sandbox/v2/standard", cfg.PGScriptURL)

	cfg, err = loadConfig(getenvFrom(with("PAGO_PG_BASE_URL", "http://localhost:9090/")))
	require.NoError(t, err)
	require.Equal(t, "http://localhost:9090/v2/standard", cfg.PGScriptURL)

	toss := []string{"PAGO_PG_MODE", "toss", "PAGO_PG_SECRET_KEY", "test_gsk_x", "PAGO_PG_CLIENT_KEY", "test_gck_x"}
	cfg, err = loadConfig(getenvFrom(with(toss...)))
	require.NoError(t, err)
	require.Equal(t, "https://js.tosspayments.com/v2/standard", cfg.PGScriptURL)
	require.Contains(t, cfg.String(), "https://js.tosspayments.com/v2/standard")

	_, err = loadConfig(getenvFrom(with(append(toss, "PAGO_PG_SCRIPT_URL", "http://js.tosspayments.com/v2/standard")...)))
	require.ErrorContains(t, err, "PAGO_PG_SCRIPT_URL")
	_, err = loadConfig(getenvFrom(with("PAGO_PG_SCRIPT_URL", "/sandbox/v2/standard")))
	require.ErrorContains(t, err, "PAGO_PG_SCRIPT_URL")
}

// PAGO_PG_H2C is for an http:// PG only: over https TLS agrees on HTTP/2.
func TestPGH2CConfig(t *testing.T) {
	env := func(kv ...string) map[string]string {
		m := map[string]string{"PAGO_PUBLIC_URL": "http://localhost:8080"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cfg, err := loadConfig(getenvFrom(env()))
	require.NoError(t, err)
	require.False(t, cfg.PGH2C)
	cfg, err = loadConfig(getenvFrom(env("PAGO_PG_BASE_URL", "http://127.0.0.1:8090", "PAGO_PG_H2C", "true")))
	require.NoError(t, err)
	require.True(t, cfg.PGH2C)
	_, err = loadConfig(getenvFrom(env("PAGO_PG_BASE_URL", "https://pg.example", "PAGO_PG_H2C", "true")))
	require.ErrorContains(t, err, "PAGO_PG_H2C")
	_, err = loadConfig(getenvFrom(env("PAGO_PG_H2C", "yes")))
	require.ErrorContains(t, err, "PAGO_PG_H2C")
}

// A declined card's page offers another card in one click: a new order for
// the same items, while the declined one stays FAILED and its stock went
// back on sale when it failed. A second click gives the same new order.
func TestCheckoutDeclinedPaysWithAnotherCard(t *testing.T) {
	s := startServer(t, checkoutEnv(t))
	alice := s.customer("alice")
	prod := s.product("tea", 12_000, 5)
	id, _ := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 2})
	links := web.NewCheckoutLinks([]byte(s.cfg.JWTSecret), s.URL)
	require.Equal(t, 3, s.stock(prod))

	key := s.authenticate(id, 24_000, sandbox.CardDeclined)
	q := url.Values{"paymentType": {"NORMAL"}, "orderId": {id}, "paymentKey": {key}, "amount": {"24000"}}
	status, _, body := getPage(t, links.SuccessURL(id)+"?"+q.Encode())
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `data-testid="status-failed"`)
	require.Contains(t, body, `data-testid="again-button"`)
	require.Contains(t, body, `action="/checkout/`+id+`/`+links.Sign(id)+`/again"`)
	require.Equal(t, "FAILED", alice.orderStatus(id))
	require.Equal(t, 5, s.stock(prod), "the declined order's stock is back on sale")

	again := func(sig string) (int, string, string) {
		req, err := http.NewRequest(http.MethodPost, s.URL+"/checkout/"+id+"/"+sig+"/again", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", s.URL)
		noFollow := &http.Client{Timeout: 60 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	status, _, _ = again(flipSig(links.Sign(id)))
	require.Equal(t, http.StatusNotFound, status, "the link is signed like every checkout link")

	status, loc, _ := again(links.Sign(id))
	require.Equal(t, http.StatusSeeOther, status)
	u, err := url.Parse(loc)
	require.NoError(t, err)
	newID, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/checkout/"), "/")
	require.NotEqual(t, id, newID)
	require.Equal(t, links.URL(newID), loc)
	require.Equal(t, "PENDING", alice.orderStatus(newID))
	require.Equal(t, 3, s.stock(prod), "the new order reserves the same items again")
	_, _, page := getPage(t, loc)
	require.Contains(t, page, `data-amount="24000"`)

	status, loc2, _ := again(links.Sign(id))
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, loc, loc2, "a second click is the same new order")
	require.Equal(t, 3, s.stock(prod))
	require.Equal(t, "FAILED", alice.orderStatus(id))
	s.verify()
}
