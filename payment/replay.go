package payment

import (
	"encoding/json"
	"fmt"
	"time"
)

// Stored idempotent answers have an explicit, versioned JSON shape, apart
// from the domain structs: renaming a Go field must not break the replay of
// an answer stored up to 15 days earlier. The wire types below are that
// shape; their names were the domain structs' Go field names when answers
// were first stored (version 0, without "v"), so both versions decode alike.
// A change of shape bumps replayVersion and decodes the older ones too.
const replayVersion = 1

// replayEnvelope is what a DONE idempotency record holds.
type replayEnvelope struct {
	V      int             `json:"v"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

type wireOrderItem struct {
	ProductID string `json:"ProductID"`
	Name      string `json:"Name"`
	Quantity  int64  `json:"Quantity"`
	UnitPrice Money  `json:"UnitPrice"`
}

type wireOrder struct {
	ID             string          `json:"ID"`
	UserID         string          `json:"UserID"`
	Kind           OrderKind       `json:"Kind"`
	Status         OrderStatus     `json:"Status"`
	Name           string          `json:"Name"`
	Amount         Money           `json:"Amount"`
	RefundedAmount Money           `json:"RefundedAmount"`
	Items          []wireOrderItem `json:"Items"`
	ExpiresAt      time.Time       `json:"ExpiresAt"`
	CreatedAt      time.Time       `json:"CreatedAt"`
	UpdatedAt      time.Time       `json:"UpdatedAt"`
}

type wirePayment struct {
	ID               string        `json:"ID"`
	OrderID          string        `json:"OrderID"`
	Method           PaymentMethod `json:"Method"`
	Status           PaymentStatus `json:"Status"`
	Amount           Money         `json:"Amount"`
	RefundedAmount   Money         `json:"RefundedAmount"`
	WalletAmount     Money         `json:"WalletAmount"` // absent before split payments: zero
	PGPaymentKey     string        `json:"PGPaymentKey"`
	PGIdempotencyKey string        `json:"PGIdempotencyKey"`
	ConfirmAttempt   int64         `json:"ConfirmAttempt,omitempty"`
	ConfirmSentAt    *time.Time    `json:"ConfirmSentAt,omitempty"`
	FailureCode      string        `json:"FailureCode,omitempty"`
	FailureMessage   string        `json:"FailureMessage,omitempty"`
	RefundDecidedAt  *time.Time    `json:"RefundDecidedAt,omitempty"`
	ApprovedAt       *time.Time    `json:"ApprovedAt"`
	Version          int64         `json:"Version"`
	CreatedAt        time.Time     `json:"CreatedAt"`
	UpdatedAt        time.Time     `json:"UpdatedAt"`
}

type wireWallet struct {
	ID        string    `json:"ID"`
	UserID    string    `json:"UserID"`
	AccountID string    `json:"AccountID"`
	Balance   Money     `json:"Balance"`
	Limit     Money     `json:"Limit"`
	Version   int64     `json:"Version"`
	CreatedAt time.Time `json:"CreatedAt"`
	UpdatedAt time.Time `json:"UpdatedAt"`
}

type wireProduct struct {
	ID        string    `json:"ID"`
	SKU       string    `json:"SKU"`
	Name      string    `json:"Name"`
	Price     Money     `json:"Price"`
	Stock     int64     `json:"Stock"`
	Supplied  int64     `json:"Supplied"`
	CreatedAt time.Time `json:"CreatedAt"`
	UpdatedAt time.Time `json:"UpdatedAt"`
}

// The operators' results (stored since version 1).

type wireRun struct {
	ID              string     `json:"id"`
	Date            string     `json:"date"`
	Status          RunStatus  `json:"status"`
	StartedAt       time.Time  `json:"startedAt"`
	FinishedAt      *time.Time `json:"finishedAt,omitempty"`
	Checked         int64      `json:"checked"`
	Matched         int64      `json:"matched"`
	MismatchCount   int64      `json:"mismatchCount"`
	AutoFixed       int64      `json:"autoFixed"`
	ClearingBalance int64      `json:"clearingBalance"`
	PGOwes          int64      `json:"pgOwes"`
	Error           string     `json:"error,omitempty"`
}

type wireMismatch struct {
	ID             string         `json:"id"`
	RunID          string         `json:"runId"`
	Date           string         `json:"date"`
	Kind           MismatchKind   `json:"kind"`
	Class          MismatchClass  `json:"class"`
	Status         MismatchStatus `json:"status"`
	Rule           string         `json:"rule"`
	OrderID        string         `json:"orderId,omitempty"`
	PaymentKey     string         `json:"paymentKey,omitempty"`
	TransactionKey string         `json:"transactionKey,omitempty"`
	PagoAmount     *int64         `json:"pagoAmount,omitempty"`
	PGAmount       *int64         `json:"pgAmount,omitempty"`
	Detail         string         `json:"detail"`
	Resolution     string         `json:"resolution,omitempty"`
	ResolvedBy     string         `json:"resolvedBy,omitempty"`
	ResolvedAt     *time.Time     `json:"resolvedAt,omitempty"`
	LastSeenRun    string         `json:"lastSeenRun,omitempty"`
	CreatedAt      time.Time      `json:"createdAt"`
	UpdatedAt      time.Time      `json:"updatedAt"`
}

type wireFailedJob struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError"`
	FailedAt  time.Time `json:"failedAt"`
}

type wireRefund struct {
	ID                  string        `json:"ID"`
	PaymentID           string        `json:"PaymentID"`
	OrderID             string        `json:"OrderID"`
	Method              PaymentMethod `json:"Method"`
	Amount              Money         `json:"Amount"`
	Status              RefundStatus  `json:"Status"`
	Reason              string        `json:"Reason"`
	RequestedBy         string        `json:"RequestedBy"`
	Attempt             int64         `json:"Attempt,omitempty"`
	SentAt              *time.Time    `json:"SentAt,omitempty"`
	PGTransactionKey    string        `json:"PGTransactionKey,omitempty"`
	LedgerTransactionID string        `json:"LedgerTransactionID,omitempty"`
	FailureCode         string        `json:"FailureCode,omitempty"`
	Version             int64         `json:"Version"`
	CreatedAt           time.Time     `json:"CreatedAt"`
	UpdatedAt           time.Time     `json:"UpdatedAt"`
	CompletedAt         *time.Time    `json:"CompletedAt,omitempty"`
}

type wireCancel struct {
	Order   wireOrder   `json:"Order"`
	Payment wirePayment `json:"Payment"`
	Refund  wireRefund  `json:"Refund"`
}

func toWireRefund(r Refund) wireRefund { return wireRefund(r) }
func (w wireRefund) domain() Refund    { return Refund(w) }

type wireSplit struct {
	Order      wireOrder   `json:"Order"`
	Payment    wirePayment `json:"Payment"`
	CardAmount Money       `json:"CardAmount"`
}

type wireConfirm struct {
	Order   wireOrder   `json:"Order"`
	Payment wirePayment `json:"Payment"`
}

type wirePay struct {
	Order   wireOrder   `json:"Order"`
	Payment wirePayment `json:"Payment"`
	Wallet  wireWallet  `json:"Wallet"`
}

func toWireOrder(o Order) wireOrder {
	w := wireOrder{ID: o.ID, UserID: o.UserID, Kind: o.Kind, Status: o.Status, Name: o.Name, Amount: o.Amount,
		RefundedAmount: o.RefundedAmount, ExpiresAt: o.ExpiresAt, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
	for _, it := range o.Items {
		w.Items = append(w.Items, wireOrderItem(it))
	}
	return w
}

func (w wireOrder) domain() Order {
	o := Order{ID: w.ID, UserID: w.UserID, Kind: w.Kind, Status: w.Status, Name: w.Name, Amount: w.Amount,
		RefundedAmount: w.RefundedAmount, ExpiresAt: w.ExpiresAt, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	for _, it := range w.Items {
		o.Items = append(o.Items, OrderItem(it))
	}
	return o
}

func toWirePayment(p Payment) wirePayment {
	return wirePayment{WalletAmount: p.WalletAmount, ID: p.ID, OrderID: p.OrderID, Method: p.Method, Status: p.Status, Amount: p.Amount,
		RefundedAmount: p.RefundedAmount, PGPaymentKey: p.PGPaymentKey, PGIdempotencyKey: p.PGIdempotencyKey,
		ConfirmAttempt: p.ConfirmAttempt, ConfirmSentAt: p.ConfirmSentAt, FailureCode: p.FailureCode,
		FailureMessage: p.FailureMessage, RefundDecidedAt: p.RefundDecidedAt, ApprovedAt: p.ApprovedAt,
		Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (w wirePayment) domain() Payment {
	return Payment{WalletAmount: w.WalletAmount, ID: w.ID, OrderID: w.OrderID, Method: w.Method, Status: w.Status, Amount: w.Amount,
		RefundedAmount: w.RefundedAmount, PGPaymentKey: w.PGPaymentKey, PGIdempotencyKey: w.PGIdempotencyKey,
		ConfirmAttempt: w.ConfirmAttempt, ConfirmSentAt: w.ConfirmSentAt, FailureCode: w.FailureCode,
		FailureMessage: w.FailureMessage, RefundDecidedAt: w.RefundDecidedAt, ApprovedAt: w.ApprovedAt,
		Version: w.Version, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func toWireWallet(w Wallet) wireWallet    { return wireWallet(w) }
func (w wireWallet) domain() Wallet       { return Wallet(w) }
func toWireProduct(p Product) wireProduct { return wireProduct(p) }
func (w wireProduct) domain() Product     { return Product(w) }

// encodeResult gives a mutation's result its stored shape.
func encodeResult(result any) (json.RawMessage, error) {
	var w any
	switch r := result.(type) {
	case ConfirmResult:
		w = wireConfirm{Order: toWireOrder(r.Order), Payment: toWirePayment(r.Payment)}
	case PayWithWalletResult:
		w = wirePay{Order: toWireOrder(r.Order), Payment: toWirePayment(r.Payment), Wallet: toWireWallet(r.Wallet)}
	case CancelPaymentResult:
		w = wireCancel{Order: toWireOrder(r.Order), Payment: toWirePayment(r.Payment), Refund: toWireRefund(r.Refund)}
	case StartSplitPaymentResult:
		w = wireSplit{Order: toWireOrder(r.Order), Payment: toWirePayment(r.Payment), CardAmount: r.CardAmount}
	case Order:
		w = toWireOrder(r)
	case Wallet:
		w = toWireWallet(r)
	case Product:
		w = toWireProduct(r)
	case ReconciliationRun:
		w = wireRun(r)
	case Mismatch:
		w = wireMismatch(r)
	case FailedJob:
		w = wireFailedJob(r)
	default:
		return nil, fmt.Errorf("no stored shape for a %T result: add one in replay.go", result)
	}
	return json.Marshal(w)
}

// decodeResult reads a stored result back into T.
func decodeResult[T any](raw json.RawMessage) (T, error) {
	var v T
	var err error
	switch p := any(&v).(type) {
	case *ConfirmResult:
		var w wireConfirm
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = ConfirmResult{Order: w.Order.domain(), Payment: w.Payment.domain()}
		}
	case *PayWithWalletResult:
		var w wirePay
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = PayWithWalletResult{Order: w.Order.domain(), Payment: w.Payment.domain(), Wallet: w.Wallet.domain()}
		}
	case *CancelPaymentResult:
		var w wireCancel
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = CancelPaymentResult{Order: w.Order.domain(), Payment: w.Payment.domain(), Refund: w.Refund.domain()}
		}
	case *StartSplitPaymentResult:
		var w wireSplit
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = StartSplitPaymentResult{Order: w.Order.domain(), Payment: w.Payment.domain(), CardAmount: w.CardAmount}
		}
	case *Order:
		var w wireOrder
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = w.domain()
		}
	case *Wallet:
		var w wireWallet
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = w.domain()
		}
	case *Product:
		var w wireProduct
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = w.domain()
		}
	case *ReconciliationRun:
		var w wireRun
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = ReconciliationRun(w)
		}
	case *Mismatch:
		var w wireMismatch
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = Mismatch(w)
		}
	case *FailedJob:
		var w wireFailedJob
		if err = json.Unmarshal(raw, &w); err == nil {
			*p = FailedJob(w)
		}
	default:
		return v, fmt.Errorf("no stored shape for a %T result", v)
	}
	if err != nil {
		return v, fmt.Errorf("decode stored %T: %w", v, err)
	}
	return v, nil
}
