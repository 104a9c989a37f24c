package sandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// merchantPage is a checkout page as a merchant writes it, loading the SDK
// from the sandbox.
const merchantPage = `<!doctype html>
<html><head><meta charset="utf-8"><script src="/sandbox/v2/standard"></script></head>
<body>
<div id="payment-method"></div><div id="agreement"></div>
<button id="pay" data-testid="pay">pay</button>
<script>
  var tp = TossPayments("test_gck_pago_sandbox");
  var widgets = tp.widgets({customerKey: TossPayments.ANONYMOUS});
  window.earlyRender = widgets.renderPaymentMethods({selector: "#payment-method"})
    .then(function () { return "resolved"; }, function (e) { return e.name + ":" + e.code; });
  widgets.setAmount({currency: "KRW", value: 15000})
    .then(function () { return widgets.renderPaymentMethods({selector: "#payment-method", variantKey: "DEFAULT"}); })
    .then(function () { return widgets.renderAgreement({selector: "#agreement", variantKey: "AGREEMENT"}); })
    .then(function () { document.body.dataset.ready = "yes"; });
  document.getElementById("pay").addEventListener("click", function () {
    widgets.requestPayment({orderId: "order-chrome-1", orderName: "티셔츠",
      successUrl: location.origin + "/shop/success?x=1", failUrl: location.origin + "/shop/fail", customerName: "홍길동"});
  });
</script></body></html>`

// TestBrowserWidgetFlow drives the SDK and pay page in headless Chromium.
func TestBrowserWidgetFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed")
	}
	sb := New(Config{BasePath: "/sandbox"})
	t.Cleanup(sb.Close)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", sb))
	mux.HandleFunc("GET /shop/checkout", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(merchantPage))
	})
	landed := make(chan url.Values, 1)
	mux.HandleFunc("GET /shop/success", func(w http.ResponseWriter, r *http.Request) {
		landed <- r.URL.Query()
		_, _ = w.Write([]byte("<p data-testid=done>ok</p>"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 20*time.Second)
	defer cancel()

	type css = chromedp.CSS
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/shop/checkout"),
		chromedp.WaitVisible(css(`body[data-ready="yes"]`)),
	))
	early, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.earlyRender`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, "NotSetupAmountError:NOT_SETUP_AMOUNT", early)
	amount, err := chromedp.Run(ctx, chromedp.Text(css(`[data-testid="toss-method-amount"]`)))
	require.NoError(t, err)
	require.Equal(t, "15,000원", amount)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`[data-testid="pay"]`)),
		chromedp.WaitVisible(css(`[data-testid="card-success"]`)),
		chromedp.Click(css(`[data-testid="card-success"]`)),
		chromedp.WaitVisible(css(`[data-testid="done"]`)),
	))
	q := <-landed
	require.Equal(t, "1", q.Get("x"))
	require.Equal(t, "NORMAL", q.Get("paymentType"))
	require.Equal(t, "15000", q.Get("amount"))
	require.Equal(t, "order-chrome-1", q.Get("orderId"))
	require.True(t, strings.HasPrefix(q.Get("paymentKey"), "tgen_"))

	// Validation the SDK does before leaving the page.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/shop/checkout"),
		chromedp.WaitVisible(css(`body[data-ready="yes"]`)),
	))
	errs, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async function () {
			var out = [];
			try { TossPayments("test_ck_pago_sandbox").payment({customerKey: "bad key!"}); out.push("none"); } catch (e) { out.push(e.code); }
			try { TossPayments("test_ck_x").widgets({customerKey: "@@ANONYMOUS"}); out.push("none"); } catch (e) { out.push(e.code); }
			var abs = location.origin + "/a";
			out.push(await widgets.requestPayment({orderId: "short", orderName: "x", successUrl: abs, failUrl: abs})
				.catch(function (e) { return e.code; }));
			var api = TossPayments("test_ck_pago_sandbox").payment({customerKey: "@@ANONYMOUS"});
			out.push(await api.requestPayment({method: "CARD",
				amount: {currency: "KRW", value: 1.5}, orderId: "order-chrome-2", orderName: "x", successUrl: abs, failUrl: abs})
				.catch(function (e) { return e.code; }));
			// What the real SDK refuses, the sandbox refuses too.
			out.push(await widgets.setAmount({value: 1000}).catch(function (e) { return e.name; }));
			out.push(await widgets.requestPayment({orderId: "order-chrome-4", orderName: "x", successUrl: "/a", failUrl: abs})
				.catch(function (e) { return e.name; }));
			out.push(await widgets.renderPaymentMethods({selector: "#payment-method", variantKey: "NOPE"}).catch(function (e) { return e.name; }));
			out.push(await widgets.renderPaymentMethods({selector: "#payment-method"}).catch(function (e) { return e.name; }));
			try { tp.payment({customerKey: "user-1"}); out.push("none"); } catch (e) { out.push(e.name); }
			out.push(typeof widgets.updateAmount + "/" + typeof tp.brandpay + "/" + typeof widgets.renderPaymentWindow);
			return out.join(",");
		})()`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, "INVALID_CUSTOMER_KEY,INVALID_CLIENT_KEY,INVALID_ORDER_ID,INVALID_AMOUNT_VALUE,"+
		"InvalidAmountCurrencyError,IncorrectSuccessUrlFormatError,InvalidVariantKeyError,PaymentMethodsWidgetAlreadyRenderedError,"+
		"InvalidClientKeyError,undefined/function/function", errs)

	// The payment-window flow reaches the pay page too; cancel goes to failUrl.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[int](`TossPayments("test_ck_pago_sandbox").payment({customerKey: "user-1"}).requestPayment({
			method: "CARD", amount: {currency: "KRW", value: 3000}, orderId: "order-chrome-3",
			orderName: "x", successUrl: location.origin + "/shop/success", failUrl: location.origin + "/sandbox/v2/standard"}); 1`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(css(`[data-testid="pay-cancel"]`)),
		chromedp.Click(css(`[data-testid="pay-cancel"]`)),
	))
	require.Eventually(t, func() bool {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		return err == nil && strings.Contains(loc, "code=PAY_PROCESS_CANCELED") && strings.Contains(loc, "orderId=order-chrome-3")
	}, 5*time.Second, 50*time.Millisecond)
}
