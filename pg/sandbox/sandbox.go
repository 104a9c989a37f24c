package sandbox

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Default keys accepted when Config leaves them empty.
const (
	DefaultSecretKey = "test_gsk_pago_sandbox"
	DefaultClientKey = "test_gck_pago_sandbox"
)

// mID is the merchant id Toss reports for its shared test merchant.
const mID = "tvivarepublica"

// apiVersion is the Toss API version the sandbox speaks.
const apiVersion = "2022-11-16"

// kst is Korea Standard Time. Korea has no daylight saving time, so a fixed
// zone avoids depending on the tzdata of the machine.
var kst = time.FixedZone("KST", 9*60*60)

// Config configures a Sandbox. The zero value works: every field has a default.
type Config struct {
	// SecretKey is the key the REST API expects in Basic auth.
	// Default DefaultSecretKey.
	SecretKey string
	// ClientKey is the key the browser SDK must be created with.
	// Default DefaultClientKey.
	ClientKey string
	// BasePath is the public path prefix the sandbox is mounted at, such as
	// "/sandbox"; pages and the SDK build their URLs from it. Default "".
	BasePath string
	// Now is the clock. Default time.Now. The admin clock offset is added to it.
	Now func() time.Time
	// ConfirmWindow is how long an authenticated payment may wait for confirm.
	// Default 10 minutes, as Toss.
	ConfirmWindow time.Duration
	// AuthWindow is how long a created payment may wait for authentication.
	// Default 30 minutes, as Toss.
	AuthWindow time.Duration
	// SlowCardDelay is how long the "slow" test card holds the confirm response
	// after committing. Default 30 seconds.
	SlowCardDelay time.Duration
	// WebhookURL receives PAYMENT_STATUS_CHANGED events; empty disables them.
	WebhookURL string
	// WebhookRetryDelays are the waits before each retry of a webhook that did
	// not get a 200. Default Toss's 1, 4, 16, 64, 256, 1024, 4096 minutes.
	WebhookRetryDelays []time.Duration
	// HTTPClient delivers webhooks. Default a client with a 10 s timeout
	// that keeps at most 32 connections to a receiver open, and reuses
	// them: deliveries beyond those wait for one.
	HTTPClient *http.Client
	// Logger receives operational logs. Default discards them.
	Logger *slog.Logger
	// AdminToken, when set, is the bearer token the /_sandbox/ admin API
	// requires. Without one, the admin API answers loopback callers only
	// (and never a request a browser sends cross-site).
	AdminToken string
	// RedirectOrigins are the origins (scheme://host[:port]) successUrl and
	// failUrl may point at besides loopback hosts, like the domains a
	// merchant registers with Toss.
	RedirectOrigins []string
}

// Sandbox is the emulated PG. Create it with New; it is safe for concurrent use.
type Sandbox struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	faults *Faults
	hooks  *webhooks
	pages  *pages

	// closing is closed by Close so that sleeping handlers finish promptly.
	closing   chan struct{}
	closeOnce sync.Once

	// slowDelay is the slow card's hold. Atomic because confirm reads it
	// while holding mu.
	slowDelay atomic.Int64

	mu          sync.Mutex
	clockOffset time.Duration
	payments    map[string]*payment   // by paymentKey
	orders      map[string][]*payment // by orderId, oldest first
	idem        map[string]*idemEntry
	record      []RecordEntry
	// settlement faults (settlement_faults.go): by order id, and the
	// sales of orders nobody created.
	settleFaults map[string]map[SettlementFaultKind]bool
	foreignLines []foreignLine
}

// New returns a Sandbox with cfg's defaults filled in.
func New(cfg Config) *Sandbox {
	if cfg.SecretKey == "" {
		cfg.SecretKey = DefaultSecretKey
	}
	if cfg.ClientKey == "" {
		cfg.ClientKey = DefaultClientKey
	}
	cfg.BasePath = strings.TrimRight(cfg.BasePath, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ConfirmWindow <= 0 {
		cfg.ConfirmWindow = 10 * time.Minute
	}
	if cfg.AuthWindow <= 0 {
		cfg.AuthWindow = 30 * time.Minute
	}
	if cfg.SlowCardDelay <= 0 {
		cfg.SlowCardDelay = 30 * time.Second
	}
	if cfg.WebhookRetryDelays == nil {
		for _, m := range []int{1, 4, 16, 64, 256, 1024, 4096} {
			cfg.WebhookRetryDelays = append(cfg.WebhookRetryDelays, time.Duration(m)*time.Minute)
		}
	}
	if cfg.HTTPClient == nil {
		// Deliveries share a few kept-alive connections, as a PG's
		// dispatcher does: a burst of payments is no burst of dials.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxConnsPerHost, t.MaxIdleConnsPerHost = webhookConns, webhookConns
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: t}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "pg-sandbox"),
		faults:   &Faults{},
		closing:  make(chan struct{}),
		payments: map[string]*payment{},
		orders:   map[string][]*payment{},
		idem:     map[string]*idemEntry{},
	}
	s.slowDelay.Store(int64(cfg.SlowCardDelay))
	s.hooks = newWebhooks(cfg, s.log, s.Now, s.faults)
	s.pages = newPages(s)
	s.mux = s.routes()
	return s
}

// routes wires every endpoint; paths are relative to the mount point.
func (s *Sandbox) routes() *http.ServeMux {
	mux := http.NewServeMux()

	mux.HandleFunc("POST /v1/payments/confirm", s.handleConfirm)
	mux.HandleFunc("GET /v1/payments/{paymentKey}", s.handleGetByKey)
	mux.HandleFunc("GET /v1/payments/orders/{orderId}", s.handleGetByOrder)
	mux.HandleFunc("POST /v1/payments/{paymentKey}/cancel", s.handleCancel)
	mux.HandleFunc("GET /v1/settlements", s.handleSettlements)

	mux.HandleFunc("GET /v2/standard", s.pages.sdk)
	mux.HandleFunc("GET /v2/standard.js", s.pages.sdk)
	mux.HandleFunc("GET /static/pay.css", s.pages.serveCSS)
	mux.HandleFunc("GET /sdk/request", s.pages.request)
	mux.HandleFunc("GET /pay/{paymentKey}", s.pages.pay)
	// The pay page's buttons are form posts: another site must not be able
	// to press them in the customer's browser.
	csrf := http.NewCrossOriginProtection()
	mux.Handle("POST /pay/{paymentKey}/authenticate", csrf.Handler(http.HandlerFunc(s.pages.authenticate)))
	mux.Handle("POST /pay/{paymentKey}/cancel", csrf.Handler(http.HandlerFunc(s.pages.cancel)))
	mux.HandleFunc("GET /receipt/{paymentKey}", s.pages.receipt)

	admin := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.adminOnly(csrf.Handler(h))) }
	admin("GET /_sandbox/faults", s.adminListFaults)
	admin("POST /_sandbox/faults", s.adminAddFault)
	admin("DELETE /_sandbox/faults", s.adminClearFaults)
	admin("GET /_sandbox/record", s.adminRecord)
	admin("GET /_sandbox/clock", s.adminClock)
	admin("POST /_sandbox/clock", s.adminClock)
	admin("POST /_sandbox/authenticate", s.adminAuthenticate)
	admin("GET /_sandbox/webhooks", s.adminWebhooks)
	admin("POST /_sandbox/webhooks/resend", s.adminResendWebhook)
	admin("POST /_sandbox/config", s.adminConfig)
	admin("POST /_sandbox/reset", s.adminReset)
	admin("POST /_sandbox/webhooks/send", s.adminSendWebhook)
	admin("POST /_sandbox/settlement-faults", s.adminAddSettlementFault)
	admin("DELETE /_sandbox/settlement-faults", s.adminClearSettlementFaults)
	return mux
}

// ServeHTTP routes r. It strips BasePath itself when the caller mounted the
// sandbox without http.StripPrefix, so both mounting styles work.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if bp := s.cfg.BasePath; bp != "" && strings.HasPrefix(r.URL.Path, bp+"/") {
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = strings.TrimPrefix(r.URL.Path, bp)
		u.RawPath = ""
		r2.URL = &u
		r = r2
	}
	s.mux.ServeHTTP(w, r)
}

// Close stops webhook deliveries and wakes handlers that are sleeping on a
// fault or the slow card. It does not wait for in-flight HTTP requests; the
// http.Server serving the sandbox owns those.
func (s *Sandbox) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.hooks.close()
}

// SetWebhookURL changes where webhooks go; empty disables them.
func (s *Sandbox) SetWebhookURL(url string) { s.hooks.setURL(url) }

// SetSlowCardDelay changes how long the slow test card holds its confirm
// response; d <= 0 restores Config.SlowCardDelay.
func (s *Sandbox) SetSlowCardDelay(d time.Duration) {
	if d <= 0 {
		d = s.cfg.SlowCardDelay
	}
	s.slowDelay.Store(int64(d))
}

func (s *Sandbox) slowCardDelay() time.Duration { return time.Duration(s.slowDelay.Load()) }

// WebhookAttempts returns every webhook delivery attempt so far, oldest first.
func (s *Sandbox) WebhookAttempts() []WebhookAttempt { return s.hooks.snapshot() }

// ResendWebhook sends a PAYMENT_STATUS_CHANGED event with the payment's
// current state, as the Developer Center's "resend" button does.
func (s *Sandbox) ResendWebhook(paymentKey string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[paymentKey]
	if p == nil {
		return newError("NOT_FOUND_PAYMENT", "")
	}
	s.refresh(p)
	s.changed(p)
	return nil
}

// Faults returns the fault-injection controller.
func (s *Sandbox) Faults() *Faults { return s.faults }

// Now returns the sandbox clock: Config.Now plus the admin offset.
func (s *Sandbox) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

// AdvanceClock moves the sandbox clock forward by d, so tests can lapse the
// confirm and authentication windows without waiting.
func (s *Sandbox) AdvanceClock(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clockOffset += d
}

// now is Now for callers that already hold s.mu.
func (s *Sandbox) now() time.Time { return s.cfg.Now().Add(s.clockOffset) }

// sleep waits d, returning early with false if ctx is done. Close ends the
// wait early too, but reports true: shutting down must not turn a commit the
// PG already decided on into a lost one.
func (s *Sandbox) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		return true
	case <-ctx.Done():
		return false
	}
}

// RecordEntry is one confirm or cancel the sandbox executed, that is, one
// that moved money. Replayed idempotent responses, declines and rejected
// requests are not recorded.
type RecordEntry struct {
	Op             string    `json:"op"` // "confirm" or "cancel"
	PaymentKey     string    `json:"paymentKey"`
	OrderID        string    `json:"orderId"`
	Amount         int64     `json:"amount"`
	At             time.Time `json:"at"`
	IdempotencyKey string    `json:"idempotencyKey"`
	TransactionKey string    `json:"transactionKey"`
}

// Record returns a copy of every executed confirm and cancel, oldest first.
func (s *Sandbox) Record() []RecordEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RecordEntry(nil), s.record...)
}

// ConfirmCount reports how many times orderID was charged: tests use it to
// assert "charged exactly once".
func (s *Sandbox) ConfirmCount(orderID string) int {
	return s.count(OpConfirm, orderID)
}

// CancelCount reports how many cancels were executed for orderID.
func (s *Sandbox) CancelCount(orderID string) int {
	return s.count(OpCancel, orderID)
}

func (s *Sandbox) count(op, orderID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.record {
		if e.Op == op && e.OrderID == orderID {
			n++
		}
	}
	return n
}

// Reset forgets every payment, idempotency key, record entry and fault, and
// zeroes the clock offset, so a long-running standalone sandbox can be reused
// between test suites.
func (s *Sandbox) Reset() {
	s.faults.Clear()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clockOffset = 0
	s.payments = map[string]*payment{}
	s.orders = map[string][]*payment{}
	s.idem = map[string]*idemEntry{}
	s.record = nil
	s.settleFaults, s.foreignLines = nil, nil
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n characters of [A-Za-z0-9] from crypto/rand.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// randomHex returns n lowercase hex digits, the shape of Toss transaction keys.
func randomHex(n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = hex[b[i]&0x0f]
	}
	return string(b)
}
