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
	// Ping tells whether the database answers.
	Ping(ctx context.Context) error
}

// Queries are the reads and writes payment performs. store translates driver
// errors: a missing row is ErrNotFound.
type Queries interface {
	UserQueries
	IdempotencyQueries
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
	IdempotencyKey(ctx context.Context, userID, key string) (IdempotencyRecord, error)
	// TakeOverIdempotencyKey moves a RUNNING record whose lease lapsed to a
	// new owner; false if it is not RUNNING, not lapsed, or for another input.
	TakeOverIdempotencyKey(ctx context.Context, r IdempotencyRecord, now time.Time) (bool, error)
	// CompleteIdempotencyKey stores the response; false if owner lost the key.
	CompleteIdempotencyKey(ctx context.Context, userID, key, owner string, response []byte, now time.Time) (bool, error)
	ReleaseIdempotencyKey(ctx context.Context, userID, key, owner string) error
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
