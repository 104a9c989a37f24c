package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The /_sandbox/ routes let a test in another process script the sandbox:
// they read every payment, inject faults, move the clock and repoint
// webhooks. adminOnly keeps them to the machine running the tests, or to
// holders of Config.AdminToken.

// adminOnly lets a request through with the admin token when one is
// configured; without one, only from a loopback address, to a loopback
// host name (not a DNS-rebound one), and not through a proxy that says it
// forwards someone else's request.
func (s *Sandbox) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := s.cfg.AdminToken; tok != "" {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+tok)) != 1 {
				adminError(w, http.StatusUnauthorized, "UNAUTHORIZED_KEY", "the sandbox admin API needs its bearer token")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if !loopbackRequest(r) {
			adminError(w, http.StatusForbidden, "FORBIDDEN_REQUEST", "the sandbox admin API answers loopback callers only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackRequest(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || !isLoopbackHost(host) {
		return false
	}
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != "" {
		return false
	}
	name := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		name = h
	}
	return isLoopbackHost(name)
}

// isLoopbackHost tells localhost names and loopback addresses.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeResponse(w, jsonResponse(status, v))
}

func adminError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

// decodeAdmin reads a JSON body into v; an empty body leaves v as it is.
func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		adminError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return false
	}
	return true
}

// POST /_sandbox/faults {op, orderId, kind, times, latency, statusCode, code, message}
func (s *Sandbox) adminAddFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if !decodeAdmin(w, r, &f) {
		return
	}
	if err := s.faults.Inject(f); err != nil {
		adminError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, s.faults.Rules())
}

// GET /_sandbox/faults lists the active rules.
func (s *Sandbox) adminListFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.faults.Rules())
}

// DELETE /_sandbox/faults clears every rule.
func (s *Sandbox) adminClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.faults.Clear()
	w.WriteHeader(http.StatusNoContent)
}

// GET /_sandbox/record[?orderId=] lists executed confirms and cancels.
func (s *Sandbox) adminRecord(w http.ResponseWriter, r *http.Request) {
	out := []RecordEntry{}
	for _, e := range s.Record() {
		if o := r.URL.Query().Get("orderId"); o == "" || o == e.OrderID {
			out = append(out, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /_sandbox/clock reports the sandbox time; POST {advance: "11m"} moves it.
func (s *Sandbox) adminClock(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var in struct {
			Advance string `json:"advance"`
		}
		if !decodeAdmin(w, r, &in) {
			return
		}
		d, err := time.ParseDuration(in.Advance)
		if err != nil || d < 0 {
			adminError(w, http.StatusBadRequest, "INVALID_REQUEST", `advance must be a non-negative Go duration such as "11m"`)
			return
		}
		s.AdvanceClock(d)
	}
	s.mu.Lock()
	now, offset := s.now(), s.clockOffset
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"now": isoTime(now), "offset": offset.String()})
}

// POST /_sandbox/authenticate {orderId, orderName, amount, card, customerKey}
// creates a payment and authenticates it with a test card in one step, for
// tests that do not drive a browser. card defaults to "success".
func (s *Sandbox) adminAuthenticate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OrderID     string `json:"orderId"`
		OrderName   string `json:"orderName"`
		Amount      int64  `json:"amount"`
		Card        string `json:"card"`
		CustomerKey string `json:"customerKey"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	if in.Card == "" {
		in.Card = CardSuccess
	}
	if in.OrderName == "" {
		in.OrderName = "sandbox order " + in.OrderID
	}
	key, err := s.CreatePayment(PaymentRequest{OrderID: in.OrderID, OrderName: in.OrderName, Amount: in.Amount, CustomerKey: in.CustomerKey, flow: "widget"})
	if err == nil {
		err = s.Authenticate(key, in.Card)
	}
	var e *Error
	if errors.As(err, &e) {
		writeJSON(w, e.Status, apiError{Code: e.Code, Message: e.Message})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"paymentKey": key, "orderId": in.OrderID, "amount": in.Amount})
}

// GET /_sandbox/webhooks lists delivery attempts.
func (s *Sandbox) adminWebhooks(w http.ResponseWriter, _ *http.Request) {
	out := s.WebhookAttempts()
	if out == nil {
		out = []WebhookAttempt{}
	}
	writeJSON(w, http.StatusOK, out)
}

// POST /_sandbox/webhooks/resend {paymentKey}
func (s *Sandbox) adminResendWebhook(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PaymentKey string `json:"paymentKey"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	if err := s.ResendWebhook(in.PaymentKey); err != nil {
		adminError(w, http.StatusNotFound, "NOT_FOUND_PAYMENT", err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// POST /_sandbox/webhooks/send {kind, orderId} sends a webhook of another
// kind than PAYMENT_STATUS_CHANGED (see WebhookKinds).
func (s *Sandbox) adminSendWebhook(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Kind    string `json:"kind"`
		OrderID string `json:"orderId"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	if err := s.SendWebhook(in.Kind, in.OrderID); err != nil {
		adminError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// POST /_sandbox/config {webhookUrl, slowCardDelay} changes settings of a
// running sandbox; absent fields stay as they are.
func (s *Sandbox) adminConfig(w http.ResponseWriter, r *http.Request) {
	var in struct {
		WebhookURL    *string `json:"webhookUrl"`
		SlowCardDelay *string `json:"slowCardDelay"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	if in.SlowCardDelay != nil {
		d, err := time.ParseDuration(*in.SlowCardDelay)
		if err != nil {
			adminError(w, http.StatusBadRequest, "INVALID_REQUEST", "slowCardDelay: "+err.Error())
			return
		}
		s.SetSlowCardDelay(d)
	}
	if in.WebhookURL != nil {
		s.SetWebhookURL(*in.WebhookURL)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhookUrl": s.hooks.target(), "slowCardDelay": s.slowCardDelay().String()})
}

// POST /_sandbox/reset forgets all state (see Reset).
func (s *Sandbox) adminReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}
