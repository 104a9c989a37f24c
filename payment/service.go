package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"
)

// Config holds the business rules' knobs.
type Config struct {
	// WalletLimit is the balance ceiling of new wallets (default 100,000 KRW).
	WalletLimit Money
	// OrderTTL is how long a PENDING order holds its stock (default 30 min).
	OrderTTL time.Duration
	// CheckoutURL builds an order's checkout link (web signs it).
	CheckoutURL func(orderID string) string
	// Gateway is the PG; nil where no card payments happen (tools).
	Gateway Gateway
	// ProbeDelay is when the in-doubt probe first looks at a card payment
	// after its confirm was sent (default 15 s): a confirm that answered
	// settles it first, and the probe then finds nothing to do.
	ProbeDelay time.Duration
	// ConfirmTimeout bounds one confirm call to the PG, retries included
	// (default 20 s). Past it the payment is IN_DOUBT.
	ConfirmTimeout time.Duration
	// ConfirmWait bounds how long a customer waits for a confirm's outcome
	// (default 2 s): past it the answer is PAYMENT_IN_DOUBT ("processing")
	// while the PG call goes on, up to ConfirmTimeout, and settles the
	// payment by itself. Negative: wait for the outcome however long it
	// takes (the simulation, whose scheduler owns every goroutine).
	ConfirmWait time.Duration
	// RefundWait bounds how long cancelPayment waits for its refund to be
	// carried out (default 3 s): past it the answer is the refund PENDING
	// while the work goes on. Negative: carry it out in the caller's
	// goroutine however long it takes (the simulation).
	RefundWait time.Duration
	// MaxConflictRetries bounds how often a conditional write that lost a
	// race is retried before the caller is told to retry (default 8).
	MaxConflictRetries int
	// MaxOpenOrders caps a user's PENDING orders, and MaxReservedUnits the
	// units of stock they hold, so that unpaid orders cannot take all of a
	// product's stock; 0 = no cap.
	MaxOpenOrders    int
	MaxReservedUnits int64
	// BatchTimeout bounds every batch (default 5 s): the wallet
	// payments' (their wait for the wallets' locks included), and the card
	// confirms' claims, reads, intents and settles. A batch works for all
	// its callers, whichever leads it; one still waiting on the database
	// past it is cancelled — what it had not committed is undone — and its
	// callers are answered REQUEST_IN_PROGRESS, retryable, whose retry with
	// the same key replays whatever was committed (a settle that times out
	// is tried alone instead: the PG has spoken). A stuck database call
	// then never holds a queue's callers, and the pages waiting for them,
	// for ever. Negative: no bound.
	BatchTimeout time.Duration
	// BatchContext, when set, makes the context a batch led by a caller
	// with ctx runs in, in place of BatchTimeout's: the simulation ends it
	// at a step of its choosing, as a timeout would.
	BatchContext func(ctx context.Context) (context.Context, context.CancelFunc)
	// WalletBatches is how many wallet batches this instance runs at once
	// (default 2): wallet payments queue in as many queues, a user's always
	// in the same one (pay.go).
	WalletBatches int
	// Await blocks until ready is closed: a caller waiting for its batch,
	// what names which ("wallet batch", "claim batch", "read batch",
	// "intent batch", "settle batch"). Default: a channel receive; the
	// simulation parks the actor in its scheduler instead.
	Await func(ctx context.Context, what string, ready <-chan struct{})
}

// Service is pago's money core: wallets, ledger, products, orders and their
// payments. Every mutation runs under the caller's idempotency key.
type Service struct {
	store  Store
	locker Locker
	idem   *Idempotency
	now    Clock
	cfg    Config
	log    *slog.Logger
	// inflight counts PG calls still running for callers that stopped
	// waiting (ConfirmWait); Drain waits for them at shutdown.
	inflight sync.WaitGroup
	// batches queues wallet payments for their batches (pay.go).
	batches walletBatches
	// wallets remembers users' wallet ids (pay.go).
	wallets walletIDs
	// reads, intents and settles group card confirms (confirmbatch.go).
	reads   group[*confirmRead]
	intents group[*intentOp]
	settles group[*settleOp]
	// atPG marks the card confirms this process is waiting on (sync.go).
	atPG confirmsAtPG
	// hub serves orderUpdated from the order feed once WatchOrders runs.
	hubMu sync.Mutex
	hub   *orderHub
}

// NewService returns the service with cfg's zero values defaulted.
func NewService(store Store, locker Locker, idem *Idempotency, now Clock, cfg Config, log *slog.Logger) *Service {
	if cfg.WalletLimit.Amount == 0 {
		cfg.WalletLimit = Won(100_000)
	}
	if cfg.OrderTTL == 0 {
		cfg.OrderTTL = 30 * time.Minute
	}
	if cfg.MaxConflictRetries == 0 {
		cfg.MaxConflictRetries = 8
	}
	if cfg.ProbeDelay == 0 {
		cfg.ProbeDelay = 15 * time.Second
	}
	if cfg.ConfirmTimeout == 0 {
		cfg.ConfirmTimeout = 20 * time.Second
	}
	if cfg.ConfirmWait == 0 {
		cfg.ConfirmWait = 2 * time.Second
	}
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = 5 * time.Second
	}
	if cfg.WalletBatches <= 0 {
		cfg.WalletBatches = 2
	}
	if cfg.Await == nil {
		cfg.Await = func(_ context.Context, _ string, ready <-chan struct{}) { <-ready }
	}
	if idem != nil {
		// Its claims wait for their batch, and their batch for the
		// database, as the service's batches do.
		idem.await = cfg.Await
	}
	if cfg.RefundWait == 0 {
		cfg.RefundWait = 3 * time.Second
	}
	if cfg.CheckoutURL == nil {
		cfg.CheckoutURL = func(id string) string { return "/checkout/" + id }
	}
	s := &Service{store: store, locker: locker, idem: idem, now: now, cfg: cfg, log: log,
		batches: walletBatches{queues: make([]*walletQueue, cfg.WalletBatches)}, wallets: walletIDs{ids: map[string]string{}},
		atPG: confirmsAtPG{keys: map[string]int{}}}
	s.reads.newContext, s.intents.newContext, s.settles.newContext = s.batchContext, s.batchContext, s.batchContext
	if idem != nil {
		idem.claims.newContext = s.batchContext
	}
	return s
}

// batchContext is the context a batch led by a caller with ctx runs in:
// Config.BatchContext's, or one apart from ctx, ended after BatchTimeout.
func (s *Service) batchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.BatchContext != nil {
		return s.cfg.BatchContext(ctx)
	}
	return batchContext(ctx, s.cfg.BatchTimeout)
}

// Drain waits until the PG calls that outlived their callers' wait have
// settled their payments, or ctx ends (graceful shutdown). Whatever is cut
// off is settled by the probe job from the PG's record.
func (s *Service) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain in-flight confirms: %w", ctx.Err())
	}
}

// CheckoutURL is the link where the order's owner pays it.
func (s *Service) CheckoutURL(orderID string) string { return s.cfg.CheckoutURL(orderID) }

// idPattern is the shape NewID produces; anything else cannot name an object.
var idPattern = regexp.MustCompile(`^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$`)

// checkID rejects ids that cannot be pago's before touching storage.
func checkID(field, id string) error {
	if !idPattern.MatchString(id) {
		return BadInput(field, "%s is not a valid id", field)
	}
	return nil
}

// withWalletLock runs fn holding the wallet's mutex, retrying fn when a
// conditional write lost a race (ErrConflict): the lock lapsed, or Redis
// let two holders in. The lock saves work; the database keeps the money right.
func (s *Service) withWalletLock(ctx context.Context, walletID string, fn func() error) error {
	lock, err := s.locker.Lock(ctx, "wallet:"+walletID)
	if err != nil {
		return err
	}
	defer func() {
		if err := lock.Unlock(context.WithoutCancel(ctx)); err != nil {
			s.log.WarnContext(ctx, "wallet unlock", "wallet", walletID, "err", err)
		}
	}()
	return s.retryLostRaces(ctx, "wallet "+walletID, fn)
}

// retryLostRaces runs fn again while a conditional write in it lost a race
// (ErrConflict), at most MaxConflictRetries times in all; past that the
// caller hears ErrLockBusy, to retry. what names the wallets written.
func (s *Service) retryLostRaces(ctx context.Context, what string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if attempt >= s.cfg.MaxConflictRetries {
			return fmt.Errorf("%s: %w", what, ErrLockBusy)
		}
		s.log.InfoContext(ctx, "wallet update lost a race; retrying", "wallets", what, "attempt", attempt)
	}
}

// caller returns the authenticated user.
func caller(ctx context.Context) (User, error) { return UserFrom(ctx) }

// requireAdmin returns the caller if it is an operator.
func requireAdmin(ctx context.Context) (User, error) {
	u, err := UserFrom(ctx)
	if err != nil {
		return User{}, err
	}
	if !u.IsAdmin {
		return User{}, errorf(CodeForbidden, "operators only")
	}
	return u, nil
}

// pageLimit clamps Relay's first argument.
func pageLimit(first int) (int, error) {
	switch {
	case first == 0:
		return 20, nil
	case first < 0 || first > 100:
		return 0, BadInput("first", "first must be between 1 and 100")
	}
	return first, nil
}
