package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pago/pago/pg"
)

const pgCheckUsage = `usage: pago pg-check [--base-url URL] [--secret-key KEY] [--client-key KEY]
                     [--payment-key KEY --order-id ID --amount N] [--timeout 2m]

Checks that a Toss-compatible endpoint behaves as pago relies on, with TEST
keys only (live keys are refused): the key pair, authentication, a confirm
of a test payment, a repeated confirm, same-key replays (errors included),
look-ups, cancels and settlements. Flags default to PAGO_PG_BASE_URL,
PAGO_PG_SECRET_KEY and PAGO_PG_CLIENT_KEY. The confirm checks need a
payment authenticated but not confirmed yet: against pago's sandbox one is
made through its admin API; against Toss, pay in the test widget (test
card) with a successUrl that does not confirm, and pass the paymentKey,
orderId and amount of its redirect within 10 minutes. Without one those
checks are skipped. Exits 1 on any mismatch.`

// pgCheckCmd runs the conformance check and prints one line per check.
func pgCheckCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pg-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, pgCheckUsage) }
	var c pgCheck
	fs.StringVar(&c.base, "base-url", getenv("PAGO_PG_BASE_URL"), "the PG's API origin, e.g. https://api.tosspayments.com")
	fs.StringVar(&c.secret, "secret-key", getenv("PAGO_PG_SECRET_KEY"), "a TEST secret key")
	fs.StringVar(&c.client, "client-key", getenv("PAGO_PG_CLIENT_KEY"), "the TEST client key paired with it")
	fs.StringVar(&c.paymentKey, "payment-key", "", "an authenticated, unconfirmed test payment")
	fs.StringVar(&c.orderID, "order-id", "", "its orderId")
	fs.Int64Var(&c.amount, "amount", 0, "its amount")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{"pago pg-check: " + err.Error() + "\n" + pgCheckUsage}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{"pago pg-check takes no arguments\n" + pgCheckUsage}
	case c.base == "" || c.secret == "" || c.client == "":
		return usageError{"pago pg-check: --base-url, --secret-key and --client-key (or PAGO_PG_BASE_URL, PAGO_PG_SECRET_KEY, PAGO_PG_CLIENT_KEY) are required\n" + pgCheckUsage}
	case (c.paymentKey != "" || c.orderID != "" || c.amount != 0) && (c.paymentKey == "" || c.orderID == "" || c.amount <= 0):
		return usageError{"pago pg-check: --payment-key, --order-id and --amount go together\n" + pgCheckUsage}
	}
	for _, k := range []string{c.secret, c.client} {
		if kind, err := pg.ParseKeyKind(k); err == nil && kind.Live {
			return errors.New("pg-check refuses live keys: it confirms and cancels payments; use the test keys (test_…) of the same merchant")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c.out = stdout
	return c.run(ctx)
}

// pgCheck is one conformance run.
type pgCheck struct {
	base, secret, client string
	paymentKey, orderID  string
	amount               int64
	out                  io.Writer
	failed, passed       int
	pgc                  *pg.Client
}

func (c *pgCheck) ok(name, format string, args ...any) {
	c.passed++
	fmt.Fprintf(c.out, "ok    %-32s %s\n", name, fmt.Sprintf(format, args...))
}

func (c *pgCheck) fail(name, format string, args ...any) {
	c.failed++
	fmt.Fprintf(c.out, "FAIL  %-32s %s\n", name, fmt.Sprintf(format, args...))
}

func (c *pgCheck) skip(name, format string, args ...any) {
	fmt.Fprintf(c.out, "skip  %-32s %s\n", name, fmt.Sprintf(format, args...))
}

// expect records a check that wants err to carry Toss code want.
func (c *pgCheck) expect(name string, err error, want string) {
	var e *pg.Error
	switch {
	case err == nil:
		c.fail(name, "expected %s, got success", want)
	case !errors.As(err, &e):
		c.fail(name, "expected %s, got %v", want, err)
	case e.Code != want:
		c.fail(name, "expected %s, got %d %s", want, e.HTTPStatus, e.Code)
	default:
		c.ok(name, "%d %s (%s)", e.HTTPStatus, e.Code, pg.ClassOf(e.HTTPStatus, e.Code))
	}
}

func (c *pgCheck) newClient(secret string, mod func(*pg.Config)) (*pg.Client, error) {
	cfg := pg.Config{BaseURL: c.base, SecretKey: secret, MaxAttempts: 1,
		Breaker: pg.BreakerConfig{ConsecutiveFailures: 1 << 20}}
	if mod != nil {
		mod(&cfg)
	}
	return pg.New(cfg)
}

func (c *pgCheck) run(ctx context.Context) error {
	fmt.Fprintf(c.out, "pago pg-check against %s\n", c.base)
	if err := pg.CheckKeyPair(c.client, c.secret); err != nil {
		c.fail("key pair", "%v", err)
	} else {
		c.ok("key pair", "a test %s pair", map[bool]string{true: "payment-widget", false: "API-individual"}[isWidget(c.client)])
	}
	var err error
	if c.pgc, err = c.newClient(c.secret, nil); err != nil {
		return err
	}
	run := "pgcheck-" + randomHex(6)

	// Authentication: the key is accepted (an unknown order is a 404, not a
	// 401), a wrong key is refused as a configuration error.
	_, err = c.pgc.GetPaymentByOrderID(ctx, run+"-none")
	c.expect("auth: key accepted", err, pg.CodeNotFoundPayment)
	if bad, berr := c.newClient(c.secret+"x", nil); berr == nil {
		_, err = bad.GetPaymentByOrderID(ctx, run+"-none")
		c.expect("auth: wrong key refused", err, pg.CodeUnauthorizedKey)
		if err != nil && !errors.Is(err, pg.ErrMisconfigured) {
			c.fail("auth: wrong key class", "a wrong key must read as misconfiguration, got %v", err)
		}
	}

	// Basic auth is "secretKey:" — without the colon Toss refuses the format.
	c.rawAuthCheck(ctx, run)

	// Forced errors: TossPayments-Test-Code is answered before validation.
	if forced, ferr := c.newClient(c.secret, func(cfg *pg.Config) {
		cfg.HTTPClient = &http.Client{Transport: headerTransport{"TossPayments-Test-Code": pg.CodeRejectCardPayment}}
	}); ferr == nil {
		_, err = forced.Confirm(ctx, pg.ConfirmRequest{PaymentKey: "pgcheck_dummy_key", OrderID: run + "-forced", Amount: 1000}, pg.IdempotencyKey("forced", run))
		c.expect("test code: forced decline", err, pg.CodeRejectCardPayment)
		if err != nil && !pg.IsDecline(err) {
			c.fail("test code: decline class", "REJECT_CARD_PAYMENT must read as a decline, got %v", err)
		}
	}

	c.confirmChecks(ctx, run)
	c.settlementChecks(ctx)

	fmt.Fprintf(c.out, "%d passed, %d failed\n", c.passed, c.failed)
	if c.failed > 0 {
		return fmt.Errorf("%d of %d checks do not match what pago relies on", c.failed, c.failed+c.passed)
	}
	return nil
}

// confirmChecks confirm, replay, look up and cancel one authenticated test
// payment.
func (c *pgCheck) confirmChecks(ctx context.Context, run string) {
	const name = "confirm"
	if c.paymentKey == "" {
		if err := c.sandboxAuthenticate(ctx, run); err != nil {
			c.skip(name, "no authenticated test payment (%v); pass --payment-key, --order-id and --amount", err)
			return
		}
	}
	req := pg.ConfirmRequest{PaymentKey: c.paymentKey, OrderID: c.orderID, Amount: c.amount}

	// An error answer is stored under its key and replayed, whatever the
	// body of the repeat (the scope is key + API key + URL + method).
	errKey := pg.IdempotencyKey("pgcheck-error", run)
	wrong := req
	wrong.Amount = c.amount + 1
	_, err := c.pgc.Confirm(ctx, wrong, errKey)
	var first *pg.Error
	if !errors.As(err, &first) {
		c.fail("confirm: wrong amount refused", "expected an error answer, got %v", err)
	} else {
		c.ok("confirm: wrong amount refused", "%d %s", first.HTTPStatus, first.Code)
		_, err = c.pgc.Confirm(ctx, req, errKey)
		var again *pg.Error
		if errors.As(err, &again) && again.Code == first.Code && again.HTTPStatus == first.HTTPStatus {
			c.ok("replay: error under same key", "the corrected repeat got the stored %s", again.Code)
		} else {
			c.fail("replay: error under same key", "expected the stored %d %s replayed, got %v", first.HTTPStatus, first.Code, err)
		}
	}

	key := pg.IdempotencyKey("pgcheck-confirm", run)
	p, err := c.pgc.Confirm(ctx, req, key)
	if err != nil {
		c.fail("confirm: new key", "expected DONE, got %v", err)
		return
	}
	if p.Status != pg.StatusDone || p.PaymentKey != c.paymentKey || p.OrderID != c.orderID || p.TotalAmount.String() != fmt.Sprint(c.amount) {
		c.fail("confirm: new key", "expected DONE %s/%s/%d, got %s %s/%s/%s", c.paymentKey, c.orderID, c.amount, p.Status, p.PaymentKey, p.OrderID, p.TotalAmount)
		return
	}
	c.ok("confirm: new key", "DONE, totalAmount %s", p.TotalAmount)

	p2, err := c.pgc.Confirm(ctx, req, key)
	switch {
	case err != nil:
		c.fail("replay: success under same key", "expected the stored DONE, got %v", err)
	case p2.Status != p.Status || nz(p2.ApprovedAt) != nz(p.ApprovedAt) || nz(p2.LastTransactionKey) != nz(p.LastTransactionKey):
		c.fail("replay: success under same key", "expected the first answer, got %s approvedAt %s", p2.Status, nz(p2.ApprovedAt))
	default:
		c.ok("replay: success under same key", "the first answer, not a second approval")
	}
	_, err = c.pgc.Confirm(ctx, req, pg.IdempotencyKey("pgcheck-confirm-again", run))
	c.expect("repeated confirm, new key", err, pg.CodeAlreadyProcessedPayment)

	if g, err := c.pgc.GetPayment(ctx, c.paymentKey); err != nil || g.Status != pg.StatusDone {
		c.fail("look-up by paymentKey", "expected DONE, got %v %v", status(g), err)
	} else {
		c.ok("look-up by paymentKey", "DONE")
	}
	if g, err := c.pgc.GetPaymentByOrderID(ctx, c.orderID); err != nil || g.PaymentKey != c.paymentKey {
		c.fail("look-up by orderId", "expected %s, got %v %v", c.paymentKey, status(g), err)
	} else {
		c.ok("look-up by orderId", "%s %s", g.PaymentKey, g.Status)
	}

	c.cancelChecks(ctx, run)
}

func (c *pgCheck) cancelChecks(ctx context.Context, run string) {
	if c.amount < 200 {
		c.skip("cancel", "amount %d is too small to cancel in two parts", c.amount)
		return
	}
	part := c.amount / 2
	key := pg.IdempotencyKey("pgcheck-cancel-1", run)
	p, err := c.pgc.Cancel(ctx, c.paymentKey, pg.CancelRequest{CancelReason: "pago pg-check", CancelAmount: &part}, key)
	if err != nil || p.Status != pg.StatusPartialCanceled || p.BalanceAmount.String() != fmt.Sprint(c.amount-part) {
		c.fail("cancel: partial", "expected PARTIAL_CANCELED with balance %d, got %v %v", c.amount-part, status(p), err)
		return
	}
	c.ok("cancel: partial", "PARTIAL_CANCELED, balance %s", p.BalanceAmount)
	p, err = c.pgc.Cancel(ctx, c.paymentKey, pg.CancelRequest{CancelReason: "pago pg-check", CancelAmount: &part}, key)
	if err != nil || p.BalanceAmount.String() != fmt.Sprint(c.amount-part) {
		c.fail("replay: cancel under same key", "expected balance %d (cancelled once), got %v %v", c.amount-part, status(p), err)
	} else {
		c.ok("replay: cancel under same key", "cancelled once, balance %s", p.BalanceAmount)
	}
	p, err = c.pgc.Cancel(ctx, c.paymentKey, pg.CancelRequest{CancelReason: "pago pg-check"}, pg.IdempotencyKey("pgcheck-cancel-2", run))
	if err != nil || p.Status != pg.StatusCanceled || p.BalanceAmount.String() != "0" {
		c.fail("cancel: the rest", "expected CANCELED with balance 0, got %v %v", status(p), err)
	} else {
		c.ok("cancel: the rest", "CANCELED, %d cancels", len(p.Cancels))
	}
	_, err = c.pgc.Cancel(ctx, c.paymentKey, pg.CancelRequest{CancelReason: "pago pg-check"}, pg.IdempotencyKey("pgcheck-cancel-3", run))
	c.expect("cancel: already canceled", err, pg.CodeAlreadyCanceledPayment)
}

func (c *pgCheck) settlementChecks(ctx context.Context) {
	today := time.Now().UTC().Format("2006-01-02")
	weekAgo := time.Now().UTC().AddDate(0, 0, -7).Format("2006-01-02")
	rows, err := c.pgc.Settlements(ctx, pg.SettlementsQuery{StartDate: weekAgo, EndDate: today, Size: 10})
	if err != nil {
		c.fail("settlements", "expected a JSON array, got %v", err)
		return
	}
	c.ok("settlements", "%d rows from %s to %s", len(rows), weekAgo, today)
}

// rawAuthCheck sends a look-up whose Basic credentials lack the colon.
func (c *pgCheck) rawAuthCheck(ctx context.Context, run string) {
	const name = "auth: missing colon refused"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.base, "/")+"/v1/payments/orders/"+run+"-none", nil)
	if err != nil {
		c.fail(name, "%v", err)
		return
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.secret)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.fail(name, "%v", err)
		return
	}
	defer resp.Body.Close()
	var body struct{ Code string }
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body)
	if body.Code != "INCORRECT_BASIC_AUTH_FORMAT" && body.Code != pg.CodeUnauthorizedKey {
		c.fail(name, "expected INCORRECT_BASIC_AUTH_FORMAT or UNAUTHORIZED_KEY, got %d %s", resp.StatusCode, body.Code)
		return
	}
	c.ok(name, "%d %s (%s)", resp.StatusCode, body.Code, pg.ClassOf(resp.StatusCode, body.Code))
}

// sandboxAuthenticate makes an authenticated payment through pago's
// sandbox admin API, when the endpoint is the sandbox.
func (c *pgCheck) sandboxAuthenticate(ctx context.Context, run string) error {
	body, _ := json.Marshal(map[string]any{"orderId": run + "-order", "orderName": "pago pg-check", "amount": 10000})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.base, "/")+"/_sandbox/authenticate", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the endpoint has no sandbox admin API (%s)", resp.Status)
	}
	var out struct {
		PaymentKey string `json:"paymentKey"`
		OrderID    string `json:"orderId"`
		Amount     int64  `json:"amount"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	c.paymentKey, c.orderID, c.amount = out.PaymentKey, out.OrderID, out.Amount
	return nil
}

// headerTransport adds fixed headers to every request.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func isWidget(clientKey string) bool {
	k, _ := pg.ParseKeyKind(clientKey)
	return k.Widget
}

func nz(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func status(p *pg.Payment) string {
	if p == nil {
		return "no payment"
	}
	return string(p.Status) + " balance " + p.BalanceAmount.String()
}
