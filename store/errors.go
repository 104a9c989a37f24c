package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pago/pago/payment"
)

// uniqueViolations names the unique constraints payment acts on, by
// PostgreSQL's constraint (index) name and by SQLite's "table.column" (SQLite
// reports the columns, not the index). A violation of any other is a bug and
// stays an internal error.
var uniqueViolations = map[string]error{
	"payments_pg_payment_key_idx": payment.ErrPaymentKeyTaken,
	"payments.pg_payment_key":     payment.ErrPaymentKeyTaken,
	"wallet_holds_open_order_idx": payment.ErrSplitUnderWay,
	"wallet_holds.order_id":       payment.ErrSplitUnderWay,
}

// dbErr translates a driver error into payment's terms at the store's
// boundary (what names the thing read, for ErrNotFound's message):
//   - no rows → payment.ErrNotFound;
//   - a unique violation of a constraint in uniqueViolations → its domain error;
//   - a failure worth retrying → wraps payment.ErrTransient;
//   - anything else is returned as is and surfaces as INTERNAL.
//
// The original stays in the chain for logs.
func dbErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *payment.Error
	if errors.As(err, &de) || errors.Is(err, payment.ErrTransient) || errors.Is(err, payment.ErrPaymentKeyTaken) {
		return err // translated already (a nested call, or payment's own)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &payment.Error{Code: payment.CodeNotFound, Message: what + " not found"}
	}
	if name, ok := uniqueConstraint(err); ok {
		if domain, known := uniqueViolations[name]; known {
			return fmt.Errorf("%w (%s): %w", domain, name, err)
		}
		return err // a bug: INTERNAL, with the driver's words in the log
	}
	if transient(err) {
		return fmt.Errorf("%w: %w", payment.ErrTransient, err)
	}
	return err
}

// uniqueConstraint tells whether err is a unique violation, and of what.
func uniqueConstraint(err error) (string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName, pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		// SQLite names the columns in its message only:
		// "UNIQUE constraint failed: payments.pg_payment_key (2067)".
		msg := se.Error()
		if i := strings.LastIndex(msg, "constraint failed: "); i >= 0 {
			cols, _, _ := strings.Cut(msg[i+len("constraint failed: "):], " (")
			return cols, true
		}
		return "", true
	}
	return "", false
}

// transient tells whether err is worth retrying: the database or the way to
// it failed, not the statement.
func transient(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", // connection exception
			"40", // transaction rollback: serialization failure, deadlock
			"53", // insufficient resources
			"57": // operator intervention: admin shutdown, cannot connect now
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}
