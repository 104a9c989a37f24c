package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store"
	"github.com/pago/pago/store/storetest"
)

func openMigrated(t *testing.T, eng storetest.Engine) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, eng.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))))
	return st
}

// A failed savepoint undoes its own writes only; the transaction goes on
// and commits what the others wrote, on both engines. A unique violation
// inside one (which aborts a PostgreSQL transaction) is undone as well.
func TestInSavepointRollsBackOnlyItself(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			st := openMigrated(t, eng)
			now := time.Now().UTC()
			user := func(name string) payment.User {
				return payment.User{ID: payment.NewID("usr", now), Name: name, CreatedAt: now}
			}
			refused := &payment.Error{Code: payment.CodeInsufficientBalance, Message: "no"}
			dup := user("dup")
			require.NoError(t, st.InsertUserIfAbsent(ctx, dup))
			err := st.InTx(ctx, func(q payment.Queries) error {
				require.NoError(t, q.InSavepoint(ctx, func(q payment.Queries) error {
					return q.InsertUserIfAbsent(ctx, user("kept-1"))
				}))
				err := q.InSavepoint(ctx, func(q payment.Queries) error {
					require.NoError(t, q.InsertUserIfAbsent(ctx, user("undone")))
					return refused
				})
				require.ErrorIs(t, err, refused)
				err = q.InSavepoint(ctx, func(q payment.Queries) error {
					return q.InsertLedgerAccount(ctx, payment.LedgerAccount{ID: payment.AccountIDRevenue,
						Kind: payment.AccountRevenue, Currency: payment.KRW, CreatedAt: now}) // exists: unique violation
				})
				require.Error(t, err)
				var de *payment.Error
				require.False(t, errors.As(err, &de), "a database error is not a domain error")
				return q.InSavepoint(ctx, func(q payment.Queries) error {
					return q.InsertUserIfAbsent(ctx, user("kept-2"))
				})
			})
			require.NoError(t, err)
			for name, want := range map[string]bool{"kept-1": true, "kept-2": true, "undone": false} {
				_, err := st.UserByName(ctx, name)
				if want {
					require.NoError(t, err, name)
				} else {
					require.ErrorIs(t, err, payment.ErrNotFound, name)
				}
			}
		})
	}
}
