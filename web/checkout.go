package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/views"
)

// CheckoutService is what the checkout pages need of payment;
// *payment.Service implements it.
type CheckoutService interface {
	// OrderForCheckout reads an order without a user in ctx: the caller has
	// verified the order's signed link.
	OrderForCheckout(ctx context.Context, id string) (payment.Order, error)
	ConfirmPayment(ctx context.Context, key, source string, in payment.ConfirmInput) (payment.ConfirmResult, error)
	// OrderAgain orders a FAILED order's items again, for another card.
	OrderAgain(ctx context.Context, orderID string) (payment.Order, error)
	// CheckoutWalletFor and StartSplitPayment offer "use my wallet
	// balance": part from the wallet (held), the rest by card.
	CheckoutWalletFor(ctx context.Context, o payment.Order) (payment.CheckoutWallet, error)
	StartSplitPayment(ctx context.Context, key string, in payment.StartSplitPaymentInput) (payment.StartSplitPaymentResult, error)
}

// CheckoutConfig configures the customer-facing checkout pages. They are
// mounted only when Service is set.
type CheckoutConfig struct {
	Service CheckoutService
	Links   *CheckoutLinks
	// PGScriptURL is the PG's browser SDK (Toss v2 "standard").
	PGScriptURL string
	// PGClientKey is the PG's public client key (a *_gck_* widget key).
	PGClientKey string
}

// checkoutPages serves GET /checkout/{orderId}, the PG's success and fail
// redirects and the status the processing page polls. Every page is
// reached through a signed link (CheckoutLinks): an unsigned or unknown
// order is a 404, the same answer for both.
type checkoutPages struct {
	svc       CheckoutService
	links     *CheckoutLinks
	scriptURL string
	clientKey string
	timeout   time.Duration // each page's bound (Config.RequestTimeout)
}

// mount registers the checkout routes on mux.
func (p checkoutPages) mount(mux *http.ServeMux, publicURL string) {
	csp := checkoutCSP(publicURL, p.scriptURL)
	// CrossOriginProtection lets the GETs through and refuses a cross-site
	// POST (the wallet form): no CSRF.
	cop := http.NewCrossOriginProtection()
	html := func(h http.HandlerFunc) http.Handler {
		return cop.Handler(noStore(withCSP(csp, withTimeout(p.timeout, h))))
	}
	status := cop.Handler(noStore(withTimeout(p.timeout, http.HandlerFunc(p.status))))
	mux.Handle("GET /checkout/{orderId}/{sig}", html(p.checkout))
	mux.Handle("GET /checkout/{orderId}/{sig}/success", html(p.success))
	mux.Handle("GET /checkout/{orderId}/{sig}/fail", html(p.fail))
	mux.Handle("GET /checkout/{orderId}/{sig}/status", status)
	// Links from before the signature moved into the path (?t=): a customer
	// who was at the PG during the upgrade still comes back to a page.
	mux.Handle("GET /checkout/success", html(p.success))
	mux.Handle("GET /checkout/fail", html(p.fail))
	mux.Handle("GET /checkout/{orderId}", html(p.checkout))
	mux.Handle("POST /checkout/{orderId}/{sig}/split", html(p.split))
	mux.Handle("POST /checkout/{orderId}/split", html(p.split)) // links from before the signature moved into the path
	mux.Handle("GET /checkout/{orderId}/status", status)
	mux.Handle("POST /checkout/{orderId}/{sig}/again", html(p.again))
	mux.Handle("POST /checkout/{orderId}/again", html(p.again)) // links from before the signature moved into the path
}

// checkoutCSP is pageCSP opened for the PG's SDK. The in-process sandbox is
// same-origin and needs nothing more; any other PG's origin is allowed to
// run its script, frame its widget, be fetched from and receive its forms.
// The real Toss widget frames and calls other tosspayments.com hosts than
// the one serving the script, hence the wildcard for that PG.
func checkoutCSP(publicURL, scriptURL string) string {
	self := originOf(publicURL)
	pg := originOf(scriptURL)
	if pg == "" || pg == self {
		return pageCSP
	}
	srcs := pg
	if u, err := url.Parse(scriptURL); err == nil && strings.HasSuffix(u.Hostname(), ".tosspayments.com") {
		srcs += " https://*.tosspayments.com"
	}
	r := strings.NewReplacer(
		"script-src 'self'", "script-src 'self' "+pg,
		"connect-src 'self'", "connect-src 'self' "+srcs,
		"frame-src 'self'", "frame-src 'self' "+srcs,
		"form-action 'self'", "form-action 'self' "+srcs,
	)
	return r.Replace(pageCSP)
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// noStore keeps checkout pages out of caches: they show live payment state
// and carry signed links.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// render sends c with status, rendered in full first (see page). It
// renders even when the request's time is up (withTimeout): rendering
// waits on nothing, and the page saying so is the answer.
func render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	page(c, templ.WithStatus(status)).ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
}

func (p checkoutPages) notFound(w http.ResponseWriter, r *http.Request) {
	render(w, r, http.StatusNotFound, views.NotFound())
}

func (p checkoutPages) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	logger(r.Context()).ErrorContext(r.Context(), what, "err", err)
	render(w, r, http.StatusInternalServerError, views.Result(views.ResultView{
		State: views.StateError, Code: string(payment.CodeInternal),
		Message: "일시적인 오류입니다. 잠시 후 다시 시도해 주세요. · Something went wrong on our side; please try again shortly.",
	}))
}

// link returns the order id and signature a request carries: from the
// path (/checkout/{orderId}/{sig}/…), or from the query of a link made
// before they moved there (?t=, and for the PG's redirects ?orderId=). A
// redirect whose appended orderId names another order than its path is
// refused: an empty id never verifies.
func link(r *http.Request) (orderID, sig string) {
	q := r.URL.Query()
	orderID, sig = r.PathValue("orderId"), r.PathValue("sig")
	if sig == "" {
		sig = q.Get("t")
	}
	switch qid := q.Get("orderId"); {
	case orderID == "":
		orderID = qid
	case qid != "" && qid != orderID:
		return "", ""
	}
	return orderID, sig
}

// order returns the order a signed link names. It answers the request
// itself (404 or 500) and returns false when there is none.
func (p checkoutPages) order(w http.ResponseWriter, r *http.Request, id, sig string) (payment.Order, bool) {
	if !p.links.Verify(id, sig) {
		p.notFound(w, r)
		return payment.Order{}, false
	}
	o, err := p.svc.OrderForCheckout(r.Context(), id)
	if errors.Is(err, payment.ErrNotFound) || errors.Is(err, payment.ErrBadUserInput) {
		p.notFound(w, r)
		return payment.Order{}, false
	}
	if err != nil {
		p.internalError(w, r, "checkout: read order", err)
		return payment.Order{}, false
	}
	return o, true
}

// checkout is GET /checkout/{orderId}/{sig}: the summary and the PG widget
// while the order is PENDING, where it stands otherwise.
func (p checkoutPages) checkout(w http.ResponseWriter, r *http.Request) {
	id, sig := link(r)
	o, ok := p.order(w, r, id, sig)
	if !ok {
		return
	}
	v := views.CheckoutView{OrderID: o.ID, OrderName: o.Name, Amount: o.Amount.String(), TopUp: o.Kind == payment.OrderWalletTopUp}
	for _, it := range o.Items {
		v.Items = append(v.Items, views.CheckoutItem{Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice.String(),
			Total: payment.Money{Amount: it.UnitPrice.Amount * it.Quantity, Currency: it.UnitPrice.Currency}.String()})
	}
	if o.Status == payment.OrderPending {
		due := o.Amount
		if o.Kind == payment.OrderPurchase {
			cw, err := p.svc.CheckoutWalletFor(r.Context(), o)
			if err != nil {
				p.internalError(w, r, "checkout: read wallet", err)
				return
			}
			switch {
			case cw.Split != nil:
				due = payment.Money{Amount: cw.Split.CardAmount(), Currency: o.Amount.Currency}
				v.WalletPart = cw.Split.WalletAmount.String()
				v.CardPart = due.String()
			case cw.Available.Amount > 0:
				v.Wallet = &views.WalletOption{Available: cw.Available.String(), Max: min(cw.Available.Amount, o.Amount.Amount-1),
					Action: p.links.SplitURL(o.ID)}
			}
		}
		v.Widget = &views.PGWidget{
			ScriptURL: p.scriptURL, ClientKey: p.clientKey, CustomerKey: p.links.CustomerKey(o.UserID),
			Amount: due.Amount, OrderID: o.ID, OrderName: pgOrderName(o.Name),
			SuccessURL: p.links.SuccessURL(o.ID), FailURL: p.links.FailURL(o.ID),
		}
		v.Due = due.String()
	} else {
		res := p.standing(o)
		v.Result = &res
	}
	render(w, r, http.StatusOK, views.Checkout(v))
}

// pgOrderName fits an order's name into the PG's orderName (1–100 characters).
func pgOrderName(name string) string {
	if utf8.RuneCountInString(name) <= 100 {
		return name
	}
	return string([]rune(name)[:99]) + "…"
}

// processing is v as the page that polls order id until it settles, with
// the ways forward the poll shows if it fails: try again (back to PENDING)
// and another card (FAILED).
func (p checkoutPages) processing(v views.ResultView, id string) views.ResultView {
	v.State, v.StatusURL = views.StateProcessing, p.links.StatusURL(id)
	v.RetryURL, v.AgainURL = p.links.URL(id), p.links.AgainURL(id)
	return v
}

// standing describes an order as it stands, for a page that has no fresher
// news about it.
func (p checkoutPages) standing(o payment.Order) views.ResultView {
	v := views.ResultView{OrderStatus: string(o.Status), OrderName: o.Name, Amount: o.Amount.String(),
		TopUp: o.Kind == payment.OrderWalletTopUp}
	switch o.Status {
	case payment.OrderPaid, payment.OrderPartiallyRefunded, payment.OrderRefunded:
		v.State = views.StatePaid
	case payment.OrderInDoubt:
		v = p.processing(v, o.ID)
	case payment.OrderPending:
		v.State, v.RetryURL = views.StateFailed, p.links.URL(o.ID)
	case payment.OrderFailed:
		v.State = views.StateFailed
	default: // CANCELED, EXPIRED
		v.State = views.StateClosed
	}
	return v
}

// amountPattern is a redirect's amount: a positive integer, no sign, no
// leading zeros, no fraction, no more digits than fit in int64 with room.
var amountPattern = regexp.MustCompile(`^[1-9][0-9]{0,15}$`)

// success is the PG's success redirect:
// GET /checkout/{orderId}/{sig}/success?paymentKey&orderId&amount(&paymentType). It
// checks the amount against the order, then confirms with the PG under the
// key "redirect:"+paymentKey, so a reload (or a second tab) replays the
// first confirm instead of sending another.
func (p checkoutPages) success(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	orderID, sig := link(r)
	paymentKey, rawAmount := q.Get("paymentKey"), q.Get("amount")
	if !p.links.Verify(orderID, sig) {
		p.notFound(w, r)
		return
	}
	if !amountPattern.MatchString(rawAmount) {
		render(w, r, http.StatusBadRequest, views.Result(views.ResultView{State: views.StateError,
			Code: string(payment.CodeBadUserInput), Message: "결제 금액이 올바르지 않습니다. · The amount in this link is not valid."}))
		return
	}
	amount, _ := strconv.ParseInt(rawAmount, 10, 64)
	o, ok := p.order(w, r, orderID, sig)
	if !ok {
		return
	}
	ctx := r.Context()
	// Checked here as well as in ConfirmPayment so that a tampered link never
	// reaches the idempotency key: its error would be stored under
	// "redirect:"+paymentKey and refuse the genuine redirect afterwards. A
	// split under way is paid by card for its card part only.
	due := o.Amount.Amount
	if cw, err := p.svc.CheckoutWalletFor(ctx, o); err != nil {
		p.internalError(w, r, "checkout success: read wallet", err)
		return
	} else if cw.Split != nil {
		due = cw.Split.CardAmount()
	}
	if amount != due {
		logger(ctx).WarnContext(ctx, "checkout success: amount differs from what the card pays; possible tampering, order untouched",
			"order", o.ID, "due", due, "amount", amount)
		p.amountMismatch(w, r, o)
		return
	}

	ctx = payment.WithUser(ctx, payment.User{ID: o.UserID})
	res, err := p.svc.ConfirmPayment(ctx, "redirect:"+paymentKey, payment.SourceRedirect,
		payment.ConfirmInput{OrderID: o.ID, PaymentKey: paymentKey, Amount: amount})
	if err == nil {
		// A confirm that succeeds leaves the order PAID; standing covers a
		// replayed answer whose order has moved on since (refunded, say).
		render(w, r, http.StatusOK, views.Result(p.standing(res.Order)))
		return
	}
	p.confirmFailed(w, r, o, err)
}

// split is POST /checkout/{orderId}/{sig}/split with walletAmount: "use my
// wallet balance". It holds that much of the owner's wallet for the order
// (startSplitPayment) and sends the customer back to the checkout page,
// whose widget then asks the card for the rest. The idempotency key is the
// order and amount, so a resubmitted form replays instead of holding twice.
func (p checkoutPages) split(w http.ResponseWriter, r *http.Request) {
	id, sig := link(r)
	o, ok := p.order(w, r, id, sig)
	if !ok {
		return
	}
	raw := r.PostFormValue("walletAmount")
	if !amountPattern.MatchString(raw) {
		render(w, r, http.StatusBadRequest, views.Result(views.ResultView{State: views.StateError, Code: string(payment.CodeBadUserInput),
			Message: "사용할 금액이 올바르지 않습니다. · The wallet amount is not valid.", RetryURL: p.links.URL(o.ID)}))
		return
	}
	amount, _ := strconv.ParseInt(raw, 10, 64)
	ctx := payment.WithUser(r.Context(), payment.User{ID: o.UserID})
	_, err := p.svc.StartSplitPayment(ctx, "checkout-split:"+o.ID+":"+raw, payment.StartSplitPaymentInput{OrderID: o.ID, WalletAmount: amount})
	var de *payment.Error
	switch {
	case err == nil:
		http.Redirect(w, r, p.links.URL(o.ID), http.StatusSeeOther)
	case errors.As(err, &de):
		render(w, r, http.StatusConflict, views.Result(views.ResultView{State: views.StateError, Code: string(de.Code),
			OrderStatus: string(o.Status), Message: splitMessage(de.Code), RetryURL: p.links.URL(o.ID)}))
	default:
		p.internalError(w, r, "checkout: start split payment", err)
	}
}

// splitMessage is the customer's words for a refused wallet part.
func splitMessage(c payment.Code) string {
	switch c {
	case payment.CodeInsufficientBalance:
		return "지갑 잔액이 부족합니다. · The wallet does not hold that much."
	case payment.CodeBadUserInput:
		return "주문 금액보다 적게 사용해 주세요. · Use less than the order's amount; the card pays the rest."
	default:
		return "지금은 지갑 잔액을 사용할 수 없습니다. · The wallet balance cannot be used for this order now."
	}
}

func (p checkoutPages) amountMismatch(w http.ResponseWriter, r *http.Request, o payment.Order) {
	v := views.ResultView{State: views.StateError, Code: string(payment.CodeAmountMismatch), OrderStatus: string(o.Status),
		Message: "결제 금액이 주문 금액과 다릅니다. 결제가 진행되지 않았습니다. · The amount does not match the order; nothing was charged."}
	if o.Status == payment.OrderPending {
		v.RetryURL = p.links.URL(o.ID)
	}
	render(w, r, http.StatusBadRequest, views.Result(v))
}

// confirmFailed renders what a failed confirm means for the customer.
func (p checkoutPages) confirmFailed(w http.ResponseWriter, r *http.Request, o payment.Order, err error) {
	ctx := r.Context()
	base := views.ResultView{OrderName: o.Name, Amount: o.Amount.String(), TopUp: o.Kind == payment.OrderWalletTopUp}
	var de *payment.Error
	if !errors.As(err, &de) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The page ran out of its time (withTimeout) with the confirm
		// anywhere from unsent to settled: the page that polls the order
		// tells the customer where it ends.
		logger(ctx).WarnContext(ctx, "checkout: confirm out of the page's time; polling the order", "order", o.ID, "err", err)
		base.OrderStatus = string(payment.OrderInDoubt)
		render(w, r, http.StatusOK, views.Result(p.processing(base, o.ID)))
		return
	}
	if de == nil {
		p.internalError(w, r, "checkout: confirm", err)
		return
	}
	switch de.Code {
	case payment.CodePaymentInDoubt, payment.CodeRequestInProgress:
		// The PG did not answer in time, or another tab is confirming right
		// now: the probe job (or that request) settles it; the page polls.
		base.OrderStatus = string(payment.OrderInDoubt)
		render(w, r, http.StatusOK, views.Result(p.processing(base, o.ID)))
	case payment.CodePaymentDeclined:
		logger(ctx).InfoContext(ctx, "checkout: payment declined", "order", o.ID, "pg_code", de.PGCode)
		base.State, base.OrderStatus, base.Code, base.Message = views.StateFailed, string(payment.OrderFailed), de.PGCode, de.Message
		base.AgainURL = p.links.AgainURL(o.ID)
		render(w, r, http.StatusOK, views.Result(base))
	case payment.CodeBalanceLimitExceeded:
		// A top-up the PG approved that the wallet could no longer hold
		// (another top-up landed first): it went back to the card.
		logger(ctx).InfoContext(ctx, "checkout: top-up refunded, wallet limit", "order", o.ID)
		base.State, base.OrderStatus, base.Code = views.StateFailed, string(payment.OrderFailed), string(de.Code)
		base.Message = "지갑 한도를 넘어 충전할 수 없어 카드 결제를 취소했습니다. · The wallet cannot hold this top-up; the card payment was refunded."
		render(w, r, http.StatusOK, views.Result(base))
	case payment.CodePGUnavailable:
		// Nothing reached the PG and the order is PENDING again; the PG still
		// holds the authenticated payment, so retrying this very redirect
		// (not a new checkout) is what completes it.
		base.State, base.Code, base.OrderStatus = views.StateError, string(de.Code), string(payment.OrderPending)
		base.Message = "결제사에 연결할 수 없습니다. 청구된 금액은 없습니다. · The payment gateway is unavailable right now; nothing was charged."
		base.RetryURL = r.URL.RequestURI()
		render(w, r, http.StatusServiceUnavailable, views.Result(base))
	case payment.CodeAmountMismatch:
		p.amountMismatch(w, r, o)
	case payment.CodeInvalidState:
		// The order moved on (paid by another payment, expired, …): say where
		// it stands now.
		fresh, ferr := p.svc.OrderForCheckout(ctx, o.ID)
		if ferr != nil {
			p.internalError(w, r, "checkout: re-read order", ferr)
			return
		}
		render(w, r, http.StatusConflict, views.Result(p.standing(fresh)))
	case payment.CodeNotFound:
		p.notFound(w, r)
	case payment.CodeBadUserInput, payment.CodeIdempotencyKeyReused:
		logger(ctx).WarnContext(ctx, "checkout success: refused redirect", "order", o.ID, "code", de.Code, "err", de.Message)
		base.State, base.Code = views.StateError, string(de.Code)
		base.Message = "결제 정보가 올바르지 않습니다. · The payment details in this link are not valid."
		render(w, r, http.StatusBadRequest, views.Result(base))
	default:
		p.internalError(w, r, "checkout: confirm", err)
	}
}

// maxPGMessage bounds the PG's message shown on the fail page: it arrives in
// the URL, so anyone can put anything there.
const maxPGMessage = 300

// fail is the PG's fail redirect: GET /checkout/{orderId}/{sig}/fail?code&message&orderId.
// The PG's message is shown as text (templ escapes it); nothing on the page
// is believed beyond the order pago reads itself.
func (p checkoutPages) fail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id, sig := link(r)
	o, ok := p.order(w, r, id, sig)
	if !ok {
		return
	}
	if o.Status != payment.OrderPending && o.Status != payment.OrderFailed {
		// A fail link for an order that went on (paid in another tab, say):
		// the order's own state is the truth.
		render(w, r, http.StatusOK, views.Result(p.standing(o)))
		return
	}
	msg := q.Get("message")
	if utf8.RuneCountInString(msg) > maxPGMessage {
		msg = string([]rune(msg)[:maxPGMessage]) + "…"
	}
	code := q.Get("code")
	if len(code) > 64 {
		code = code[:64]
	}
	v := p.standing(o)
	v.State, v.Code, v.Message = views.StateFailed, code, msg
	if o.Status == payment.OrderPending {
		v.RetryURL = p.links.URL(o.ID) // nothing was charged; the order still holds its items
	} else {
		v.AgainURL = p.links.AgainURL(o.ID)
	}
	render(w, r, http.StatusOK, views.Result(v))
}

// again is POST /checkout/{orderId}/{sig}/again, the declined page's "pay
// with another card": a new order for the same items (payment.OrderAgain
// says what becomes of the old one and its stock), then its checkout page.
func (p checkoutPages) again(w http.ResponseWriter, r *http.Request) {
	id, sig := link(r)
	if !p.links.Verify(id, sig) {
		p.notFound(w, r)
		return
	}
	o, err := p.svc.OrderAgain(r.Context(), id)
	var de *payment.Error
	switch {
	case err == nil:
		http.Redirect(w, r, p.links.URL(o.ID), http.StatusSeeOther)
	case errors.Is(err, payment.ErrNotFound) || errors.Is(err, payment.ErrBadUserInput):
		p.notFound(w, r)
	case errors.As(err, &de) && de.Code == payment.CodeOutOfStock:
		render(w, r, http.StatusConflict, views.Result(views.ResultView{State: views.StateError, Code: string(de.Code),
			Message: "상품이 품절되어 다시 주문할 수 없습니다. · These items have sold out since; they cannot be ordered again."}))
	case errors.As(err, &de) && de.Code == payment.CodeInvalidState:
		fresh, ferr := p.svc.OrderForCheckout(r.Context(), id)
		if ferr != nil {
			p.internalError(w, r, "checkout again: re-read order", ferr)
			return
		}
		render(w, r, http.StatusConflict, views.Result(p.standing(fresh)))
	case errors.As(err, &de) && de.Code == payment.CodeBalanceLimitExceeded:
		render(w, r, http.StatusConflict, views.Result(views.ResultView{State: views.StateError, Code: string(de.Code),
			Message: "지갑 한도를 넘어 충전할 수 없습니다. · This top-up would now pass your wallet's limit."}))
	default:
		p.internalError(w, r, "checkout again", err)
	}
}

// status is GET /checkout/{orderId}/{sig}/status: {"status": "PAID"} for
// the processing page's poll.
func (p checkoutPages) status(w http.ResponseWriter, r *http.Request) {
	id, sig := link(r)
	if !p.links.Verify(id, sig) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	o, err := p.svc.OrderForCheckout(r.Context(), id)
	if errors.Is(err, payment.ErrNotFound) || errors.Is(err, payment.ErrBadUserInput) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	if err != nil {
		logger(r.Context()).ErrorContext(r.Context(), "checkout status: read order", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "try again"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": string(o.Status)})
}
