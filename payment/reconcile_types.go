package payment

import (
	"context"
	"time"
)

// MismatchClass is the queue a mismatch lands in (the design's three).
type MismatchClass string

// Mismatch classes.
const (
	// ClassAutoFixed: a known cause, fixed by code through the normal state
	// machine and recorded.
	ClassAutoFixed MismatchClass = "AUTO_FIXED"
	// ClassManual: a known cause whose fix needs a person (finance).
	ClassManual MismatchClass = "MANUAL"
	// ClassUnknown: no rule explains it (investigation).
	ClassUnknown MismatchClass = "UNKNOWN"
)

// MismatchKind is the cause of a mismatch.
type MismatchKind string

// Mismatch kinds (docs/api.md), plus LEDGER_DIFFERS: the PG-clearing account
// does not hold what the PG owes for a payment after its lines matched.
const (
	KindMissingInPago MismatchKind = "MISSING_IN_PAGO"
	KindMissingAtPG   MismatchKind = "MISSING_AT_PG"
	KindAmountDiffers MismatchKind = "AMOUNT_DIFFERS"
	KindStatusDiffers MismatchKind = "STATUS_DIFFERS"
	KindFeeDiffers    MismatchKind = "FEE_DIFFERS"
	KindUnknownAtPG   MismatchKind = "UNKNOWN_AT_PG"
	KindDuplicateAtPG MismatchKind = "DUPLICATE_AT_PG"
	KindLedgerDiffers MismatchKind = "LEDGER_DIFFERS"
)

// SourceReconciliation is the reconciler, as the source of payment
// transitions and of the resolutions it records itself.
const SourceReconciliation = "reconciliation"

// MismatchStatus tells whether a mismatch still waits for someone.
type MismatchStatus string

// Mismatch statuses.
const (
	MismatchOpen     MismatchStatus = "OPEN"
	MismatchResolved MismatchStatus = "RESOLVED"
)

// RunStatus is where a reconciliation run is.
type RunStatus string

// Run statuses.
const (
	RunRunning RunStatus = "RUNNING"
	RunDone    RunStatus = "DONE"
	RunFailed  RunStatus = "FAILED"
)

// ReconciliationRun is the reconciliation of one sold date. There is one
// per date: a re-run refreshes it.
type ReconciliationRun struct {
	ID         string
	Date       string // the PG's sold date, KST, YYYY-MM-DD
	Status     RunStatus
	StartedAt  time.Time
	FinishedAt *time.Time
	// Checked counts the lines looked at (the PG's, and pago's payments the
	// PG did not list); Matched those that agreed at once.
	Checked, Matched int64
	// MismatchCount and AutoFixed count the date's mismatches (any status)
	// after the run: the date's picture, not this execution's delta.
	MismatchCount, AutoFixed int64
	// ClearingBalance is what the PG-clearing account holds for the date's
	// booked lines; PGOwes what the PG still owes for them (payouts not yet
	// paid out). A clean date has ClearingBalance == -PGOwes.
	ClearingBalance, PGOwes int64
	Error                   string
}

// Mismatch is one difference between the PG's settlement and pago.
type Mismatch struct {
	ID             string
	RunID          string
	Date           string
	Kind           MismatchKind
	Class          MismatchClass
	Status         MismatchStatus
	Rule           string // the rule that classified it
	OrderID        string
	PaymentKey     string
	TransactionKey string
	PagoAmount     *int64
	PGAmount       *int64
	Detail         string
	Resolution     string
	ResolvedBy     string
	ResolvedAt     *time.Time
	LastSeenRun    string // the execution that last found it
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// MismatchFilter selects mismatches; empty fields select all.
type MismatchFilter struct {
	Status MismatchStatus
	Class  MismatchClass
	Date   string
}

// MismatchCount is how many mismatches share a class, kind and status.
type MismatchCount struct {
	Class  MismatchClass
	Kind   MismatchKind
	Status MismatchStatus
	N      int64
}

// SettlementLine is one row of the PG's settlement: a sale, or a cancel
// (negative amounts). PayOut is Amount - Fee.
type SettlementLine struct {
	PaymentKey     string
	TransactionKey string
	OrderID        string
	Amount         int64
	Fee            int64
	PayOut         int64
	SoldDate       string
	PaidOutDate    string
}

// IsCancel tells a cancel line from a sale.
func (l SettlementLine) IsCancel() bool { return l.Amount < 0 }

// BookedLine is a settlement line pago matched and booked in the ledger.
type BookedLine struct {
	SettlementLine
	PagoLedgerTx   string // pago's posting the line matched ("" if pago holds nothing for it)
	FeeLedgerTx    string
	PayoutLedgerTx string // "" until paid out
	CreatedAt      time.Time
}

// ClearingPosition is what the PG-clearing account holds for one PG payment
// key's booked lines, and what the PG still owes for them.
type ClearingPosition struct {
	PaymentKey string
	Clearing   int64
	Owed       int64
}

// ClearingPosting is one of pago's ledger transactions that moved the
// PG-clearing account for an order.
type ClearingPosting struct {
	LedgerTxID string
	Kind       string
	Clearing   int64
}

// Settlements is the PG's settlement report (pg implements it).
type Settlements interface {
	// SettlementsSold lists every line (all pages) sold on date (KST).
	SettlementsSold(ctx context.Context, date string) ([]SettlementLine, error)
}

// MissedRefunds records a refund the PG performed and pago never heard of,
// through the refund state machine with its own idempotency (keyed by the
// PG's transaction key). It is wired when refunds land; until then the
// reconciler leaves such lines to an operator (MANUAL).
type MissedRefunds interface {
	RecordMissedRefund(ctx context.Context, paymentKey string, amount int64, pgTransactionKey string) error
}

// ReconcileObserver hears about runs (web's metrics implement it).
type ReconcileObserver interface {
	ObserveReconciliation(run ReconciliationRun, found []Mismatch, open []MismatchCount)
}

// ReconcileQueries persist runs, mismatches and booked settlement lines.
type ReconcileQueries interface {
	// StartRun takes the date's run (created on first use) to RUNNING.
	StartRun(ctx context.Context, id, date string, now time.Time) (ReconciliationRun, error)
	FinishRun(ctx context.Context, r ReconciliationRun) error
	Run(ctx context.Context, id string) (ReconciliationRun, error)
	// Runs lists newest date first, date < beforeDate.
	Runs(ctx context.Context, beforeDate string, limit int) ([]ReconciliationRun, error)
	// UpsertMismatch records m, or refreshes the same difference found
	// before (same date, kind, payment key and transaction key); a resolved
	// one stays resolved.
	UpsertMismatch(ctx context.Context, m Mismatch) error
	// ResolveUnseenMismatches closes the date's open items that execution
	// runStamp did not find again.
	ResolveUnseenMismatches(ctx context.Context, date, runStamp, resolution string, now time.Time) (int64, error)
	Mismatch(ctx context.Context, id string) (Mismatch, error)
	// Mismatches lists newest first with id < before.
	Mismatches(ctx context.Context, f MismatchFilter, before string, limit int) ([]Mismatch, error)
	// ResolveMismatch closes an open item; false if it was not open.
	ResolveMismatch(ctx context.Context, id, by, note string, now time.Time) (bool, error)
	// CountMismatches counts by class, kind and status; "" counts every date.
	CountMismatches(ctx context.Context, date string) ([]MismatchCount, error)
	// InsertSettlementLine books l; false if it was booked already.
	InsertSettlementLine(ctx context.Context, l BookedLine) (bool, error)
	SettlementLine(ctx context.Context, paymentKey, transactionKey string) (BookedLine, error)
	SettlementLinesByPayment(ctx context.Context, paymentKey string) ([]BookedLine, error)
	// SetSettlementPayout records the payout's posting; false if one was.
	SetSettlementPayout(ctx context.Context, paymentKey, transactionKey, ledgerTx string) (bool, error)
	SoldDatesWithPayoutsDue(ctx context.Context, today string) ([]string, error)
	// ClearingByPaymentKey covers the payment keys with lines sold on date
	// ("" for all).
	ClearingByPaymentKey(ctx context.Context, date string) ([]ClearingPosition, error)
	// CardPaymentsApproved lists card payments approved in [from, until).
	CardPaymentsApproved(ctx context.Context, from, until time.Time) ([]Payment, error)
	OrderClearingPostings(ctx context.Context, orderID string) ([]ClearingPosting, error)
}

// ReconcileTx is what a reconciliation transaction can do: the usual
// queries and the reconciliation ones.
type ReconcileTx interface {
	Queries
	ReconcileQueries
}

// ReconcileStore is the persistence the reconciler needs.
type ReconcileStore interface {
	ReconcileQueries
	// InReconcileTx runs fn in one database transaction.
	InReconcileTx(ctx context.Context, fn func(q ReconcileTx) error) error
}
