package sandbox

import (
	"encoding/json"
	"math"
	"time"
)

// Payment statuses as Toss reports them.
const (
	StatusReady           = "READY"
	StatusInProgress      = "IN_PROGRESS"
	StatusDone            = "DONE"
	StatusCanceled        = "CANCELED"
	StatusPartialCanceled = "PARTIAL_CANCELED"
	StatusAborted         = "ABORTED"
	StatusExpired         = "EXPIRED"
)

// payment is the sandbox's state for one payment window. Guarded by Sandbox.mu.
type payment struct {
	key, orderID, orderName string
	amount                  int64
	flow                    string // "widget" or "payment": which SDK surface created it
	customerKey             string
	customerEmail           string
	customerName            string
	metadata                map[string]string
	successURL, failURL     string
	// origin is scheme://host the browser used, for absolute receipt URLs.
	origin string

	status          string
	requestedAt     time.Time
	authenticatedAt time.Time
	approvedAt      time.Time
	card            *testCard // chosen on the pay page
	balance         int64
	cancels         []cancelEntry
	failure         *apiError
	lastTxKey       string
	approveTxKey    string
}

// cancelEntry is one executed cancel.
type cancelEntry struct {
	amount, refundable int64
	reason             string
	at                 time.Time
	txKey              string
}

// settled reports whether the payment was ever approved (money moved).
func (p *payment) settled() bool { return !p.approvedAt.IsZero() }

// refresh applies the status windows lazily: nothing runs in the background,
// so every read of a payment first asks whether its window has lapsed.
// Callers hold s.mu.
func (s *Sandbox) refresh(p *payment) {
	now := s.now()
	switch {
	case p.status == StatusReady && now.After(p.requestedAt.Add(s.cfg.AuthWindow)),
		p.status == StatusInProgress && now.After(p.authenticatedAt.Add(s.cfg.ConfirmWindow)):
		p.status = StatusExpired
		p.failure = &apiError{Code: "EXPIRED_PAYMENT", Message: "결제 유효 시간이 만료되었습니다."}
		s.changed(p)
	}
}

// changed announces a status change that Toss reports by webhook.
// Callers hold s.mu; delivery happens on another goroutine.
func (s *Sandbox) changed(p *payment) {
	body, err := json.Marshal(s.render(p, false))
	if err != nil {
		s.log.Error("render payment for webhook", "err", err)
		return
	}
	s.hooks.paymentChanged(p.key, p.orderID, p.status, body, s.now())
}

// latest returns the payment that speaks for orderID: the approved one if any,
// else the most recent attempt. Callers hold s.mu.
func (s *Sandbox) latest(orderID string) *payment {
	ps := s.orders[orderID]
	for _, p := range ps {
		if p.settled() {
			return p
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps[len(ps)-1]
}

// Wire shapes. Every key of docs/toss.md §3 is present; nil pointers, slices and
// maps marshal as the explicit nulls Toss sends.

type paymentJSON struct {
	Version             string            `json:"version"`
	PaymentKey          string            `json:"paymentKey"`
	Type                string            `json:"type"`
	OrderID             string            `json:"orderId"`
	OrderName           string            `json:"orderName"`
	MID                 string            `json:"mId"`
	Currency            string            `json:"currency"`
	Method              *string           `json:"method"`
	TotalAmount         int64             `json:"totalAmount"`
	BalanceAmount       int64             `json:"balanceAmount"`
	Status              string            `json:"status"`
	RequestedAt         string            `json:"requestedAt"`
	ApprovedAt          *string           `json:"approvedAt"`
	UseEscrow           *bool             `json:"useEscrow"`
	LastTransactionKey  *string           `json:"lastTransactionKey"`
	SuppliedAmount      int64             `json:"suppliedAmount"`
	VAT                 int64             `json:"vat"`
	CultureExpense      bool              `json:"cultureExpense"`
	TaxFreeAmount       int64             `json:"taxFreeAmount"`
	TaxExemptionAmount  int64             `json:"taxExemptionAmount"`
	Cancels             []cancelJSON      `json:"cancels"`
	IsPartialCancelable bool              `json:"isPartialCancelable"`
	Card                *cardJSON         `json:"card"`
	VirtualAccount      any               `json:"virtualAccount"`
	Transfer            any               `json:"transfer"`
	MobilePhone         any               `json:"mobilePhone"`
	GiftCertificate     any               `json:"giftCertificate"`
	ForeignEasyPay      any               `json:"foreignEasyPay"`
	CashReceipt         any               `json:"cashReceipt"`
	CashReceipts        any               `json:"cashReceipts"`
	Discount            any               `json:"discount"`
	Secret              *string           `json:"secret"`
	EasyPay             any               `json:"easyPay"`
	Country             string            `json:"country"`
	Failure             *apiError         `json:"failure"`
	Receipt             *urlJSON          `json:"receipt"`
	Checkout            urlJSON           `json:"checkout"`
	Metadata            map[string]string `json:"metadata"`
	TransactionKey      *string           `json:"transactionKey"`
}

type cancelJSON struct {
	CancelAmount          int64   `json:"cancelAmount"`
	CancelReason          string  `json:"cancelReason"`
	TaxFreeAmount         int64   `json:"taxFreeAmount"`
	TaxExemptionAmount    int64   `json:"taxExemptionAmount"`
	RefundableAmount      int64   `json:"refundableAmount"`
	EasyPayDiscountAmount int64   `json:"easyPayDiscountAmount"`
	CanceledAt            string  `json:"canceledAt"`
	TransactionKey        string  `json:"transactionKey"`
	ReceiptKey            *string `json:"receiptKey"`
	CancelStatus          string  `json:"cancelStatus"`
	CancelRequestID       *string `json:"cancelRequestId"`
}

type cardJSON struct {
	Amount                int64   `json:"amount"`
	IssuerCode            string  `json:"issuerCode"`
	AcquirerCode          *string `json:"acquirerCode"`
	Number                string  `json:"number"`
	InstallmentPlanMonths int     `json:"installmentPlanMonths"`
	ApproveNo             string  `json:"approveNo"`
	UseCardPoint          bool    `json:"useCardPoint"`
	CardType              string  `json:"cardType"`
	OwnerType             string  `json:"ownerType"`
	AcquireStatus         string  `json:"acquireStatus"`
	IsInterestFree        bool    `json:"isInterestFree"`
	InterestPayer         *string `json:"interestPayer"`
}

type urlJSON struct {
	URL string `json:"url"`
}

// isoTime formats t as Toss does: second precision, KST offset.
func isoTime(t time.Time) string { return t.In(kst).Format("2006-01-02T15:04:05-07:00") }

func ptr[T any](v T) *T { return &v }

// vatOf splits a taxable KRW amount into supply value and VAT (1/11, rounded).
func vatOf(amount int64) (supplied, vat int64) {
	vat = int64(math.Round(float64(amount) / 11))
	return amount - vat, vat
}

// render builds the wire Payment. en selects the English enums Toss returns
// for Accept-Language: en-US. Callers hold s.mu.
func (s *Sandbox) render(p *payment, en bool) paymentJSON {
	supplied, vat := vatOf(p.balance)
	if !p.settled() {
		supplied, vat = vatOf(p.amount)
	}
	j := paymentJSON{
		Version:             apiVersion,
		PaymentKey:          p.key,
		Type:                "NORMAL",
		OrderID:             p.orderID,
		OrderName:           p.orderName,
		MID:                 mID,
		Currency:            "KRW",
		TotalAmount:         p.amount,
		BalanceAmount:       p.amount,
		Status:              p.status,
		RequestedAt:         isoTime(p.requestedAt),
		SuppliedAmount:      supplied,
		VAT:                 vat,
		IsPartialCancelable: true,
		Country:             "KR",
		Failure:             p.failure,
		Checkout:            urlJSON{URL: p.origin + s.cfg.BasePath + "/pay/" + p.key},
		Metadata:            p.metadata,
	}
	if p.settled() {
		j.BalanceAmount = p.balance
	}
	if p.card != nil && p.status != StatusExpired {
		j.Method = ptr(localize("카드", en))
		j.UseEscrow = ptr(false)
	}
	if p.settled() {
		j.ApprovedAt = ptr(isoTime(p.approvedAt))
		j.Receipt = &urlJSON{URL: p.origin + s.cfg.BasePath + "/receipt/" + p.key}
		acquire := "READY"
		if p.status == StatusCanceled {
			acquire = "CANCELED"
		}
		j.Card = &cardJSON{
			Amount:       p.amount,
			IssuerCode:   p.card.issuerCode,
			AcquirerCode: ptr(p.card.issuerCode),
			Number:       p.card.number,
			ApproveNo:    "00000000",
			CardType:     localize(p.card.cardType, en),
			OwnerType:    localize("개인", en),
		}
		j.Card.AcquireStatus = acquire
	}
	if p.lastTxKey != "" {
		j.LastTransactionKey = ptr(p.lastTxKey)
	}
	for _, c := range p.cancels {
		j.Cancels = append(j.Cancels, cancelJSON{
			CancelAmount:     c.amount,
			CancelReason:     c.reason,
			RefundableAmount: c.refundable,
			CanceledAt:       isoTime(c.at),
			TransactionKey:   c.txKey,
			CancelStatus:     "DONE",
		})
	}
	return j
}

// localize maps the Korean enums to the English ones Toss sends for
// Accept-Language: en-US.
func localize(ko string, en bool) string {
	if !en {
		return ko
	}
	switch ko {
	case "카드":
		return "CARD"
	case "신용":
		return "CREDIT"
	case "체크":
		return "DEBIT"
	case "개인":
		return "PERSONAL"
	}
	return ko
}
