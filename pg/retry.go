package pg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// maxResponseBody caps what the client reads: a settlements page of 5000
// rows is a few MB, anything much larger is not Toss.
const maxResponseBody = 32 << 20

// maxErrorMessage caps the part of an unparseable error body kept in
// Error.Message.
const maxErrorMessage = 512

// Breaker verdicts for one attempt. gobreaker counts nil as a success; the
// client reports business answers as nil because they prove the PG is up.
var (
	errBreakerFailure  = errors.New("pg infrastructure failure")
	errBreakerExcluded = errors.New("pg attempt not counted")
)

// call describes one API operation.
type call struct {
	op      string
	method  string
	path    string // already escaped
	query   url.Values
	body    []byte // nil for GET
	idemKey string // required for mutating calls
	// check, if set, validates a decoded 2xx response.
	check func() error
}

func (cl call) mutating() bool { return cl.method != http.MethodGet }

// class is what one attempt's result means for the retry loop.
type class int

const (
	classOK            class = iota
	classDefinite            // the PG answered and the answer settles the call
	classRetryable           // transient; try again with the same key if budget allows
	classUnknown             // a mutation may have taken effect and retrying will not tell us more
	classNewKey              // the PG refused for now and stored that answer under the key (ErrRetryable)
	classMisconfigured       // the PG refused pago's configuration (ErrMisconfigured)
	classRejected            // the breaker refused the attempt; nothing was sent
	classCanceled            // the caller's context ended
)

// result is the outcome of one attempt.
type result struct {
	class class
	err   error
	// effect: the PG may have acted on this attempt (the request was
	// written, or the PG answered in a way that leaves its outcome open).
	effect bool
	// infra: counts against the breaker (network, timeout, 5xx, 429).
	infra bool
	// retryAfter is the server's Retry-After, 0 if none.
	retryAfter time.Duration
	status     int
	code       string
}

// do runs cl with retries and the breaker, decodes a 2xx body into out, and
// reports the call to the logger and the OnCall hook.
func (c *Client) do(ctx context.Context, cl call, out any) error {
	if cl.mutating() {
		// Never send a mutation without a key: it is the only thing that
		// makes a retry — ours or a caller's — safe.
		if cl.idemKey == "" {
			return c.invalid(cl.op, "Idempotency-Key is required for "+cl.op)
		}
		if len(cl.idemKey) > maxIdempotencyKeyLen {
			return c.invalid(cl.op, "Idempotency-Key is longer than 300 characters")
		}
	}
	start := time.Now()
	err := c.retry(ctx, cl, out)
	if err != nil {
		err = fmt.Errorf("pg %s: %w", cl.op, err)
	}
	d := time.Since(start)
	outcome := outcomeOf(err)
	attrs := []any{
		slog.String("op", cl.op), slog.String("method", cl.method), slog.String("path", cl.path),
		slog.String("outcome", outcome), slog.Duration("elapsed", d),
	}
	if cl.idemKey != "" {
		attrs = append(attrs, slog.String("idempotency_key", cl.idemKey))
	}
	switch outcome {
	case OutcomeOK:
		c.log.Debug("pg call succeeded", attrs...)
	case OutcomeUnknownOutcome:
		c.log.Error("pg call outcome unknown", append(attrs, slog.String("err", err.Error()))...)
	case OutcomeMisconfigured:
		// Every payment fails until an operator acts: say so loudly.
		var e *Error
		errors.As(err, &e)
		c.log.Error("pg refused pago's configuration; payments cannot be confirmed until it is fixed",
			append(attrs, slog.Int("status", e.HTTPStatus), slog.String("code", e.Code),
				slog.String("fix", misconfigHint(e.Code)), slog.String("err", err.Error()))...)
	case OutcomeUnavailable:
		c.log.Warn("pg call failed: unavailable", append(attrs, slog.String("err", err.Error()))...)
	case OutcomeRetryable:
		c.log.Warn("pg call failed temporarily; retry under a new idempotency key", append(attrs, slog.String("err", err.Error()))...)
	default:
		c.log.Info("pg call failed", append(attrs, slog.String("err", err.Error()))...)
	}
	if c.cfg.OnCall != nil {
		c.cfg.OnCall(cl.op, outcome, d)
	}
	return err
}

// retry is the attempt loop. It stops at the first definite answer, after
// MaxAttempts, when the next backoff would outlive ctx, or when the breaker
// refuses, and turns the last result into the error the caller can act on.
//
// A mutation is retried only with its own Idempotency-Key and only when
// that can tell us more: after a transport failure, a bare 5xx or 429 from
// in front of the PG, or IDEMPOTENT_REQUEST_PROCESSING. Any other answer
// with a Toss code is stored by Toss under the key and would only be
// replayed, so it ends the call.
func (c *Client) retry(ctx context.Context, cl call, out any) error {
	effect := false // some attempt may have taken effect at the PG
	delays := c.newBackOff()
	for attempt := 1; ; attempt++ {
		r := c.attempt(ctx, cl, out)
		if cl.mutating() && effect {
			r = afterUncertainAttempt(r)
		}
		effect = effect || r.effect
		switch r.class {
		case classOK:
			return nil
		case classDefinite:
			return r.err
		case classUnknown:
			return fmt.Errorf("%w: %w", ErrUnknownOutcome, r.err)
		case classNewKey:
			return fmt.Errorf("%w: %w", ErrRetryable, r.err)
		case classMisconfigured:
			return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrMisconfigured, r.err)
		case classRejected, classCanceled:
			return c.giveUp(cl, effect, attempt, r)
		}

		// classRetryable.
		if attempt >= c.cfg.MaxAttempts {
			return c.giveUp(cl, effect, attempt, r)
		}
		delay := delays.NextBackOff()
		if r.retryAfter > 0 {
			if r.retryAfter > c.cfg.RetryMaxDelay {
				return c.giveUp(cl, effect, attempt, r)
			}
			delay = r.retryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
			// Sleeping would only end in the caller's deadline; answer now
			// with what we know.
			return c.giveUp(cl, effect, attempt, r)
		}
		c.log.Warn("pg attempt failed, retrying",
			slog.String("op", cl.op), slog.String("path", cl.path), slog.Int("attempt", attempt),
			slog.Int("status", r.status), slog.String("code", r.code),
			slog.Duration("delay", delay), slog.String("err", r.err.Error()))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return c.giveUp(cl, effect, attempt, result{
				class: classCanceled,
				err:   fmt.Errorf("%w while waiting to retry after: %w", ctx.Err(), r.err),
			})
		case <-t.C:
		}
	}
}

// afterUncertainAttempt judges an answer to a mutation that was sent again
// after an attempt that may have taken effect. Toss answers a repeated key
// with the first attempt's stored response, so a decline or
// ALREADY_PROCESSED_PAYMENT (or ALREADY_CANCELED_PAYMENT) settles it. Any
// other answer — a throttle, a configuration refusal, a temporary error, a
// page from a proxy — may be about this attempt alone and says nothing
// about the first: the outcome stays unknown.
func afterUncertainAttempt(r result) result {
	if r.class == classDefinite && r.code != "" {
		switch ClassOf(r.status, r.code) {
		case ClassDecline, ClassAlreadyProcessed, ClassAlreadyCanceled:
			return r
		}
	}
	if r.class == classDefinite || r.class == classNewKey || r.class == classMisconfigured {
		r.class = classUnknown
	}
	return r
}

// newBackOff returns the delays between attempts: full jitter over an
// exponentially growing ceiling, so that many clients retrying after one
// PG hiccup do not arrive together. Retry n sleeps a random duration in
// [0, min(RetryMaxDelay, RetryBaseDelay·2^(n-1))]: the backoff package
// draws from [0, 2·interval] when RandomizationFactor is 1.
func (c *Client) newBackOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     c.cfg.RetryBaseDelay / 2,
		RandomizationFactor: 1,
		Multiplier:          2,
		MaxInterval:         c.cfg.RetryMaxDelay / 2,
	}
	b.Reset()
	return b
}

// giveUp turns the last non-definite result into the caller's error. For a
// mutation that may have taken effect on any attempt, only
// ErrUnknownOutcome is honest. Otherwise nothing happened at the PG:
// ErrUnavailable, unless it was the caller who stopped.
func (c *Client) giveUp(cl call, effect bool, attempts int, r result) error {
	if attempts > 1 {
		r.err = fmt.Errorf("after %d attempts: %w", attempts, r.err)
	}
	switch {
	case cl.mutating() && effect:
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, r.err)
	case r.class == classCanceled:
		return r.err
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, r.err)
	}
}

// attempt sends one HTTP request through the breaker and classifies what
// came back.
func (c *Client) attempt(ctx context.Context, cl call, out any) result {
	done, err := c.breaker.Allow()
	if err != nil {
		return result{class: classRejected, err: fmt.Errorf("circuit breaker: %w", err)}
	}
	r := c.send(ctx, cl, out)
	switch {
	case r.infra:
		done(errBreakerFailure)
	case r.class == classCanceled:
		done(errBreakerExcluded)
	default:
		done(nil)
	}
	return r
}

// send performs the HTTP exchange of one attempt.
func (c *Client) send(ctx context.Context, cl call, out any) result {
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()

	// wrote records whether any of the request reached the connection.
	// Before that the PG provably saw nothing, so even a mutation is safe
	// to call unsent; after it, the PG may have acted.
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	})

	u := c.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, body)
	if err != nil {
		return result{class: classDefinite, err: fmt.Errorf("%w: build request: %w", ErrInvalidArgument, err)}
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "pago-pg/1")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.mutating() {
		req.Header.Set("Idempotency-Key", cl.idemKey)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportFailure(ctx, actx, err, wrote.Load() && !isDialError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		// The PG answered but the connection broke mid-body.
		return c.transportFailure(ctx, actx, fmt.Errorf("read response %d: %w", resp.StatusCode, err), true)
	}
	if len(data) > maxResponseBody {
		return c.undecodable(cl, resp.StatusCode, fmt.Errorf("response larger than %d bytes", maxResponseBody))
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return c.undecodable(cl, resp.StatusCode, fmt.Errorf("decode response: %w", err))
		}
		if cl.check != nil {
			if err := cl.check(); err != nil {
				return c.undecodable(cl, resp.StatusCode, err)
			}
		}
		return result{class: classOK, status: resp.StatusCode}
	}
	return c.classifyStatus(cl, resp, c.decodeError(resp.StatusCode, data))
}

// transportFailure classifies an error with no usable response. sent says
// whether the request may have reached the PG.
func (c *Client) transportFailure(ctx, actx context.Context, err error, sent bool) result {
	if ctx.Err() != nil {
		// The caller's context ended. A deadline that expired while the PG
		// sat on a request counts against the PG; a cancellation does not.
		return result{class: classCanceled, err: err, effect: sent,
			infra: sent && errors.Is(ctx.Err(), context.DeadlineExceeded)}
	}
	if actx.Err() != nil {
		err = fmt.Errorf("attempt timed out after %s: %w", c.cfg.RequestTimeout, err)
	}
	return result{class: classRetryable, err: err, effect: sent, infra: true}
}

// undecodable handles a response the client cannot use. For a read it is a
// plain error; for a mutation the PG did answer, so it may have acted.
func (c *Client) undecodable(cl call, status int, err error) result {
	err = fmt.Errorf("status %d: %w", status, err)
	if cl.mutating() {
		return result{class: classUnknown, err: err, effect: true, status: status}
	}
	return result{class: classDefinite, err: err, status: status}
}

// classifyStatus decides what a non-2xx response means (errors.go's table,
// docs/toss.md §6).
func (c *Client) classifyStatus(cl call, resp *http.Response, e *Error) result {
	r := result{err: e, status: e.HTTPStatus, code: e.Code}
	if e.HTTPStatus < 400 {
		// 1xx/3xx: the API never sends these. For a mutation we cannot
		// tell what happened; for a read it is just an error.
		if cl.mutating() {
			r.class, r.effect = classUnknown, true
		} else {
			r.class = classDefinite
		}
		return r
	}
	switch ClassOf(e.HTTPStatus, e.Code) {
	case ClassThrottled:
		// The PG refused to process the request at all. A 429 comes from
		// in front of Toss and a read has no key, so asking again is safe;
		// Toss's own FORBIDDEN_CONSECUTIVE_REQUEST on a mutation may be
		// stored under the key, so that one needs a new key.
		r.infra = true
		r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
		if cl.mutating() && e.Code == CodeForbiddenConsecutiveRequest {
			r.class = classNewKey
		} else {
			r.class = classRetryable
		}
	case ClassInFlight:
		// A request with this key is still in flight at the PG: it may
		// yet succeed, and asking again later with the same key gets its
		// answer.
		r.class, r.effect = classRetryable, true
	case ClassRetryLater:
		r.infra = e.HTTPStatus >= 500
		r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
		switch {
		case e.Code == "":
			// A bare 5xx from a proxy or load balancer: Toss's idempotency
			// store never saw an answer, so the same key is right. The
			// request may have reached Toss behind it.
			r.class, r.effect = classRetryable, cl.mutating()
		case cl.mutating():
			// Toss stored this failure under the key; a same-key retry
			// would get it replayed. The caller looks up, then re-sends
			// under a new key.
			r.class = classNewKey
		default:
			r.class = classRetryable
		}
	case ClassMisconfigured:
		r.class, r.infra = classMisconfigured, true
	case ClassUnknown:
		switch {
		case cl.mutating():
			// Toss: the payment may or may not be done (or a code we do
			// not know). Look it up; never retry blindly.
			r.class, r.effect = classUnknown, true
			r.infra = e.HTTPStatus >= 500
		case e.HTTPStatus >= 500:
			r.class, r.infra = classRetryable, true
		default:
			r.class = classDefinite
		}
	default:
		// Declines, ALREADY_PROCESSED_PAYMENT, ALREADY_CANCELED_PAYMENT,
		// NOT_FOUND_PAYMENT: business answers; retrying cannot change them.
		r.class = classDefinite
	}
	return r
}

// decodeError builds an *Error from an error response body. The secret key
// is scrubbed from the message in case something between us and the PG
// echoes request headers back.
func (c *Client) decodeError(status int, data []byte) *Error {
	e := &Error{HTTPStatus: status}
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &body) == nil && body.Code != "" {
		e.Code, e.Message = body.Code, body.Message
	} else {
		msg := strings.TrimSpace(string(data))
		if len(msg) > maxErrorMessage {
			msg = msg[:maxErrorMessage] + "…"
		}
		e.Message = msg
	}
	e.Message = c.redact(e.Message)
	return e
}

// redact removes the secret key and the Authorization value from s.
func (c *Client) redact(s string) string {
	s = strings.ReplaceAll(s, c.auth[len("Basic "):], "[REDACTED]")
	return strings.ReplaceAll(s, c.cfg.SecretKey, "[REDACTED]")
}

// isDialError reports whether err happened while connecting (DNS, TCP
// connect, proxy connect), i.e. before any byte of the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date;
// 0 means absent or unreadable.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// outcomeOf maps a call's error to its OnCall outcome.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrUnknownOutcome):
		return OutcomeUnknownOutcome
	case errors.Is(err, ErrMisconfigured):
		return OutcomeMisconfigured
	case errors.Is(err, ErrRetryable):
		return OutcomeRetryable
	case errors.Is(err, ErrUnavailable):
		return OutcomeUnavailable
	case errors.Is(err, ErrInvalidArgument):
		return OutcomeInvalid
	case IsDecline(err):
		return OutcomeDeclined
	case errors.As(err, new(*Error)):
		return OutcomeRejected
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return OutcomeCanceled
	default:
		return OutcomeError
	}
}
