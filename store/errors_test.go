package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/storetest"
)

func openMigrated(t *testing.T, eng storetest.Engine) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, eng.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	require.NoError(t, s.Migrate(ctx, slog.New(slog.DiscardHandler)))
	return s
}

// The store's contract on both engines: driver errors leave as payment's
// domain errors, and the payment row's read-check-write is fenced.
func TestStoreTranslatesDriverErrorsAndFencesPayments(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s := openMigrated(t, eng)
			now := time.Now().UTC().Truncate(time.Millisecond)

			_, err := s.Order(ctx, payment.NewID("ord", now))
			require.ErrorIs(t, err, payment.ErrNotFound, "no rows is NOT_FOUND")
			_, err = s.LockPayment(ctx, payment.NewID("pay", now))
			require.ErrorIs(t, err, payment.ErrNotFound)

			u := payment.User{ID: payment.NewID("usr", now), Name: "errs", CreatedAt: now}
			require.NoError(t, s.InsertUserIfAbsent(ctx, u))
			o := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderWalletTopUp, Status: payment.OrderPending,
				Name: "top-up", Amount: payment.Won(1000), ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
			require.NoError(t, s.InsertOrder(ctx, o))
			p := payment.Payment{ID: payment.NewID("pay", now), OrderID: o.ID, Method: payment.MethodCard, Status: payment.PaymentPending,
				Amount: payment.Won(1000), PGPaymentKey: "pk_taken", PGIdempotencyKey: "base", CreatedAt: now, UpdatedAt: now}
			require.NoError(t, s.InsertPayment(ctx, p))
			dup := p
			dup.ID = payment.NewID("pay", now)
			err = s.InTx(ctx, func(q payment.Queries) error { return q.InsertPayment(ctx, dup) })
			require.ErrorIs(t, err, payment.ErrPaymentKeyTaken, "the unique index by name: %v", err)

			// Read under the row lock, decide, write: the version fences it.
			err = s.InTx(ctx, func(q payment.Queries) error {
				cur, err := q.LockPayment(ctx, p.ID)
				require.NoError(t, err)
				require.Equal(t, p.PGIdempotencyKey, cur.PGIdempotencyKey)
				cur.Status, cur.FailureCode, cur.FailureMessage, cur.ConfirmAttempt, cur.ConfirmSentAt = payment.PaymentInDoubt, "X", "words", 2, &now
				ok, err := q.UpdatePayment(ctx, cur, now)
				require.NoError(t, err)
				require.True(t, ok)
				ok, err = q.UpdatePayment(ctx, cur, now) // the same version again: stale
				require.NoError(t, err)
				require.False(t, ok)
				return nil
			})
			require.NoError(t, err)
			got, err := s.PaymentByPGKey(ctx, "pk_taken")
			require.NoError(t, err)
			require.Equal(t, payment.PaymentInDoubt, got.Status)
			require.Equal(t, "X", got.FailureCode)
			require.EqualValues(t, 2, got.ConfirmAttempt)
			require.Equal(t, now, got.ConfirmSentAt.Truncate(time.Millisecond))
			require.EqualValues(t, 1, got.Version)

			// Clearing the key frees it for another payment.
			got.PGPaymentKey = ""
			ok, err := s.UpdatePayment(ctx, got, now)
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, s.InsertPayment(ctx, dup))
		})
	}
}

func TestTransientErrorsAreMarkedRetryable(t *testing.T) {
	for _, tc := range []struct {
		err       error
		transient bool
	}{
		{driver.ErrBadConn, true},
		{fmt.Errorf("query: %w", &pgconn.PgError{Code: "40001"}), true}, // serialization failure
		{&pgconn.PgError{Code: "40P01"}, true},                          // deadlock
		{&pgconn.PgError{Code: "57P01"}, true},                          // admin shutdown
		{&pgconn.PgError{Code: "08006"}, true},                          // connection failure
		{&pgconn.PgError{Code: "23514"}, false},                         // a CHECK: a bug, not weather
		{errors.New("syntax error"), false},
		{context.DeadlineExceeded, true},
	} {
		got := dbErr(tc.err, "row")
		require.Equal(t, tc.transient, errors.Is(got, payment.ErrTransient), "%v", tc.err)
		require.ErrorIs(t, got, tc.err, "the cause stays in the chain")
	}
	require.ErrorIs(t, dbErr(&pgconn.PgError{Code: "23505", ConstraintName: "payments_pg_payment_key_idx"}, "row"), payment.ErrPaymentKeyTaken)
	require.NotErrorIs(t, dbErr(&pgconn.PgError{Code: "23505", ConstraintName: "other_idx"}, "row"), payment.ErrPaymentKeyTaken)
}

// A panic inside a transaction rolls it back: the next statement (on
// SQLite's single connection, every statement) does not wait for it.
func TestPanicInTransactionRollsBack(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s := openMigrated(t, eng)
			now := time.Now().UTC()
			u := payment.User{ID: payment.NewID("usr", now), Name: "panics", CreatedAt: now}
			require.Panics(t, func() {
				_ = s.InTx(ctx, func(q payment.Queries) error {
					require.NoError(t, q.InsertUserIfAbsent(ctx, u))
					panic("leader died")
				})
			})
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := s.User(cctx, u.ID)
			require.ErrorIs(t, err, payment.ErrNotFound, "rolled back, and not blocking")
		})
	}
}
