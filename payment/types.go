package payment

import "time"

// Wallet is a user's stored balance. Its ledger account's entries always sum
// to Balance.
type Wallet struct {
	ID        string
	UserID    string
	AccountID string
	Balance   Money
	Limit     Money
	Version   int64 // bumped by every balance change; fences conditional updates
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WalletTxType classifies a wallet transaction.
type WalletTxType string

// Wallet transaction types. ADJUSTMENT is support's manual correction.
const (
	WalletCharge     WalletTxType = "CHARGE"
	WalletPayment    WalletTxType = "PAYMENT"
	WalletRefund     WalletTxType = "REFUND"
	WalletHold       WalletTxType = "HOLD"
	WalletRelease    WalletTxType = "RELEASE"
	WalletAdjustment WalletTxType = "ADJUSTMENT"
)

// WalletTransaction is one balance change. Amount is signed: credits are
// positive, debits negative.
type WalletTransaction struct {
	ID                  string
	WalletID            string
	Seq                 int64 // the wallet's version after this change
	Type                WalletTxType
	Amount              Money
	BalanceAfter        Money
	OrderID             string
	LedgerTransactionID string
	Reason              string
	// HoldStatus is a HOLD's hold as it stands (OPEN, POSTED, RELEASED).
	HoldStatus HoldStatus
	CreatedAt  time.Time
}

// HoldStatus is where a split payment's wallet hold is: it resolves
// exactly once, OPEN → POSTED (the card went through) or RELEASED.
type HoldStatus string

// Hold statuses.
const (
	HoldOpen     HoldStatus = "OPEN"
	HoldPosted   HoldStatus = "POSTED"
	HoldReleased HoldStatus = "RELEASED"
)

// Hold is a split payment's wallet part, taken from the balance when the
// split starts and booked to the ledger only when posted.
type Hold struct {
	ID                string
	WalletID          string
	PaymentID         string
	OrderID           string
	Amount            Money
	Status            HoldStatus
	HoldTransactionID string // the HOLD wallet transaction
	CreatedAt         time.Time
	ResolvedAt        *time.Time
}

// AccountKind classifies ledger accounts.
type AccountKind string

// Ledger account kinds.
const (
	AccountWallet      AccountKind = "WALLET"
	AccountPGClearing  AccountKind = "PG_CLEARING"
	AccountRevenue     AccountKind = "REVENUE"
	AccountAdjustments AccountKind = "ADJUSTMENTS"
	AccountRefunds     AccountKind = "REFUNDS"
	AccountPGFees      AccountKind = "PG_FEES"
	AccountBank        AccountKind = "BANK"
)

// The system accounts, created by the migrations.
const (
	AccountIDPGClearing  = "acc_pg_clearing"
	AccountIDRevenue     = "acc_revenue"
	AccountIDAdjustments = "acc_adjustments"
	AccountIDRefunds     = "acc_refunds"
	// AccountIDPGFees collects the PG's fees; AccountIDMerchantBank what
	// the PG paid out to pago's bank account (reconciliation books both).
	AccountIDPGFees       = "acc_pg_fees"
	AccountIDMerchantBank = "acc_merchant_bank"
)

// LedgerAccount is one account of the double-entry ledger.
type LedgerAccount struct {
	ID        string
	Kind      AccountKind
	Currency  Currency
	CreatedAt time.Time
}

// LedgerTransaction is one balanced movement: its entries sum to zero.
type LedgerTransaction struct {
	ID          string
	Kind        string
	OrderID     string
	Description string
	Entries     []LedgerEntry
	CreatedAt   time.Time
}

// LedgerEntry moves Amount (signed) on one account.
type LedgerEntry struct {
	ID        string
	AccountID string
	Amount    int64
}

// Product is something for sale.
type Product struct {
	ID        string
	SKU       string
	Name      string
	Price     Money
	Stock     int64
	Supplied  int64 // every unit ever put on sale: Stock + units held by orders
	CreatedAt time.Time
	UpdatedAt time.Time
}

// OrderKind tells what an order buys.
type OrderKind string

// Order kinds.
const (
	OrderPurchase    OrderKind = "PURCHASE"
	OrderWalletTopUp OrderKind = "WALLET_TOPUP"
)

// OrderStatus is where an order is in its life.
type OrderStatus string

// Order statuses (docs/api.md).
const (
	OrderPending           OrderStatus = "PENDING"
	OrderInDoubt           OrderStatus = "IN_DOUBT"
	OrderPaid              OrderStatus = "PAID"
	OrderFailed            OrderStatus = "FAILED"
	OrderCanceled          OrderStatus = "CANCELED"
	OrderExpired           OrderStatus = "EXPIRED"
	OrderPartiallyRefunded OrderStatus = "PARTIALLY_REFUNDED"
	OrderRefunded          OrderStatus = "REFUNDED"
)

// Order is a purchase of items or a wallet top-up.
type Order struct {
	ID             string
	UserID         string
	Kind           OrderKind
	Status         OrderStatus
	Name           string
	Amount         Money
	RefundedAmount Money
	Items          []OrderItem
	ExpiresAt      time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// OrderItem is a product line of an order, priced when ordered.
type OrderItem struct {
	ProductID string
	Name      string
	Quantity  int64
	UnitPrice Money
}

// PaymentMethod is how an order is paid.
type PaymentMethod string

// Payment methods.
const (
	MethodWallet PaymentMethod = "WALLET"
	MethodCard   PaymentMethod = "CARD"
	MethodSplit  PaymentMethod = "SPLIT"
)

// PaymentStatus is where a payment is in its state machine.
type PaymentStatus string

// Payment statuses.
const (
	PaymentPending           PaymentStatus = "PENDING"
	PaymentInDoubt           PaymentStatus = "IN_DOUBT"
	PaymentDone              PaymentStatus = "DONE"
	PaymentFailed            PaymentStatus = "FAILED"
	PaymentCanceled          PaymentStatus = "CANCELED"
	PaymentPartiallyCanceled PaymentStatus = "PARTIALLY_CANCELED"
)

// Payment is one attempt to pay an order.
type Payment struct {
	ID             string
	OrderID        string
	Method         PaymentMethod
	Status         PaymentStatus
	Amount         Money
	RefundedAmount Money
	// WalletAmount is a SPLIT payment's wallet part (held, then posted);
	// the rest, CardAmount, goes through the PG.
	WalletAmount Money
	PGPaymentKey string
	// PGIdempotencyKey is the base of the Idempotency-Key every confirm of
	// this payment sends: attempt 0 sends it as is, so a retry of the same
	// confirm is the same confirm at the PG (see ConfirmKey).
	PGIdempotencyKey string
	// ConfirmAttempt is the generation of the last confirm sent to the PG.
	// The probe bumps it, under the row lock and before it sends, when the
	// PG still holds the payment unconfirmed after a retryable error.
	ConfirmAttempt int64
	// ConfirmSentAt is when attempt ConfirmAttempt was sent; until it is
	// ConfirmTimeout old that attempt may still be in flight.
	ConfirmSentAt *time.Time
	// FailureCode says why a FAILED or CANCELED payment did not go through:
	// the PG's code (REJECT_CARD_PAYMENT…) or pago's (BALANCE_LIMIT_EXCEEDED).
	FailureCode string
	// FailureMessage is FailureCode in words for the customer.
	FailureMessage string
	// RefundDecidedAt is set once pago decided to give a top-up back at the
	// PG: no settle may credit the wallet with it afterwards.
	RefundDecidedAt *time.Time
	ApprovedAt      *time.Time
	Version         int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// CardAmount is what of p the PG confirms: all of a CARD payment, the
// rest after the wallet part of a SPLIT one.
func (p Payment) CardAmount() int64 { return p.Amount.Amount - p.WalletAmount.Amount }

// PaymentEvent is one entry of a payment's append-only history. Code is
// what happened, for code to read; Message is the same in words a customer
// may see; Detail is internal (PG answers, errors) for operators and logs.
type PaymentEvent struct {
	ID         string
	PaymentID  string
	FromStatus PaymentStatus
	ToStatus   PaymentStatus
	Source     string // who moved it: wallet, redirect, mutation, probe, webhook
	Code       EventCode
	Message    string
	Detail     string
	CreatedAt  time.Time
}

// Page asks for up to First items after the opaque cursor After.
type Page struct {
	First int
	After string
}

// Violation is a broken invariant found by Verify.
type Violation struct {
	Check  string
	Detail string
}
