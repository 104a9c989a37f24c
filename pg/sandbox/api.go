package sandbox

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// response is an API answer, built before it is written so that it can be
// stored under an Idempotency-Key and replayed byte for byte.
type response struct {
	status int
	body   []byte
	// hold delays writing after the operation committed (the slow card).
	hold time.Duration
}

func jsonResponse(status int, v any) response {
	body, err := json.Marshal(v)
	if err != nil {
		return errResponse(newError("FAILED_INTERNAL_SYSTEM_PROCESSING", err.Error()))
	}
	return response{status: status, body: body}
}

func errResponse(e *Error) response {
	return jsonResponse(e.Status, apiError{Code: e.Code, Message: e.Message})
}

func writeResponse(w http.ResponseWriter, resp response) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// call is one authenticated REST request on its way to an operation.
type call struct {
	r       *http.Request
	body    []byte
	idemKey string
	en      bool   // Accept-Language asks for English enums
	decline *Fault // a Decline fault to apply instead of the card's behaviour
}

// serveAPI runs the pipeline every REST route shares, in this order:
//
//  1. Basic auth.
//  2. TossPayments-Test-Code: answered before any other validation, as Toss
//     does, and never stored under an Idempotency-Key.
//  3. ConnReset: the request never reached the PG, so it comes before the
//     idempotency check and a retry with the same key executes.
//  4. Idempotency-Key (POST only): replay or 409 while in flight.
//  5. Fault latency, then the operation — or the error answer of an
//     HTTPError or Decline fault instead of it — then storing the answer
//     under the key. Toss stores error answers too and replays them to
//     every request with the same key, so a faulted confirm never succeeds
//     under its key: only a new key executes again.
//  6. Writing the answer, or dropping the connection (CommitThenDrop).
//
// orderIDOf tells which order the request concerns, for fault filters.
func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request, op string,
	orderIDOf func(r *http.Request, body []byte) string, run func(c *call) response) {
	if e := s.checkAuth(r); e != nil {
		writeResponse(w, errResponse(e))
		return
	}
	if code := strings.TrimSpace(r.Header.Get("TossPayments-Test-Code")); code != "" {
		writeResponse(w, errResponse(newError(code, "")))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeResponse(w, errResponse(newError("INVALID_REQUEST", "요청 본문을 읽을 수 없습니다.")))
		return
	}
	c := &call{r: r, body: body, en: strings.HasPrefix(r.Header.Get("Accept-Language"), "en")}
	orderID := ""
	if orderIDOf != nil {
		orderID = orderIDOf(r, body)
	}
	fault, faulted := s.faults.take(op, orderID, false)
	if faulted {
		s.log.Info("fault injected", "op", op, "orderId", orderID, "kind", fault.Kind)
	}
	if faulted && fault.Kind == ConnReset {
		if !s.sleep(r.Context(), fault.Latency) {
			return
		}
		dropConnection(w)
		return
	}
	if faulted && fault.Kind == HTTPError && isAuthCode(fault.Code) {
		// A refused key is refused before the idempotency store, as real
		// authentication is (the key is part of the scope): never stored.
		if !s.sleep(r.Context(), fault.Latency) {
			return
		}
		writeResponse(w, errResponse(fault.err()))
		return
	}

	mutating := r.Method == http.MethodPost
	scope := ""
	if key := r.Header.Get("Idempotency-Key"); mutating && key != "" {
		if len(key) > maxIdempotencyKey {
			writeResponse(w, errResponse(newError("INVALID_IDEMPOTENCY_KEY", "")))
			return
		}
		c.idemKey = key
		scope = idemScope(r, key, s.cfg.SecretKey)
		replay, busy := s.idemAcquire(scope)
		switch {
		case busy:
			writeResponse(w, errResponse(newError("IDEMPOTENT_REQUEST_PROCESSING", "")))
			return
		case replay != nil:
			if faulted && fault.Kind == CommitThenDrop {
				dropConnection(w)
				return
			}
			writeResponse(w, response{status: replay.status, body: replay.body})
			return
		}
		// Release the claim if the operation never stores an answer (a panic).
		defer s.idemRelease(scope)
	}

	// A client that gives up during the latency does not undo a mutation:
	// the PG carries on for the whole latency, then commits, and only the
	// answer is lost. Meanwhile a retry with the same key is told the first
	// is still in flight (409), as Toss does.
	sleepCtx := r.Context()
	if mutating {
		sleepCtx = context.WithoutCancel(sleepCtx)
	}
	if faulted && !s.sleep(sleepCtx, fault.Latency) && !mutating {
		return
	}
	var resp response
	switch {
	case faulted && fault.Kind == HTTPError:
		resp = errResponse(fault.err())
	case faulted && fault.Kind == Decline && op != OpConfirm:
		resp = errResponse(fault.err())
	case faulted && fault.Kind == Decline:
		c.decline = &fault
		fallthrough
	default:
		resp = run(c)
	}
	if scope != "" {
		s.idemStore(scope, resp)
	}
	if faulted && fault.Kind == CommitThenDrop {
		dropConnection(w)
		return
	}
	if !s.sleep(r.Context(), resp.hold) {
		return
	}
	writeResponse(w, resp)
}

// isAuthCode reports whether code is an authentication refusal.
func isAuthCode(code string) bool {
	return code == "UNAUTHORIZED_KEY" || code == "INCORRECT_BASIC_AUTH_FORMAT"
}

// checkAuth validates "Authorization: Basic base64(secretKey:)", padded or not.
func (s *Sandbox) checkAuth(r *http.Request) *Error {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return newError("UNAUTHORIZED_KEY", "")
	}
	// Decoding the unpadded form accepts both, since padding is only "=".
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(cred), "="))
	if err != nil {
		return newError("INCORRECT_BASIC_AUTH_FORMAT", "")
	}
	user, _, ok := strings.Cut(string(raw), ":")
	if !ok {
		return newError("INCORRECT_BASIC_AUTH_FORMAT", "")
	}
	if subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.SecretKey)) != 1 {
		return newError("UNAUTHORIZED_KEY", "")
	}
	return nil
}

// decodeStrict decodes a JSON object, rejecting trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// parseAmount reads a KRW amount: a positive integer JSON number.
func parseAmount(n json.Number) (int64, bool) {
	v, err := strconv.ParseInt(n.String(), 10, 64)
	return v, err == nil && v > 0
}

// paymentOrder returns the orderId of the payment named in the path, for
// fault filters.
func (s *Sandbox) paymentOrder(r *http.Request, _ []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.payments[r.PathValue("paymentKey")]; p != nil {
		return p.orderID
	}
	return ""
}

type confirmRequest struct {
	PaymentKey string      `json:"paymentKey"`
	OrderID    string      `json:"orderId"`
	Amount     json.Number `json:"amount"`
}

func (s *Sandbox) handleConfirm(w http.ResponseWriter, r *http.Request) {
	orderOf := func(_ *http.Request, body []byte) string {
		var req confirmRequest
		_ = json.Unmarshal(body, &req)
		return req.OrderID
	}
	s.serveAPI(w, r, OpConfirm, orderOf, s.confirm)
}

// confirm approves an authenticated payment. An amount that differs from the
// one authenticated is 400 INVALID_REQUEST (Toss's code is undocumented) and
// leaves the payment IN_PROGRESS, so the merchant can still confirm the right
// amount.
func (s *Sandbox) confirm(c *call) response {
	var req confirmRequest
	if err := decodeStrict(c.body, &req); err != nil || req.PaymentKey == "" || req.OrderID == "" || req.Amount == "" {
		return errResponse(newError("INVALID_REQUEST", "paymentKey, orderId, amount는 필수 값입니다."))
	}
	amount, ok := parseAmount(req.Amount)
	if !ok {
		return errResponse(newError("INVALID_REQUEST", "amount는 양의 정수여야 합니다."))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[req.PaymentKey]
	if p == nil {
		return errResponse(newError("NOT_FOUND_PAYMENT", ""))
	}
	s.refresh(p)
	switch p.status {
	case StatusReady, StatusExpired:
		return errResponse(newError("NOT_FOUND_PAYMENT_SESSION", ""))
	case StatusInProgress:
	default:
		return errResponse(newError("ALREADY_PROCESSED_PAYMENT", ""))
	}
	if p.orderID != req.OrderID {
		return errResponse(newError("NOT_FOUND_PAYMENT_SESSION", ""))
	}
	if amount != p.amount {
		return errResponse(newError("INVALID_REQUEST", "결제 금액이 일치하지 않습니다."))
	}
	if amount < 100 {
		return errResponse(newError("BELOW_MINIMUM_AMOUNT", ""))
	}
	if d := s.latest(p.orderID); d != p && d.settled() {
		return errResponse(newError("DUPLICATED_ORDER_ID", ""))
	}

	var decline *Error
	switch {
	case c.decline != nil:
		decline = c.decline.err()
	case p.card.declineCode != "":
		decline = &Error{Status: p.card.declineStatus, Code: p.card.declineCode, Message: p.card.declineMessage}
	}
	if decline != nil {
		p.status = StatusAborted
		p.failure = &apiError{Code: decline.Code, Message: decline.Message}
		s.changed(p)
		s.log.Info("payment declined", "paymentKey", p.key, "orderId", p.orderID, "code", decline.Code)
		return errResponse(decline)
	}

	now := s.now()
	p.status = StatusDone
	p.approvedAt = now
	p.balance = p.amount
	p.approveTxKey = randomHex(32)
	p.lastTxKey = p.approveTxKey
	s.record = append(s.record, RecordEntry{
		Op: OpConfirm, PaymentKey: p.key, OrderID: p.orderID, Amount: p.amount,
		At: now, IdempotencyKey: c.idemKey, TransactionKey: p.approveTxKey,
	})
	s.changed(p)
	s.log.Info("payment confirmed", "paymentKey", p.key, "orderId", p.orderID, "amount", p.amount, "idempotencyKey", c.idemKey)
	resp := jsonResponse(http.StatusOK, s.render(p, c.en))
	if p.card.slow {
		resp.hold = s.slowCardDelay()
	}
	return resp
}

func (s *Sandbox) handleGetByKey(w http.ResponseWriter, r *http.Request) {
	s.serveAPI(w, r, OpGet, s.paymentOrder, func(c *call) response {
		s.mu.Lock()
		defer s.mu.Unlock()
		p := s.payments[r.PathValue("paymentKey")]
		if p == nil {
			return errResponse(newError("NOT_FOUND_PAYMENT", ""))
		}
		s.refresh(p)
		return jsonResponse(http.StatusOK, s.render(p, c.en))
	})
}

func (s *Sandbox) handleGetByOrder(w http.ResponseWriter, r *http.Request) {
	orderOf := func(r *http.Request, _ []byte) string { return r.PathValue("orderId") }
	s.serveAPI(w, r, OpGet, orderOf, func(c *call) response {
		s.mu.Lock()
		defer s.mu.Unlock()
		p := s.latest(r.PathValue("orderId"))
		if p == nil {
			return errResponse(newError("NOT_FOUND_PAYMENT", ""))
		}
		s.refresh(p)
		return jsonResponse(http.StatusOK, s.render(p, c.en))
	})
}

type cancelRequest struct {
	CancelReason     string       `json:"cancelReason"`
	CancelAmount     *json.Number `json:"cancelAmount"`
	RefundableAmount *json.Number `json:"refundableAmount"`
}

func (s *Sandbox) handleCancel(w http.ResponseWriter, r *http.Request) {
	s.serveAPI(w, r, OpCancel, s.paymentOrder, s.cancel)
}

// cancel refunds all or part of the balance.
func (s *Sandbox) cancel(c *call) response {
	var req cancelRequest
	if err := decodeStrict(c.body, &req); err != nil || strings.TrimSpace(req.CancelReason) == "" {
		return errResponse(newError("INVALID_REQUEST", "cancelReason는 필수 값입니다."))
	}
	if len([]rune(req.CancelReason)) > 200 {
		return errResponse(newError("INVALID_REQUEST", "cancelReason는 200자 이하여야 합니다."))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[c.r.PathValue("paymentKey")]
	if p == nil {
		return errResponse(newError("NOT_FOUND_PAYMENT", ""))
	}
	s.refresh(p)
	switch p.status {
	case StatusCanceled:
		return errResponse(newError("ALREADY_CANCELED_PAYMENT", ""))
	case StatusDone, StatusPartialCanceled:
	default:
		return errResponse(newError("NOT_CANCELABLE_PAYMENT", "취소할 수 없는 결제 상태입니다: "+p.status))
	}
	amount := p.balance
	if req.CancelAmount != nil {
		v, ok := parseAmount(*req.CancelAmount)
		if !ok {
			return errResponse(newError("INVALID_REQUEST", "cancelAmount는 양의 정수여야 합니다."))
		}
		amount = v
	}
	if req.RefundableAmount != nil {
		if v, ok := parseAmount(*req.RefundableAmount); !ok || v != p.balance {
			return errResponse(newError("NOT_MATCHES_REFUNDABLE_AMOUNT", ""))
		}
	}
	if amount > p.balance {
		return errResponse(newError("NOT_CANCELABLE_AMOUNT", ""))
	}

	now := s.now()
	tx := randomHex(32)
	p.balance -= amount
	p.cancels = append(p.cancels, cancelEntry{amount: amount, refundable: p.balance, reason: req.CancelReason, at: now, txKey: tx})
	p.lastTxKey = tx
	p.status = StatusPartialCanceled
	if p.balance == 0 {
		p.status = StatusCanceled
	}
	s.record = append(s.record, RecordEntry{
		Op: OpCancel, PaymentKey: p.key, OrderID: p.orderID, Amount: amount,
		At: now, IdempotencyKey: c.idemKey, TransactionKey: tx,
	})
	s.changed(p)
	s.log.Info("payment canceled", "paymentKey", p.key, "orderId", p.orderID, "amount", amount, "balance", p.balance)
	return jsonResponse(http.StatusOK, s.render(p, c.en))
}
