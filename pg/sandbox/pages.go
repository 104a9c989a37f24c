package sandbox

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// assets holds the SDK, the stylesheet and the page templates. Everything the
// browser loads comes from here: the sandbox runs without internet.
//
//go:embed static templates
var assets embed.FS

// pages serves the browser side: the SDK, the hosted pay page and receipts.
type pages struct {
	s     *Sandbox
	tmpl  *template.Template
	sdkJS []byte
	css   []byte
}

func newPages(s *Sandbox) *pages {
	tmpl := template.Must(template.New("").Funcs(template.FuncMap{"won": formatWon}).
		ParseFS(assets, "templates/*.html"))
	js, err := assets.ReadFile("static/sdk.js")
	if err != nil {
		panic(err) // embedded at build time; missing means a broken build
	}
	css, err := assets.ReadFile("static/pay.css")
	if err != nil {
		panic(err)
	}
	// The SDK finds the sandbox from its own <script src>; the mount path is
	// the fallback for when document.currentScript is unavailable.
	base, _ := json.Marshal(s.cfg.BasePath)
	js = bytes.ReplaceAll(js, []byte(`"__SANDBOX_BASE__"`), base)
	return &pages{s: s, tmpl: tmpl, sdkJS: js, css: css}
}

func (pg *pages) path(p string) string { return pg.s.cfg.BasePath + p }

// sdk serves the TossPayments v2 "standard" SDK.
func (pg *pages) sdk(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(pg.sdkJS)
}

func (pg *pages) serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(pg.css)
}

// render executes a template into a buffer first, so a failed render never
// sends half a page.
func (pg *pages) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	data["CSS"] = pg.path("/static/pay.css")
	var buf bytes.Buffer
	if err := pg.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		pg.s.log.Error("render page", "template", name, "err", err)
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message renders a page with a title, a text and an optional link.
func (pg *pages) message(w http.ResponseWriter, status int, title, text, link, linkText string) {
	pg.render(w, status, "message.html", map[string]any{
		"Title": title, "Text": text, "Link": link, "LinkText": linkText,
	})
}

// request is where requestPayment navigates: it opens the payment (READY)
// and sends the browser to the pay page. It is a GET so that the merchant
// page's CSP (connect-src, form-action) cannot block it.
func (pg *pages) request(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	success, failURL := q.Get("successUrl"), q.Get("failUrl")
	if !absoluteHTTP(success) || !absoluteHTTP(failURL) {
		pg.message(w, http.StatusBadRequest, "잘못된 결제 요청",
			"successUrl과 failUrl은 http(s) 절대 URL이어야 합니다.", "", "")
		return
	}
	// Without a valid client key nobody vouches for failUrl: answering with
	// a redirect there would make the sandbox an open redirect.
	if ck := q.Get("clientKey"); ck != pg.s.cfg.ClientKey && ck != apiClientKey(pg.s.cfg.ClientKey) {
		pg.message(w, http.StatusBadRequest, "잘못된 결제 요청",
			"INVALID_CLIENT_KEY: 클라이언트 키가 올바르지 않습니다.", "", "")
		return
	}
	if !pg.allowedRedirect(success) || !pg.allowedRedirect(failURL) {
		pg.message(w, http.StatusBadRequest, "잘못된 결제 요청",
			"successUrl과 failUrl은 등록된 상점 주소여야 합니다.", "", "")
		return
	}
	fail := func(code, msg string) {
		http.Redirect(w, r, withQuery(failURL, url.Values{
			"code": {code}, "message": {msg}, "orderId": {q.Get("orderId")},
		}), http.StatusSeeOther)
	}
	if c := q.Get("currency"); c != "" && c != "KRW" {
		fail("NOT_SUPPORTED_CURRENCY", "샌드박스는 KRW만 지원합니다.")
		return
	}
	if m := q.Get("method"); m != "" && m != "CARD" {
		fail("NOT_SUPPORTED_METHOD", "샌드박스는 카드 결제만 지원합니다.")
		return
	}
	amount, err := strconv.ParseInt(q.Get("amount"), 10, 64)
	if err != nil {
		fail("INVALID_AMOUNT", "결제 금액이 올바르지 않습니다.")
		return
	}
	var meta map[string]string
	if m := q.Get("metadata"); m != "" {
		if err := json.Unmarshal([]byte(m), &meta); err != nil {
			fail("INVALID_METADATA", "metadata는 문자열 값의 객체여야 합니다.")
			return
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	key, err := pg.s.CreatePayment(PaymentRequest{
		OrderID: q.Get("orderId"), OrderName: q.Get("orderName"), Amount: amount,
		CustomerKey: q.Get("customerKey"), CustomerEmail: q.Get("customerEmail"),
		CustomerName: q.Get("customerName"), SuccessURL: success, FailURL: failURL,
		Metadata: meta, flow: q.Get("flow"), origin: scheme + "://" + r.Host,
	})
	if err != nil {
		var e *Error
		errors.As(err, &e)
		fail(e.Code, e.Message)
		return
	}
	http.Redirect(w, r, pg.path("/pay/"+key), http.StatusSeeOther)
}

// pay is the hosted payment window: the order and one button per test card.
func (pg *pages) pay(w http.ResponseWriter, r *http.Request) {
	v, ok := pg.s.view(r.PathValue("paymentKey"))
	if !ok {
		pg.message(w, http.StatusNotFound, "결제를 찾을 수 없습니다", "존재하지 않는 결제입니다.", "", "")
		return
	}
	if v.Status != StatusReady {
		pg.closed(w, v)
		return
	}
	type cardButton struct{ Name, Label, Hint string }
	var cards []cardButton
	for _, c := range testCards() {
		cards = append(cards, cardButton{c.name, c.label, c.hint})
	}
	pg.render(w, http.StatusOK, "pay.html", map[string]any{
		"P":            v,
		"Cards":        cards,
		"Authenticate": pg.path("/pay/" + v.Key + "/authenticate"),
		"Cancel":       pg.path("/pay/" + v.Key + "/cancel"),
	})
}

// closed explains a payment window that can no longer be used.
func (pg *pages) closed(w http.ResponseWriter, v paymentView) {
	link := ""
	if v.FailURL != "" {
		link = withQuery(v.FailURL, url.Values{
			"code": {"PAY_PROCESS_ABORTED"}, "message": {"결제가 진행 중이 아닙니다: " + v.Status}, "orderId": {v.OrderID},
		})
	}
	pg.message(w, http.StatusConflict, "진행할 수 없는 결제입니다",
		"이 결제의 상태는 "+v.Status+" 입니다.", link, "상점으로 돌아가기")
}

// authenticate handles a test card button: success redirects (303) to
// successUrl with paymentType, amount, orderId and paymentKey.
func (pg *pages) authenticate(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("paymentKey")
	v, ok := pg.s.view(key)
	if !ok {
		pg.message(w, http.StatusNotFound, "결제를 찾을 수 없습니다", "존재하지 않는 결제입니다.", "", "")
		return
	}
	err := pg.s.Authenticate(key, r.PostFormValue("card"))
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &e) && e.Code == "ALREADY_PROCESSED_PAYMENT":
		v, _ = pg.s.view(key)
		pg.closed(w, v)
		return
	case errors.As(err, &e) && v.FailURL != "":
		http.Redirect(w, r, withQuery(v.FailURL, url.Values{
			"code": {e.Code}, "message": {e.Message}, "orderId": {v.OrderID},
		}), http.StatusSeeOther)
		return
	default:
		pg.message(w, http.StatusBadRequest, "인증 실패", err.Error(), "", "")
		return
	}
	if v.SuccessURL == "" {
		pg.message(w, http.StatusOK, "인증 완료", "결제가 인증되었습니다. paymentKey: "+key, "", "")
		return
	}
	http.Redirect(w, r, withQuery(v.SuccessURL, url.Values{
		"paymentType": {"NORMAL"}, "amount": {strconv.FormatInt(v.Amount, 10)},
		"orderId": {v.OrderID}, "paymentKey": {key},
	}), http.StatusSeeOther)
}

// cancel is the customer closing the window: nothing changes at the PG and
// the browser goes to failUrl with PAY_PROCESS_CANCELED.
func (pg *pages) cancel(w http.ResponseWriter, r *http.Request) {
	v, ok := pg.s.view(r.PathValue("paymentKey"))
	if !ok || v.FailURL == "" {
		pg.message(w, http.StatusOK, "결제 취소", "결제를 취소했습니다.", "", "")
		return
	}
	http.Redirect(w, r, withQuery(v.FailURL, url.Values{
		"code": {"PAY_PROCESS_CANCELED"}, "message": {"사용자에 의해 결제가 취소되었습니다."}, "orderId": {v.OrderID},
	}), http.StatusSeeOther)
}

// receipt is what Payment.receipt.url points at.
func (pg *pages) receipt(w http.ResponseWriter, r *http.Request) {
	v, ok := pg.s.view(r.PathValue("paymentKey"))
	if !ok {
		pg.message(w, http.StatusNotFound, "영수증을 찾을 수 없습니다", "존재하지 않는 결제입니다.", "", "")
		return
	}
	pg.render(w, http.StatusOK, "receipt.html", map[string]any{"P": v})
}

// allowedRedirect tells whether u's origin is one of Config.RedirectOrigins
// or a loopback host, as Toss sends customers back only
// to the merchant's registered domains.
func (pg *pages) allowedRedirect(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	if isLoopbackHost(p.Hostname()) {
		return true
	}
	origin := strings.ToLower(p.Scheme + "://" + p.Host)
	for _, o := range pg.s.cfg.RedirectOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// absoluteHTTP reports whether u is an absolute http(s) URL.
func absoluteHTTP(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// withQuery appends vals to u's query, keeping what is already there, so a
// successUrl with its own query gets "&paymentType=…".
func withQuery(u string, vals url.Values) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	if p.RawQuery != "" && !strings.HasSuffix(p.RawQuery, "&") {
		p.RawQuery += "&"
	}
	p.RawQuery += vals.Encode()
	return p.String()
}

// apiClientKey is the "API individual" twin of a widget client key
// (test_gck_x → test_ck_x): the sandbox merchant has both, as a Toss
// merchant does, since the SDK's payment() and brandpay() refuse widget keys.
func apiClientKey(widgetKey string) string {
	return strings.Replace(widgetKey, "_gck_", "_ck_", 1)
}
