package sandbox

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Operations a fault can target; they also name RecordEntry.Op.
const (
	OpConfirm     = "confirm"
	OpCancel      = "cancel"
	OpGet         = "get" // both lookups: by paymentKey and by orderId
	OpSettlements = "settlements"
	OpAny         = "*"
)

// FaultKind says what a fault does to a matching request.
type FaultKind string

// Fault kinds. The REST kinds apply to the operation named by Fault.Op; the
// webhook kinds apply to webhook deliveries for the payment's order.
const (
	// Latency sleeps Fault.Latency, then proceeds normally. If the client
	// gives up meanwhile, a confirm or cancel still commits: the PG did the
	// work and only the answer is lost. Lookups just stop.
	Latency FaultKind = "Latency"
	// HTTPError answers StatusCode with a Toss error body for Code without
	// doing the operation. Like every Toss answer it is stored under the
	// Idempotency-Key and replayed to a retry with the same key (Toss
	// replays errors too); only a request with a new key executes. An
	// authentication refusal (UNAUTHORIZED_KEY, INCORRECT_BASIC_AUTH_FORMAT)
	// comes before the idempotency store, as real authentication does, and
	// is never stored.
	HTTPError FaultKind = "HTTPError"
	// Decline makes a confirm fail with Code (default REJECT_CARD_PAYMENT):
	// the payment becomes ABORTED. On other operations it is an error answer,
	// stored under the Idempotency-Key like HTTPError.
	Decline FaultKind = "Decline"
	// ConnReset closes the connection without answering and without doing
	// the operation.
	ConnReset FaultKind = "ConnReset"
	// CommitThenDrop performs the operation (and stores its answer under the
	// Idempotency-Key), then closes the connection without answering.
	CommitThenDrop FaultKind = "CommitThenDrop"
	// WebhookDuplicate delivers the webhook twice with the same transmission id.
	WebhookDuplicate FaultKind = "WebhookDuplicate"
	// WebhookDelay holds the first webhook delivery for Fault.Latency.
	WebhookDelay FaultKind = "WebhookDelay"
)

// isWebhook reports whether k targets webhook deliveries.
func (k FaultKind) isWebhook() bool { return k == WebhookDuplicate || k == WebhookDelay }

// parseKind accepts a kind in any case, with or without separators
// ("commit_then_drop", "COMMIT-THEN-DROP", "CommitThenDrop").
func parseKind(s string) (FaultKind, bool) {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(s))
	}
	for _, k := range []FaultKind{Latency, HTTPError, Decline, ConnReset, CommitThenDrop, WebhookDuplicate, WebhookDelay} {
		if norm(s) == norm(string(k)) {
			return k, true
		}
	}
	return "", false
}

// Fault is one fault-injection rule. The first rule matching a request wins.
type Fault struct {
	// Op is the operation to disturb: OpConfirm, OpCancel, OpGet,
	// OpSettlements or OpAny (default). Ignored by webhook kinds.
	Op string `json:"op,omitempty"`
	// OrderID, when set, restricts the rule to that order.
	OrderID string    `json:"orderId,omitempty"`
	Kind    FaultKind `json:"kind"`
	// Times is how many requests the rule applies to; 0 means until cleared.
	Times int `json:"times,omitempty"`
	// Latency is slept before the fault acts (any kind), or, for
	// WebhookDelay, before the first delivery.
	Latency time.Duration `json:"-"`
	// StatusCode and Code shape the error of HTTPError and Decline; Message
	// overrides the stock message. A missing status is Toss's for the code; a
	// missing HTTPError code follows the status (5xx or none:
	// FAILED_INTERNAL_SYSTEM_PROCESSING, 403 or 429:
	// FORBIDDEN_CONSECUTIVE_REQUEST, Toss's throttle, which Toss sends as
	// 403; else PROVIDER_ERROR); a missing Decline code is
	// REJECT_CARD_PAYMENT.
	StatusCode int    `json:"statusCode,omitempty"`
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
}

// faultJSON is Fault on the admin API: latency is a Go duration string
// ("250ms") or a number of milliseconds.
type faultJSON struct {
	alias
	Latency json.RawMessage `json:"latency,omitempty"`
}

type alias Fault

// MarshalJSON writes Latency as a duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	out := struct {
		alias
		Latency string `json:"latency,omitempty"`
	}{alias: alias(f)}
	if f.Latency > 0 {
		out.Latency = f.Latency.String()
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads Latency as "250ms" or 250 (milliseconds) and accepts
// kinds in any spelling parseKind understands.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var in faultJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*f = Fault(in.alias)
	if len(in.Latency) > 0 && string(in.Latency) != "null" {
		var ms float64
		var str string
		switch {
		case json.Unmarshal(in.Latency, &ms) == nil:
			f.Latency = time.Duration(ms * float64(time.Millisecond))
		case json.Unmarshal(in.Latency, &str) == nil:
			d, err := time.ParseDuration(str)
			if err != nil {
				return fmt.Errorf("latency: %w", err)
			}
			f.Latency = d
		default:
			return fmt.Errorf("latency: want a duration string or milliseconds")
		}
	}
	if f.Kind != "" {
		k, ok := parseKind(string(f.Kind))
		if !ok {
			return fmt.Errorf("unknown fault kind %q", f.Kind)
		}
		f.Kind = k
	}
	return nil
}

// normalize validates f and fills its defaults.
func (f Fault) normalize() (Fault, error) {
	k, ok := parseKind(string(f.Kind))
	if !ok {
		return f, fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	f.Kind = k
	if f.Op == "" {
		f.Op = OpAny
	}
	switch f.Op {
	case OpConfirm, OpCancel, OpGet, OpSettlements, OpAny:
	default:
		return f, fmt.Errorf("unknown fault op %q: want confirm, cancel, get, settlements or *", f.Op)
	}
	if f.Times < 0 || f.Latency < 0 {
		return f, fmt.Errorf("times and latency must not be negative")
	}
	switch {
	case f.Kind == Decline && f.Code == "":
		f.Code = "REJECT_CARD_PAYMENT"
	case f.Kind == HTTPError && f.Code == "":
		// Pick the code a client would see with that status from Toss.
		switch {
		case f.StatusCode == http.StatusTooManyRequests || f.StatusCode == http.StatusForbidden:
			// Toss throttles with its own code and a 403, never a 429.
			f.Code, f.StatusCode = "FORBIDDEN_CONSECUTIVE_REQUEST", http.StatusForbidden
		case f.StatusCode == 0 || f.StatusCode >= 500:
			f.Code = "FAILED_INTERNAL_SYSTEM_PROCESSING"
		default:
			f.Code = "PROVIDER_ERROR"
		}
	}
	if f.Code != "" && f.StatusCode == 0 {
		f.StatusCode, _ = errorInfo(f.Code)
	}
	return f, nil
}

// err is the Toss error the fault answers with.
func (f Fault) err() *Error {
	e := newError(f.Code, f.Message)
	e.Status = f.StatusCode
	return e
}

// Faults holds the fault-injection rules of one Sandbox. Safe for concurrent use.
type Faults struct {
	mu    sync.Mutex
	rules []*Fault
}

// Inject appends a rule; it applies to requests arriving after the call.
func (fs *Faults) Inject(f Fault) error {
	f, err := f.normalize()
	if err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = append(fs.rules, &f)
	return nil
}

// Clear removes every rule.
func (fs *Faults) Clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = nil
}

// Rules returns a copy of the rules still active, with Times counting down.
func (fs *Faults) Rules() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, 0, len(fs.rules))
	for _, f := range fs.rules {
		out = append(out, *f)
	}
	return out
}

// take consumes the first rule matching a REST request (webhook false) or a
// webhook delivery (webhook true) for orderID.
func (fs *Faults) take(op, orderID string, webhook bool) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.rules {
		if f.Kind.isWebhook() != webhook {
			continue
		}
		if !webhook && f.Op != OpAny && f.Op != op {
			continue
		}
		if f.OrderID != "" && f.OrderID != orderID {
			continue
		}
		matched := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				fs.rules = append(fs.rules[:i:i], fs.rules[i+1:]...)
			}
		}
		return matched, true
	}
	return Fault{}, false
}

// dropConnection closes the client's connection without an HTTP response.
// It hijacks through any wrapping ResponseWriter that implements Unwrap; where
// hijacking is impossible (HTTP/2) it aborts the handler, which resets the
// stream instead.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// A zero linger sends RST, the "connection reset by peer" a crashed
		// load balancer produces, rather than a graceful FIN.
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
