package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/pago/pago/web"
)

// postForm POSTs form to u without following redirects; headers are added.
func postForm(t *testing.T, u string, form url.Values, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

// The checkout page offers "use my wallet balance": the form holds that
// much (a same-origin POST; a cross-site one is refused), the widget then
// asks the card for the rest, and the success redirect's amount is checked
// against the card part.
func TestCheckoutSplitPage(t *testing.T) {
	s := startServer(t, checkoutEnv(t))
	alice := s.customer("alice")
	s.fund(alice, 10_000)
	prod := s.product("tea", 12_000, 5)
	id, link := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 2})
	links := web.NewCheckoutLinks([]byte(s.cfg.JWTSecret), s.URL)
	action := s.URL + "/checkout/" + id + "/" + links.Sign(id) + "/split"

	status, _, body := getPage(t, link)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `data-testid="wallet-option"`)
	require.Contains(t, body, "₩10,000", "the available balance is shown")
	require.Contains(t, body, `data-amount="24000"`)

	// A cross-site form post is refused before it reaches pago's logic.
	status, _, _ = postForm(t, action, url.Values{"walletAmount": {"10000"}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	require.Equal(t, http.StatusForbidden, status)
	require.EqualValues(t, 10_000, alice.balance())
	// An unsigned one is not found.
	status, _, _ = postForm(t, s.URL+"/checkout/"+id+"/"+flipSig(links.Sign(id))+"/split", url.Values{"walletAmount": {"10000"}}, nil)
	require.Equal(t, http.StatusNotFound, status)
	// More than the wallet holds is refused, nothing held.
	status, _, body = postForm(t, action, url.Values{"walletAmount": {"20000"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, body, "INSUFFICIENT_BALANCE")

	status, h, _ := postForm(t, action, url.Values{"walletAmount": {"10000"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, link, h.Get("Location"))
	require.EqualValues(t, 0, alice.balance(), "held")
	// The form resubmitted replays: nothing held twice.
	status, _, _ = postForm(t, action, url.Values{"walletAmount": {"10000"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	require.Equal(t, http.StatusSeeOther, status)

	status, _, body = getPage(t, link)
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, body, `data-testid="wallet-option"`)
	require.Contains(t, body, `data-testid="split-summary"`)
	require.Contains(t, body, `data-amount="14000"`, "the widget asks the card for the rest")

	key := s.sbAuthenticate(id, 14_000)
	success := func(amount string) (int, string) {
		q := url.Values{"orderId": {id}, "paymentKey": {key}, "amount": {amount}}
		status, _, body := getPage(t, links.SuccessURL(id)+"?"+q.Encode())
		return status, body
	}
	status, body = success("24000")
	require.Equal(t, http.StatusBadRequest, status, "the whole order is not what the card pays")
	require.Contains(t, body, "AMOUNT_MISMATCH")
	status, body = success("14000")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `data-testid="status-paid"`)
	hold, released := holdOf(alice.walletTxs(), id)
	require.Equal(t, "POSTED", *hold.HoldStatus)
	require.False(t, released)
	s.verify()
}

// A split payment through the page in headless Chromium: "use my wallet
// balance" holds part of the order, the widget charges the card for the
// rest, and the hold is posted.
func TestCheckoutSplitBrowser(t *testing.T) {
	b := startBrowser(t)
	s := startServer(t, checkoutEnv(t))
	alice := s.customer("alice")
	s.fund(alice, 10_000)
	prod := s.product("green-tea", 12_000, 10)
	id, link := alice.createCheckout(checkoutOrderQ, map[string]any{"p": prod, "q": 2})

	ctx := newTab(t, b)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(byTestID("wallet-option")),
	))
	require.Contains(t, pageText(t, ctx, byTestID("wallet-available")), "₩10,000")
	saveScreenshot(t, ctx, "split-offer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(byTestID("wallet-amount"), "8000"),
		chromedp.Click(byTestID("use-wallet")),
		chromedp.WaitVisible(byTestID("split-summary")),
	))
	require.Equal(t, "₩16,000", pageText(t, ctx, byTestID("card-part")))
	require.EqualValues(t, 2_000, alice.balance(), "8,000 held")
	saveScreenshot(t, ctx, "split-held")

	payInBrowser(t, ctx, link, "success", "split")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(byTestID("status-paid"))))
	saveScreenshot(t, ctx, "split-paid")
	hold, released := holdOf(alice.walletTxs(), id)
	require.Equal(t, "POSTED", *hold.HoldStatus)
	require.False(t, released)
	require.Equal(t, "PAID", alice.orderStatus(id))
	s.verify()
}
