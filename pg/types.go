package pg

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
)

// APIVersion is the Toss Payments API version whose wire format this package
// speaks; it is the value Toss puts in Payment.Version.
const APIVersion = "2022-11-16"

// Status is a payment status as Toss sends it. Unknown values are kept as
// they are, so a status Toss adds later survives decoding.
type Status string

// Payment statuses (docs/toss.md §4).
const (
	StatusReady             Status = "READY"
	StatusInProgress        Status = "IN_PROGRESS"
	StatusWaitingForDeposit Status = "WAITING_FOR_DEPOSIT"
	StatusDone              Status = "DONE"
	StatusCanceled          Status = "CANCELED"
	StatusPartialCanceled   Status = "PARTIAL_CANCELED"
	StatusAborted           Status = "ABORTED"
	StatusExpired           Status = "EXPIRED"
)

// Amount is a monetary amount exactly as Toss sent it, in the currency's
// major unit (KRW has no minor unit, so for KRW it is already pago's int64).
//
// Toss sends KRW amounts as integers but USD amounts (PayPal) as decimals
// such as 181.56, so decoding into int64 would fail on a real response and
// turn a confirmed payment into an unreadable one. Amount keeps the decimal
// text instead and converts exactly, never through float64: use Int64 for
// KRW and MinorUnits for currencies with a minor unit. A JSON null or a
// missing key decodes to the zero Amount, which reads as 0.
type Amount string

// NewAmount returns the Amount for an integer number of major units.
func NewAmount(n int64) Amount { return Amount(strconv.FormatInt(n, 10)) }

// Int64 returns the amount as an integer number of major units (won, for
// KRW). It fails if the amount has a fractional part or does not fit.
func (a Amount) Int64() (int64, error) { return a.MinorUnits(0) }

// MinorUnits returns the amount scaled by 10^exponent (2 for USD cents),
// exactly. It fails if the scaled amount is not an integer or does not fit
// in an int64.
func (a Amount) MinorUnits(exponent int) (int64, error) {
	if exponent < 0 || exponent > 18 {
		return 0, fmt.Errorf("pg: amount exponent %d out of range", exponent)
	}
	if a == "" {
		return 0, nil
	}
	r, ok := new(big.Rat).SetString(string(a))
	if !ok {
		return 0, fmt.Errorf("pg: amount %q is not a number", string(a))
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exponent)), nil)))
	if !r.IsInt() {
		return 0, fmt.Errorf("pg: amount %s has more than %d decimal places", string(a), exponent)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("pg: amount %s overflows int64", string(a))
	}
	return r.Num().Int64(), nil
}

// String returns the amount's decimal text ("0" for the zero Amount).
func (a Amount) String() string {
	if a == "" {
		return "0"
	}
	return string(a)
}

// UnmarshalJSON accepts a JSON number, a string holding a number (tolerated
// in case a proxy or a future API version quotes it), or null.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if _, ok := new(big.Rat).SetString(s); !ok || !json.Valid([]byte(s)) {
		return fmt.Errorf("pg: amount %q is not a JSON number", s)
	}
	*a = Amount(s)
	return nil
}

// MarshalJSON writes the amount as a JSON number, so a decoded Payment
// encodes back to the same wire shape.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(a.String()), nil
}

// Payment is Toss's Payment object (docs/toss.md §3), returned by confirm,
// lookup and cancel. Nullable keys are pointers, slices or maps, so
// encoding a Payment emits explicit nulls as Toss does. Enumerations such as
// Method, Card.CardType or EasyPay.Provider are localized (Korean by
// default) and therefore kept as plain strings. Keys this struct does not
// know are ignored.
type Payment struct {
	Version             string               `json:"version"`
	PaymentKey          string               `json:"paymentKey"`
	Type                string               `json:"type"`
	OrderID             string               `json:"orderId"`
	OrderName           string               `json:"orderName"`
	MID                 string               `json:"mId"`
	Currency            string               `json:"currency"`
	Method              *string              `json:"method"`
	TotalAmount         Amount               `json:"totalAmount"`
	BalanceAmount       Amount               `json:"balanceAmount"`
	Status              Status               `json:"status"`
	RequestedAt         string               `json:"requestedAt"`
	ApprovedAt          *string              `json:"approvedAt"`
	UseEscrow           *bool                `json:"useEscrow"`
	LastTransactionKey  *string              `json:"lastTransactionKey"`
	SuppliedAmount      Amount               `json:"suppliedAmount"`
	VAT                 Amount               `json:"vat"`
	CultureExpense      bool                 `json:"cultureExpense"`
	TaxFreeAmount       Amount               `json:"taxFreeAmount"`
	TaxExemptionAmount  Amount               `json:"taxExemptionAmount"`
	IsPartialCancelable bool                 `json:"isPartialCancelable"`
	Cancels             []Cancel             `json:"cancels"`
	Card                *Card                `json:"card"`
	VirtualAccount      *VirtualAccount      `json:"virtualAccount"`
	Transfer            *Transfer            `json:"transfer"`
	MobilePhone         *MobilePhone         `json:"mobilePhone"`
	GiftCertificate     *GiftCertificate     `json:"giftCertificate"`
	ForeignEasyPay      json.RawMessage      `json:"foreignEasyPay"` // contents unconfirmed (docs/toss.md §3); kept raw
	CashReceipt         *CashReceipt         `json:"cashReceipt"`
	CashReceipts        []CashReceiptHistory `json:"cashReceipts"`
	Discount            *Discount            `json:"discount"`
	Secret              *string              `json:"secret"`
	EasyPay             *EasyPay             `json:"easyPay"`
	Country             string               `json:"country"`
	Failure             *Failure             `json:"failure"`
	Receipt             *URLObject           `json:"receipt"`
	Checkout            *URLObject           `json:"checkout"`
	Metadata            map[string]any       `json:"metadata"`
	TransactionKey      *string              `json:"transactionKey"` // legacy (API v1.x)
}

// Cancel is one entry of Payment.Cancels, and the data of a
// CANCEL_STATUS_CHANGED webhook.
type Cancel struct {
	CancelAmount           Amount  `json:"cancelAmount"`
	CancelReason           string  `json:"cancelReason"`
	TaxFreeAmount          Amount  `json:"taxFreeAmount"`
	TaxExemptionAmount     Amount  `json:"taxExemptionAmount"`
	RefundableAmount       Amount  `json:"refundableAmount"`
	EasyPayDiscountAmount  Amount  `json:"easyPayDiscountAmount"`
	TransferDiscountAmount Amount  `json:"transferDiscountAmount"` // unconfirmed (docs/toss.md §3)
	CanceledAt             string  `json:"canceledAt"`
	TransactionKey         string  `json:"transactionKey"`
	ReceiptKey             *string `json:"receiptKey"`
	CancelRequestID        *string `json:"cancelRequestId"`
	CancelStatus           string  `json:"cancelStatus"`
}

// Card is the card part of a Payment or Settlement.
type Card struct {
	Amount                Amount  `json:"amount"`
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

// VirtualAccount is the virtual-account part of a Payment.
type VirtualAccount struct {
	AccountType          string                `json:"accountType"`
	AccountNumber        string                `json:"accountNumber"`
	BankCode             string                `json:"bankCode"`
	CustomerName         string                `json:"customerName"`
	DepositorName        *string               `json:"depositorName"`
	DueDate              string                `json:"dueDate"`
	RefundStatus         string                `json:"refundStatus"`
	Expired              bool                  `json:"expired"`
	SettlementStatus     string                `json:"settlementStatus"`
	RefundReceiveAccount *RefundReceiveAccount `json:"refundReceiveAccount"`
}

// RefundReceiveAccount is the account a virtual-account refund goes to.
type RefundReceiveAccount struct {
	BankCode      string `json:"bankCode"`
	AccountNumber string `json:"accountNumber"`
	HolderName    string `json:"holderName"`
}

// Transfer is the bank-transfer part of a Payment.
type Transfer struct {
	BankCode         string `json:"bankCode"`
	SettlementStatus string `json:"settlementStatus"`
}

// MobilePhone is the mobile-phone-billing part of a Payment.
type MobilePhone struct {
	CustomerMobilePhone string `json:"customerMobilePhone"`
	SettlementStatus    string `json:"settlementStatus"`
	ReceiptURL          string `json:"receiptUrl"`
}

// GiftCertificate is the gift-certificate part of a Payment.
type GiftCertificate struct {
	ApproveNo        string `json:"approveNo"`
	SettlementStatus string `json:"settlementStatus"`
}

// CashReceipt is the cash receipt issued for a Payment.
type CashReceipt struct {
	Type          string `json:"type"`
	ReceiptKey    string `json:"receiptKey"`
	IssueNumber   string `json:"issueNumber"`
	ReceiptURL    string `json:"receiptUrl"`
	Amount        Amount `json:"amount"`
	TaxFreeAmount Amount `json:"taxFreeAmount"`
}

// CashReceiptHistory is one issue or cancel of a cash receipt.
type CashReceiptHistory struct {
	ReceiptKey      string   `json:"receiptKey"`
	OrderID         string   `json:"orderId"`
	OrderName       string   `json:"orderName"`
	Type            string   `json:"type"`
	IssueNumber     string   `json:"issueNumber"`
	ReceiptURL      string   `json:"receiptUrl"`
	BusinessNumber  string   `json:"businessNumber"`
	TransactionType string   `json:"transactionType"`
	Amount          Amount   `json:"amount"`
	TaxFreeAmount   Amount   `json:"taxFreeAmount"`
	IssueStatus     string   `json:"issueStatus"`
	Failure         *Failure `json:"failure"`
	RequestedAt     string   `json:"requestedAt"`
}

// Discount is a card issuer's instant discount.
type Discount struct {
	Amount Amount `json:"amount"`
}

// EasyPay is the easy-pay (TossPay, NaverPay, ...) part of a Payment.
// Provider is localized, e.g. "토스페이".
type EasyPay struct {
	Provider       string `json:"provider"`
	Amount         Amount `json:"amount"`
	DiscountAmount Amount `json:"discountAmount"`
}

// Failure says why a payment is ABORTED or EXPIRED.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// URLObject is Toss's {url} object, used for Payment.Receipt and
// Payment.Checkout.
type URLObject struct {
	URL string `json:"url"`
}

// Settlement is one row of GET /v1/settlements (docs/toss.md §8).
type Settlement struct {
	MID             string           `json:"mId"`
	PaymentKey      string           `json:"paymentKey"`
	TransactionKey  string           `json:"transactionKey"`
	OrderID         string           `json:"orderId"`
	Currency        string           `json:"currency"`
	Method          string           `json:"method"`
	Amount          Amount           `json:"amount"`
	InterestFee     Amount           `json:"interestFee"`
	Fees            []Fee            `json:"fees"`
	Fee             Amount           `json:"fee"` // total fee: in real responses, undocumented
	SupplyAmount    Amount           `json:"supplyAmount"`
	VAT             Amount           `json:"vat"`
	PayOutAmount    Amount           `json:"payOutAmount"`
	ApprovedAt      string           `json:"approvedAt"`
	SoldDate        string           `json:"soldDate"`
	PaidOutDate     string           `json:"paidOutDate"`
	Card            *Card            `json:"card"`
	EasyPay         *EasyPay         `json:"easyPay"`
	GiftCertificate *GiftCertificate `json:"giftCertificate"`
	MobilePhone     *MobilePhone     `json:"mobilePhone"`
	Transfer        *Transfer        `json:"transfer"`
	VirtualAccount  *VirtualAccount  `json:"virtualAccount"`
	Cancel          *Cancel          `json:"cancel"`
}

// Fee is one component of a settlement's fee; Type is BASE,
// INSTALLMENT_DISCOUNT, INSTALLMENT, POINT_SAVING or ETC.
type Fee struct {
	Type string `json:"type"`
	Fee  Amount `json:"fee"`
}

// ConfirmRequest is the body of POST /v1/payments/confirm. Amount is in
// major units (won for KRW); it must equal the amount the customer
// authenticated.
type ConfirmRequest struct {
	PaymentKey string `json:"paymentKey"`
	OrderID    string `json:"orderId"`
	Amount     int64  `json:"amount"`
}

// CancelRequest is the body of POST /v1/payments/{paymentKey}/cancel. A nil
// CancelAmount cancels the whole remaining balance (the key is omitted on
// the wire, as Toss requires for a full cancel).
type CancelRequest struct {
	CancelReason string `json:"cancelReason"`
	CancelAmount *int64 `json:"cancelAmount,omitempty"`
}

// SettlementsQuery selects settlement rows. StartDate and EndDate are
// required (yyyy-MM-dd or an ISO date-time); DateType is "soldDate" (Toss's
// default) or "paidOutDate"; zero Page and Size leave Toss's defaults (page
// 1, size 100; size at most 5000).
type SettlementsQuery struct {
	StartDate string
	EndDate   string
	DateType  string
	Page      int
	Size      int
}
