package payment

import (
	"context"
	"time"
)

// Store is what payment needs of persistence. Every method of Queries runs in
// the transaction InTx opened when called through the Queries handed to fn.
type Store interface {
	Queries
	// InTx runs fn in one database transaction, committed when fn returns nil.
	InTx(ctx context.Context, fn func(q Queries) error) error
	// PayFromWallets applies a wallet batch decided from reads made outside
	// any transaction, all or nothing, in a transaction of its own: it
	// moves w.Paying from PENDING to PAID and writes what
	// WriteWalletPayments writes. It is false, with nothing written, when
	// the database is no longer as the batch read it: an order not
	// PENDING or changed since (w.PayingRead), a wallet's version moved, a
	// key answered, or a split under way on one of w.Paying; the batch
	// then goes the way that tells which (payBatchOf). On PostgreSQL it is
	// one statement: one round trip, its commit included. w debits at
	// least one wallet.
	PayFromWallets(ctx context.Context, w WalletPaymentsWrite) (bool, error)
	// SettleCardPayments applies a settle batch decided from what its
	// confirms hold, all or nothing, in a transaction of its own: every
	// payment of w.Payments at the version it was read at (else it moved
	// meanwhile), every order of w.Orders moved from IN_DOUBT to PAID,
	// every answer of w.Answers stored for a key its owner still holds,
	// with w's events and ledger transactions. It is false, with nothing
	// written, when the database is no longer so; the batch then goes the
	// way that tells which (settleBatchOf). On PostgreSQL it is one
	// statement: one round trip, its commit included.
	SettleCardPayments(ctx context.Context, w CardSettleWrite) (bool, error)
	// Ping tells whether the database answers.
	Ping(ctx context.Context) error
}

// Queries are the reads and writes payment performs. store translates driver
// errors at its boundary: a missing row is ErrNotFound, a unique violation
// payment knows by name is its domain error (ErrPaymentKeyTaken), and a
// failure worth retrying (a lost connection, a serialization failure, a busy
// database) wraps ErrTransient.
type Queries interface {
	UserQueries
	IdempotencyQueries
	WalletQueries
	OrderQueries
	RefundQueries
	// Violations recomputes every invariant and returns what is broken.
	Violations(ctx context.Context) ([]Violation, error)
}

// WalletQueries persist wallets and the ledger. Debit and credit are
// conditional: false means the version moved or the balance rule failed.
type WalletQueries interface {
	InsertLedgerAccount(ctx context.Context, a LedgerAccount) error
	// InsertWalletIfAbsent creates w unless the user has a wallet already.
	InsertWalletIfAbsent(ctx context.Context, w Wallet) (bool, error)
	WalletByUser(ctx context.Context, userID string) (Wallet, error)
	Wallet(ctx context.Context, id string) (Wallet, error)
	DebitWallet(ctx context.Context, id string, version, amount int64, now time.Time) (bool, error)
	CreditWallet(ctx context.Context, id string, version, amount int64, now time.Time) (bool, error)
	InsertWalletTransaction(ctx context.Context, t WalletTransaction) error
	// WalletTransactions lists newest first, seq < beforeSeq.
	WalletTransactions(ctx context.Context, walletID string, beforeSeq int64, limit int) ([]WalletTransaction, error)
	InsertLedgerTransaction(ctx context.Context, t LedgerTransaction) error
	// InsertLedgerTransactions is InsertLedgerTransaction for several,
	// together: a batch of card settles posts them at once.
	InsertLedgerTransactions(ctx context.Context, ts []LedgerTransaction) error
	// OrdersWithWallets reads the orders in orderIDs that exist, with their
	// lines, and the wallets of their owners that have one, in one
	// statement: a wallet batch's one read.
	OrdersWithWallets(ctx context.Context, orderIDs []string) ([]Order, []Wallet, error)
	// WriteWalletPayments writes a batch of wallet payments decided in
	// memory: every payment's answer under its key (w.Answers, as
	// InsertIdempotencyDoneMany), each wallet's debit (w.Debits),
	// conditional on the version read and the balance, then their ledger
	// transactions, history, payments and events; and it looks for split
	// payments under way on w.Paying. Unless the answer is Done, the
	// caller must roll the transaction back, since the rest may be written.
	WriteWalletPayments(ctx context.Context, w WalletPaymentsWrite) (WalletPaymentsWritten, error)
}

// WalletPaymentsWrite is what a batch of wallet payments writes at once.
// Its payments may come from several wallets.
type WalletPaymentsWrite struct {
	// Answers are the batch's idempotent answers, refusals included,
	// stored DONE with the payments: one round trip fewer per batch.
	Answers []IdempotencyRecord
	// Paying are the orders the batch pays. WriteWalletPayments, which
	// runs after the batch moved them to PAID, looks for a split payment
	// under way on them (IsOpenSplit) as its first step, after the move
	// locked them, so a split started meanwhile is seen: one round trip
	// fewer per batch than a read of its own. PayFromWallets moves them
	// and looks in one step; see there.
	Paying []string
	// PayingRead are the UpdatedAt of Paying's orders as the batch read
	// them, one each: PayFromWallets moves an order only if it has not
	// changed since.
	PayingRead []time.Time
	Debits     []WalletDebit // one per wallet the batch pays from
	Now        time.Time
	Ledger     []LedgerTransaction
	History    []WalletTransaction
	Payments   []Payment
	Events     []PaymentEvent
}

// CardSettleWrite is what a settle batch of card approvals writes.
type CardSettleWrite struct {
	// Payments are written as they are, each at the version it was read
	// at (UpdatePayments), with Events.
	Payments []Payment
	Events   []PaymentEvent
	Orders   []string // moved from IN_DOUBT to PAID
	Ledger   []LedgerTransaction
	Answers  []IdempotencyCompletion // as CompleteIdempotencyKeys
	Now      time.Time
}

// WriteCardSettle writes w with q, inside the caller's transaction, as a
// store without SettleCardPayments' one statement composes it (SQLite, the
// simulation's store). It is false when the database is no longer as w
// holds it — a payment not at its version, an order not IN_DOUBT, a key
// no longer its owner's — and the caller then rolls back whatever it
// wrote.
func WriteCardSettle(ctx context.Context, q Queries, w CardSettleWrite) (bool, error) {
	written, err := q.UpdatePayments(ctx, w.Payments, w.Now, w.Events)
	if err != nil || len(written) != len(w.Payments) {
		return false, err
	}
	moved, err := q.TransitionOrders(ctx, w.Orders, OrderInDoubt, OrderPaid, w.Now)
	if err != nil || len(moved) != len(w.Orders) {
		return false, err
	}
	if err := q.InsertLedgerTransactions(ctx, w.Ledger); err != nil {
		return false, err
	}
	done, err := q.CompleteIdempotencyKeys(ctx, w.Answers, w.Now)
	return err == nil && len(done) == len(w.Answers), err
}

// WalletPaymentsWritten is what WriteWalletPayments found.
type WalletPaymentsWritten struct {
	// Taken are the indexes of the Answers whose key was stored already.
	Taken []int
	// Splits are the orders of Paying with a split payment under way.
	Splits []string
	// Done: no key taken, no split under way, and every wallet was still
	// at the version read, and is debited.
	Done bool
}

// WalletDebit is one wallet's part of a batch: its payments' total and
// count (the version moves by the count), taken only if the wallet is
// still at the version the batch read.
type WalletDebit struct {
	WalletID string
	Version  int64
	Amount   int64
	Count    int64
}

// OrderQueries persist products, orders and payments.
type OrderQueries interface {
	UpsertProduct(ctx context.Context, p Product) (Product, error)
	Products(ctx context.Context) ([]Product, error)
	Product(ctx context.Context, id string) (Product, error)
	// TakeStock decrements stock if enough is left; false if not.
	TakeStock(ctx context.Context, productID string, quantity int64, now time.Time) (bool, error)
	ReturnStock(ctx context.Context, productID string, quantity int64, now time.Time) error
	InsertOrder(ctx context.Context, o Order) error
	Order(ctx context.Context, id string) (Order, error)
	// Orders lists newest first with id < before; empty userID or status
	// means all.
	Orders(ctx context.Context, userID string, status OrderStatus, before string, limit int) ([]Order, error)
	// OpenOrderUsage counts userID's PENDING orders and the units their
	// lines hold.
	OpenOrderUsage(ctx context.Context, userID string) (orders int, units int64, err error)
	// TransitionOrder moves an order from one status to another; false if
	// it was not in from.
	TransitionOrder(ctx context.Context, id string, from, to OrderStatus, now time.Time) (bool, error)
	// TransitionOrders is TransitionOrder for many orders in one statement;
	// moved lists those that were in from.
	TransitionOrders(ctx context.Context, ids []string, from, to OrderStatus, now time.Time) (moved []string, err error)
	// ExpireOrder moves a PENDING order past its expiry to EXPIRED.
	ExpireOrder(ctx context.Context, id string, now time.Time) (bool, error)
	// EnqueueOrderExpiry schedules the expiry job, in the caller's transaction.
	EnqueueOrderExpiry(ctx context.Context, orderID string, at time.Time) error
	// InsertPayment records a new payment with the events of its history
	// so far (a payment created past PENDING), together. Its failure,
	// confirm attempt and refund decision start empty.
	InsertPayment(ctx context.Context, p Payment, history ...PaymentEvent) error
	Payment(ctx context.Context, id string) (Payment, error)
	PaymentsByOrder(ctx context.Context, orderID string) ([]Payment, error)
	InsertPaymentEvent(ctx context.Context, e PaymentEvent) error
	PaymentEvents(ctx context.Context, paymentID string) ([]PaymentEvent, error)
	PaymentByPGKey(ctx context.Context, paymentKey string) (Payment, error)
	// LockPayment reads a payment and holds its row lock until the
	// transaction ends: the read of every read-check-write of a payment.
	LockPayment(ctx context.Context, id string) (Payment, error)
	// LockPayments is LockPayment for several payments, locked in id
	// order; a missing one is left out.
	LockPayments(ctx context.Context, ids []string) ([]Payment, error)
	// InsertPayments is InsertPayment for several payments, each with its
	// events in history (by PaymentID), together; a payment whose PG key is
	// taken is left out with its events. It answers the ids inserted.
	InsertPayments(ctx context.Context, ps []Payment, history []PaymentEvent) ([]string, error)
	// UpdatePayment writes p's mutable state (status, approval, failure,
	// confirm attempt, refund decision, PG key) and appends history to its
	// events, if its version is still p.Version, bumping it; false, with
	// nothing written, if it moved.
	UpdatePayment(ctx context.Context, p Payment, now time.Time, history ...PaymentEvent) (bool, error)
	// UpdatePayments is UpdatePayment for several payments, each with its
	// events in history (by PaymentID): a payment whose version moved is
	// left out with its events. It answers the ids written.
	UpdatePayments(ctx context.Context, ps []Payment, now time.Time, history []PaymentEvent) ([]string, error)
	// PaymentsByStatus lists newest first with id < before.
	PaymentsByStatus(ctx context.Context, status PaymentStatus, before string, limit int) ([]Payment, error)
	// EnqueuePaymentProbe schedules the in-doubt probe, in the caller's transaction.
	EnqueuePaymentProbe(ctx context.Context, paymentID string, at time.Time) error
	// EnqueuePaymentProbes is EnqueuePaymentProbe for several payments.
	EnqueuePaymentProbes(ctx context.Context, paymentIDs []string, at time.Time) error
	// EnqueueWebhook queues a PG webhook for processing, once per dedupeKey.
	EnqueueWebhook(ctx context.Context, dedupeKey, paymentKey string) error
}

// RefundQueries persist refunds. Every write of a refund happens under its
// payment's row lock (LockPayment) in the same transaction.
type RefundQueries interface {
	InsertRefund(ctx context.Context, r Refund) error
	Refund(ctx context.Context, id string) (Refund, error)
	// RefundsByPayment lists a payment's refunds, oldest first.
	RefundsByPayment(ctx context.Context, paymentID string) ([]Refund, error)
	// UpdateRefund writes r's mutable state (status, attempt, sent, PG
	// transaction, ledger posting, failure, completion) if its version is
	// still r.Version, bumping it; false if it moved.
	UpdateRefund(ctx context.Context, r Refund, now time.Time) (bool, error)
	// RefundOrder adds amount to an order's refunded amount and moves it
	// from → to; false if it was not in from.
	RefundOrder(ctx context.Context, id string, from, to OrderStatus, amount int64, now time.Time) (bool, error)
	// CreditWalletPastLimit credits a refund, conditional on the version
	// only: the ceiling limits charges, not what pago owes back.
	CreditWalletPastLimit(ctx context.Context, id string, version, amount int64, now time.Time) (bool, error)
	// EnqueueRefund schedules the refund job, in the caller's transaction.
	EnqueueRefund(ctx context.Context, refundID string, at time.Time) error

	// InsertHold records an OPEN hold.
	InsertHold(ctx context.Context, h Hold) error
	// HoldsByOrder lists an order's holds, oldest first.
	HoldsByOrder(ctx context.Context, orderID string) ([]Hold, error)
	// ResolveHold moves an OPEN hold to to; false if it was not OPEN.
	ResolveHold(ctx context.Context, id string, to HoldStatus, now time.Time) (bool, error)
}

// UserQueries persist users.
type UserQueries interface {
	// InsertUserIfAbsent creates u unless a user with u.Name exists.
	InsertUserIfAbsent(ctx context.Context, u User) error
	UserByName(ctx context.Context, name string) (User, error)
	User(ctx context.Context, id string) (User, error)
}

// IdempotencyQueries persist idempotency keys; see idempotency.go.
type IdempotencyQueries interface {
	// ClaimIdempotencyKey inserts a RUNNING record; false if the key exists.
	ClaimIdempotencyKey(ctx context.Context, r IdempotencyRecord) (bool, error)
	// ClaimIdempotencyKeys is ClaimIdempotencyKey for several records in
	// one write; it answers the indexes of rs claimed (a key twice in rs
	// is claimed by its first record).
	ClaimIdempotencyKeys(ctx context.Context, rs []IdempotencyRecord) ([]int, error)
	IdempotencyKey(ctx context.Context, userID, key string) (IdempotencyRecord, error)
	// TakeOverIdempotencyKey moves a RUNNING record whose lease lapsed to a
	// new owner; false if it is not RUNNING, not lapsed, or for another input.
	TakeOverIdempotencyKey(ctx context.Context, r IdempotencyRecord, now time.Time) (bool, error)
	// CompleteIdempotencyKey stores the response; false if owner lost the key.
	CompleteIdempotencyKey(ctx context.Context, userID, key, owner string, response []byte, now time.Time) (bool, error)
	// CompleteIdempotencyKeys is CompleteIdempotencyKey for several keys;
	// it answers the indexes of cs whose owner still held the key.
	CompleteIdempotencyKeys(ctx context.Context, cs []IdempotencyCompletion, now time.Time) ([]int, error)
	ReleaseIdempotencyKey(ctx context.Context, userID, key, owner string) error
	// InsertIdempotencyDone records a DONE key with its response in one
	// step (RunInTx); false if the key exists, after waiting for an
	// uncommitted duplicate to end.
	InsertIdempotencyDone(ctx context.Context, r IdempotencyRecord) (bool, error)
	// InsertIdempotencyDoneMany is InsertIdempotencyDone for many records
	// in one statement; taken lists the indexes of those whose key exists.
	InsertIdempotencyDoneMany(ctx context.Context, rs []IdempotencyRecord) (taken []int, err error)
	PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)
}

// Locker hands out distributed mutexes (redsync in production). A lock is an
// optimisation that keeps contenders from wasting work: correctness never
// rests on it, because every guarded write is conditional in the database.
type Locker interface {
	// Lock acquires name, waiting at most the locker's bounded wait; a lock
	// that cannot be had in time is ErrLockBusy.
	Lock(ctx context.Context, name string) (Lock, error)
	Ping(ctx context.Context) error
}

// ManyLocker is a Locker that tries or releases several locks at once, so a
// batch touching many wallets waits about one round trip to the lock
// service rather than one per wallet. The wallet batches use it when the
// locker has it, and take the locks one by one otherwise.
type ManyLocker interface {
	// TryLocks tries each name for at most wait, independently, and once
	// when wait is 0: a lock that cannot be had in time is an error at its
	// index, the others held.
	TryLocks(ctx context.Context, names []string, wait time.Duration) ([]Lock, []error)
	// UnlockAll releases locks; the error at an index is that lock's.
	UnlockAll(ctx context.Context, locks []Lock) []error
}

// Lock is a held lease.
type Lock interface {
	// Until is when the lease lapses; slow work checks it first.
	Until() time.Time
	Unlock(ctx context.Context) error
}

// ErrLockBusy means a lock could not be had within the bounded wait. It is
// retryable and is presented as REQUEST_IN_PROGRESS-like contention.
var ErrLockBusy = &Error{Code: CodeRequestInProgress, Message: "the wallet is busy; retry shortly"}

// Clock tells the time; tests and the simulation use a fake one.
type Clock func() time.Time
