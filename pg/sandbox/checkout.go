package sandbox

import (
	"maps"
	"strconv"
	"strings"
)

// validOrderID and validCustomerKey check the formats the SDK enforces
// (docs/toss.md §9); the server checks them again because the pay flow can be
// driven without the SDK.
func validOrderID(s string) bool { return validKey(s, "-_=", 6, 64) }

func validCustomerKey(s string) bool { return validKey(s, "-_=.@", 2, 50) }

// validKey reports whether s has min..max characters, each ASCII
// alphanumeric or one of extra.
func validKey(s, extra string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && !strings.ContainsRune(extra, r) {
			return false
		}
	}
	return true
}

// anonymous is TossPayments.ANONYMOUS, the customerKey of guest checkouts.
const anonymous = "@@ANONYMOUS"

// PaymentRequest is what the SDK's requestPayment sends when the customer
// opens the payment window.
type PaymentRequest struct {
	OrderID       string
	OrderName     string
	Amount        int64
	CustomerKey   string // optional; anonymous when empty
	CustomerEmail string
	CustomerName  string
	SuccessURL    string // optional for payments created from Go or the admin API
	FailURL       string
	Metadata      map[string]string // at most 5 keys

	flow   string // "widget" or "payment"
	origin string // scheme://host the browser used
}

// CreatePayment opens a payment window: the payment is READY until a test
// card authenticates it (Authenticate) or AuthWindow lapses. It returns the
// paymentKey. An orderId that already has an approved payment is refused with
// DUPLICATED_ORDER_ID; other earlier attempts for the same order stay as they
// are, as when a customer reopens the window.
func (s *Sandbox) CreatePayment(req PaymentRequest) (string, error) {
	switch {
	case !validOrderID(req.OrderID):
		return "", newError("INVALID_REQUEST", "orderId는 영문 대소문자, 숫자, -, _, = 로 이루어진 6자 이상 64자 이하의 문자열이어야 합니다.")
	case req.Amount <= 0:
		return "", newError("INVALID_REQUEST", "결제 금액은 0보다 커야 합니다.")
	case len([]rune(req.OrderName)) > 100:
		return "", newError("INVALID_REQUEST", "orderName은 100자 이하여야 합니다.")
	case req.CustomerKey != "" && req.CustomerKey != anonymous && !validCustomerKey(req.CustomerKey):
		return "", newError("INVALID_REQUEST", "customerKey 형식이 올바르지 않습니다.")
	case len(req.Metadata) > 5:
		return "", newError("INVALID_REQUEST", "metadata는 최대 5개의 키를 가질 수 있습니다.")
	}
	if req.flow == "" {
		req.flow = "widget"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.latest(req.OrderID); p != nil && p.settled() {
		return "", newError("DUPLICATED_ORDER_ID", "")
	}
	now := s.now()
	key := "tgen_" + now.In(kst).Format("20060102150405") + randomString(10)
	p := &payment{
		key: key, orderID: req.OrderID, orderName: req.OrderName, amount: req.Amount,
		flow: req.flow, customerKey: req.CustomerKey, customerEmail: req.CustomerEmail,
		customerName: req.CustomerName, successURL: req.SuccessURL, failURL: req.FailURL,
		origin: req.origin, status: StatusReady, requestedAt: now,
	}
	if len(req.Metadata) > 0 {
		p.metadata = maps.Clone(req.Metadata)
	}
	s.payments[key] = p
	s.orders[req.OrderID] = append(s.orders[req.OrderID], p)
	return key, nil
}

// Authenticate plays the customer choosing card on the pay page: the payment
// becomes IN_PROGRESS and remembers how the card behaves at confirm. The
// CardAuthFail card returns an *Error with the failUrl code and changes
// nothing.
func (s *Sandbox) Authenticate(paymentKey, card string) error {
	c, ok := findCard(card)
	if !ok {
		return newError("INVALID_REQUEST", "알 수 없는 테스트 카드입니다: "+card)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[paymentKey]
	if p == nil {
		return newError("NOT_FOUND_PAYMENT", "")
	}
	s.refresh(p)
	if p.status != StatusReady {
		return newError("ALREADY_PROCESSED_PAYMENT", "이미 인증되었거나 만료된 결제입니다: "+p.status)
	}
	if c.authFailCode != "" {
		return newError(c.authFailCode, c.authFailMessage)
	}
	p.status = StatusInProgress
	p.authenticatedAt = s.now()
	p.card = &c
	return nil
}

// paymentView is what the pay page and receipt show of a payment.
type paymentView struct {
	Key, OrderID, OrderName, Status string
	Amount                          int64
	SuccessURL, FailURL             string
	CustomerKey                     string
}

// view returns a copy of the payment for rendering, after applying its windows.
func (s *Sandbox) view(paymentKey string) (paymentView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[paymentKey]
	if p == nil {
		return paymentView{}, false
	}
	s.refresh(p)
	return paymentView{
		Key: p.key, OrderID: p.orderID, OrderName: p.orderName, Status: p.status,
		Amount: p.amount, SuccessURL: p.successURL, FailURL: p.failURL, CustomerKey: p.customerKey,
	}, true
}

// formatWon renders 15000 as "15,000".
func formatWon(v int64) string {
	s := strings.TrimPrefix(strconv.FormatInt(v, 10), "-")
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
