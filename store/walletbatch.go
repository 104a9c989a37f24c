package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pago/pago/payment"
)

// WriteWalletPayments implements payment.WalletQueries: a look for split
// payments under way on w.Paying, the answers' INSERT … ON CONFLICT DO
// NOTHING (insertKeys), one conditional UPDATE of the batch's wallets, then
// one multi-row INSERT per table. On PostgreSQL they are one statement (the
// INSERTs are data-modifying WITH clauses; foreign keys are checked at its
// end, and the look, like every part, reads the statement's snapshot: the
// payments as they were before it), so a batch's writes cost one round
// trip; SQLite, in process, runs them one by one in the order the foreign
// keys need. Unless the answer is Done the caller must roll back: the rest
// may have been written.
func (s *Store) WriteWalletPayments(ctx context.Context, w payment.WalletPaymentsWrite) (payment.WalletPaymentsWritten, error) {
	var none payment.WalletPaymentsWritten
	if s.tx == nil {
		return none, errors.New("write wallet payments: outside a transaction (the batch's own writes must commit with it)")
	}
	if len(w.Debits) == 0 {
		return none, errors.New("write wallet payments: no wallet to debit")
	}
	now := w.Now.UTC()
	if s.engine == Postgres {
		stmt, args := walletPaymentsStatement(w, false)
		res, err := s.tx.Tx.QueryContext(ctx, stmt, args...)
		if err != nil {
			return none, fmt.Errorf("write wallet payments: %w", dbErr(err, "wallet payment"))
		}
		defer res.Close()
		var n int
		var open sql.NullString
		stored := map[[2]string]bool{}
		for res.Next() {
			var user, key sql.NullString
			if err := res.Scan(&n, &open, &user, &key); err != nil {
				return none, dbErr(err, "row")
			}
			if user.Valid {
				stored[[2]string{user.String, key.String}] = true
			}
		}
		if err := res.Err(); err != nil {
			return none, fmt.Errorf("write wallet payments: %w", dbErr(err, "wallet payment"))
		}
		got := payment.WalletPaymentsWritten{Taken: takenOf(insertedOf(doneRecords(w.Answers), stored))}
		if open.Valid {
			got.Splits = strings.Split(open.String, ",")
			slices.Sort(got.Splits)
		}
		got.Done = len(got.Taken) == 0 && len(got.Splits) == 0 && n == len(w.Debits)
		return got, nil
	}
	var got payment.WalletPaymentsWritten
	for _, id := range w.Paying {
		ps, err := s.PaymentsByOrder(ctx, id)
		if err != nil {
			return none, err
		}
		if slices.ContainsFunc(ps, payment.IsOpenSplit) && !slices.Contains(got.Splits, id) {
			got.Splits = append(got.Splits, id)
		}
	}
	inserted, err := s.insertKeys(ctx, doneRecords(w.Answers), "record")
	if err != nil {
		return none, err
	}
	slices.Sort(got.Splits)
	if got.Taken = takenOf(inserted); len(got.Taken) > 0 || len(got.Splits) > 0 {
		return got, nil
	}
	for _, d := range w.Debits {
		res, err := s.tx.Tx.ExecContext(ctx, `UPDATE wallets SET balance = balance - $1, version = version + $2, updated_at = $3
WHERE id = $4 AND version = $5 AND balance >= $1`, d.Amount, d.Count, now, d.WalletID, d.Version)
		if err != nil {
			return none, fmt.Errorf("debit wallet %s: %w", d.WalletID, dbErr(err, "wallet"))
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return none, err
		}
	}
	for _, ins := range walletPaymentRows(w) {
		if _, err := s.tx.Tx.ExecContext(ctx, "INSERT INTO "+ins.table+" ("+ins.columns+") VALUES "+ins.rows.values(0, nil), ins.rows.args...); err != nil {
			return none, fmt.Errorf("insert %s: %w", ins.table, dbErr(err, ins.table))
		}
	}
	return payment.WalletPaymentsWritten{Done: true}, nil
}

// PayFromWallets implements payment.Store. On PostgreSQL it is one
// statement in no transaction but its own (walletPaymentsStatement): the
// move, the look for splits under way, the answers, the debits and every
// row, then a check that fails it, and so everything it wrote, unless each
// part found the database as the batch read it. Its snapshot is taken
// before it locks the orders, unlike WriteWalletPayments', so its look
// for splits may miss one started on an order after the snapshot. Two
// guards, either enough, stand for the look: a split's start holds part
// of the same wallet in its own transaction, and the debit is conditional
// on the version the batch read; and it moves the order (PENDING to
// PENDING, updated_at), and an order moves here only if its updated_at is
// the one read. SQLite, in process, runs the move and WriteWalletPayments
// in one transaction, whose look follows the move.
func (s *Store) PayFromWallets(ctx context.Context, w payment.WalletPaymentsWrite) (bool, error) {
	if s.tx != nil {
		return false, errors.New("pay from wallets: inside a transaction (it commits on its own)")
	}
	if len(w.Debits) == 0 {
		return false, errors.New("pay from wallets: no wallet to debit")
	}
	if len(w.PayingRead) != len(w.Paying) {
		return false, fmt.Errorf("pay from wallets: %d orders with %d read times", len(w.Paying), len(w.PayingRead))
	}
	if s.engine == Postgres {
		stmt, args := walletPaymentsStatement(w, true)
		_, err := s.db.DB.ExecContext(ctx, stmt, args...)
		if rolledBackAsRead(err) {
			return false, nil // the long way tells
		}
		if err != nil {
			return false, fmt.Errorf("pay from wallets: %w", dbErr(err, "wallet payment"))
		}
		return true, nil // the orders' trigger announces their move (ListenOrders)
	}
	err := s.InTx(ctx, func(q payment.Queries) error {
		moved, err := q.TransitionOrders(ctx, w.Paying, payment.OrderPending, payment.OrderPaid, w.Now)
		if err != nil {
			return err
		}
		if len(moved) != len(w.Paying) {
			return errNotAsRead
		}
		got, err := q.WriteWalletPayments(ctx, w)
		if err == nil && !got.Done {
			err = errNotAsRead
		}
		return err
	})
	if errors.Is(err, errNotAsRead) {
		return false, nil
	}
	return err == nil, err
}

// notAsRead is the SQLSTATE of pago_wallet_batch_as_read's and
// pago_batch_as_read's refusal, and errNotAsRead rolls SQLite's
// PayFromWallets and SettleCardPayments back for the same reason.
const notAsRead = "PB001"

// rolledBackAsRead tells whether a statement of a batch at once failed
// whole for want of the database as the batch read it: the check's
// refusal, or a deadlock or serialization failure with a row it wrote.
// Any other error, a lost connection among them, may leave its outcome
// unknown.
func rolledBackAsRead(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == notAsRead || pe.Code == "40001" || pe.Code == "40P01") // serialization failure, deadlock
}

var errNotAsRead = errors.New("the database is no longer as the batch read it")

// walletPaymentsStatement is WriteWalletPayments' one statement on
// PostgreSQL, or with atOnce PayFromWallets': the same, with the move of
// w.Paying to PAID as one more part and, at its end, the check that fails
// it unless every part found the database as the batch read it
// (pago_wallet_batch_as_read). Every row comes in arrays, a column each
// (unnest), so the statement's text is the same however many rows a batch
// has and each connection prepares it once. The INSERTs read whole, which
// has its one row only when every wallet was debited (and, atOnce, every
// order moved), so they insert nothing otherwise: a unique row they would
// clash on (a history row's seq) is never the statement's error.
func walletPaymentsStatement(w payment.WalletPaymentsWrite, atOnce bool) (string, []any) {
	var debits rows
	for _, d := range w.Debits {
		debits.add(d.WalletID, d.Version, d.Amount, d.Count)
	}
	args := []any{w.Now.UTC(), len(w.Debits)}
	var stmt strings.Builder
	stmt.WriteString("WITH d (id, version, amount, n) AS (SELECT * FROM " + debits.unnest(&args, []string{"text", "bigint", "bigint", "bigint"}) + "),")
	stmt.WriteString(` debited AS (UPDATE wallets w SET balance = w.balance - d.amount, version = w.version + d.n, updated_at = $1
FROM d WHERE w.id = d.id AND w.version = d.version AND w.balance >= d.amount RETURNING 1),`)
	paying := ""
	whole := "(SELECT COUNT(*) FROM debited) = $2"
	if atOnce && len(w.Paying) > 0 {
		// The orders first, as the batch that goes the long way moves
		// them before its write, then the wallets. An order moves only
		// if it is as read: PENDING, and not changed since.
		read := make([]time.Time, len(w.PayingRead))
		for i, t := range w.PayingRead {
			read[i] = t.UTC()
		}
		args = append(args, string(payment.OrderPaid), w.Paying, read, string(payment.OrderPending), len(w.Paying))
		n := len(args)
		paying = fmt.Sprintf("$%d::text[]", n-3)
		fmt.Fprintf(&stmt, ` moved AS (UPDATE orders o SET status = $%d, updated_at = $1 FROM unnest(%s, $%d::timestamptz[]) r (id, read_at)
WHERE o.id = r.id AND o.status = $%d AND o.updated_at = r.read_at RETURNING 1),`, n-4, paying, n-2, n-1)
		whole = fmt.Sprintf("(SELECT COUNT(*) FROM moved) = $%d AND ", n) + whole
	}
	fmt.Fprintf(&stmt, " whole AS (SELECT 1 WHERE %s)", whole)
	for i, ins := range walletPaymentRows(w) {
		fmt.Fprintf(&stmt, ", ins%d AS (INSERT INTO %s (%s) SELECT v.* FROM %s v, whole)",
			i, ins.table, ins.columns, ins.rows.unnest(&args, ins.types))
	}
	answers := doneRecords(w.Answers)
	keys := "(SELECT NULL::text AS user_id, NULL::text AS key WHERE false)"
	if len(answers) > 0 {
		vals := keyRows(answers)
		fmt.Fprintf(&stmt, ", keys AS (%s)", keysInsert("SELECT * FROM "+vals.unnest(&args, keyTypes)))
		keys = "keys"
	}
	// payment.IsOpenSplit, in SQL.
	splits := func(ids string) string {
		return fmt.Sprintf("SELECT order_id FROM payments WHERE order_id = ANY(%s) AND method = $%d AND status = $%d", ids, len(args)-1, len(args))
	}
	if atOnce {
		look := "true"
		if paying != "" {
			args = append(args, string(payment.MethodSplit), string(payment.PaymentPending))
			look = "NOT EXISTS (" + splits(paying) + ")"
		}
		args = append(args, len(answers))
		fmt.Fprintf(&stmt, " SELECT pago_wallet_batch_as_read(EXISTS (SELECT 1 FROM whole) AND %s AND (SELECT COUNT(*) FROM %s k) = $%d)", look, keys, len(args))
		return stmt.String(), args
	}
	// Every row of the answer: the debited count, the orders with a split
	// under way (their ids, NewID's letters, digits and "_", joined by
	// commas), and the keys inserted, if any.
	open := "NULL::text"
	if len(w.Paying) > 0 {
		args = append(args, w.Paying, string(payment.MethodSplit), string(payment.PaymentPending))
		open = "(SELECT string_agg(DISTINCT order_id, ',') FROM (" + splits(fmt.Sprintf("$%d::text[]", len(args)-2)) + ") s)"
	}
	stmt.WriteString(" SELECT (SELECT COUNT(*) FROM debited), " + open + ", k.user_id, k.key FROM (SELECT 1) one LEFT JOIN " + keys + " k ON true")
	return stmt.String(), args
}

// TransitionOrders implements payment.OrderQueries: one UPDATE … RETURNING
// for a wallet batch's orders.
func (s *Store) TransitionOrders(ctx context.Context, ids []string, from, to payment.OrderStatus, now time.Time) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{string(to), now.UTC(), string(from)}
	// PostgreSQL: an id array, one text for any number of orders.
	in := "= ANY($4::text[])"
	if s.engine != Postgres {
		var list rows
		list.add(anys(ids)...) // one row: the parenthesised IN list
		in, args = "IN "+list.values(3, nil), append(args, list.args...)
	} else {
		args = append(args, ids)
	}
	rows, err := s.conn().QueryContext(ctx, "UPDATE orders SET status = $1, updated_at = $2 WHERE status = $3 AND id "+in+" RETURNING id", args...)
	if err != nil {
		return nil, fmt.Errorf("move orders to %s: %w", to, dbErr(err, "row"))
	}
	defer rows.Close()
	var moved []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr(err, "row")
		}
		moved = append(moved, id)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err, "row")
	}
	if from != to {
		for _, id := range moved {
			s.orderChanged(id)
		}
	}
	return moved, nil
}

// InsertIdempotencyDoneMany implements payment.IdempotencyQueries: one
// INSERT … ON CONFLICT DO NOTHING RETURNING (insertKeys), whose missing
// rows are the keys taken.
func (s *Store) InsertIdempotencyDoneMany(ctx context.Context, rs []payment.IdempotencyRecord) ([]int, error) {
	inserted, err := s.insertKeys(ctx, doneRecords(rs), "record")
	if err != nil {
		return nil, err
	}
	return takenOf(inserted), nil
}

// doneRecords are rs stored DONE, their lease spent.
func doneRecords(rs []payment.IdempotencyRecord) []payment.IdempotencyRecord {
	done := make([]payment.IdempotencyRecord, len(rs))
	for i, r := range rs {
		r.Status, r.LeaseUntil = payment.IdemDone, r.CreatedAt
		done[i] = r
	}
	return done
}

// insertedOf tells per record of rs whether it was inserted, from the keys
// an insert returned (stored): not a key already stored, nor a key's
// second record in rs (rows are inserted in the order given, VALUES or
// arrays, and keyRows keeps a key's first record first).
func insertedOf(rs []payment.IdempotencyRecord, stored map[[2]string]bool) []bool {
	stored = maps.Clone(stored)
	inserted := make([]bool, len(rs))
	for i, r := range rs {
		k := [2]string{r.UserID, r.Key}
		inserted[i] = stored[k]
		delete(stored, k)
	}
	return inserted
}

// takenOf lists the records not inserted.
func takenOf(inserted []bool) []int {
	var taken []int
	for i, ok := range inserted {
		if !ok {
			taken = append(taken, i)
		}
	}
	return taken
}

// keyRows lays rs out as idempotency_keys rows in key order: a unique
// insert waits for another transaction's uncommitted duplicate, so two
// batches inserting the same keys in opposite orders would wait for each
// other (a deadlock that fails every request of one). The sort is stable:
// a key twice keeps its first record first.
func keyRows(rs []payment.IdempotencyRecord) rows {
	sorted := slices.Clone(rs)
	slices.SortStableFunc(sorted, func(a, b payment.IdempotencyRecord) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Key, b.Key))
	})
	var vals rows
	for _, r := range sorted {
		now := r.CreatedAt.UTC()
		vals.add(r.UserID, r.Key, r.Operation, r.RequestHash, string(r.Status), r.Owner, nullString(string(r.Response)), r.LeaseUntil.UTC(), now, now)
	}
	return vals
}

// keysInsert is the INSERT of idempotency_keys rows (keyRows) from rows,
// VALUES or a SELECT, leaving a key already stored, returning the keys
// inserted.
func keysInsert(rows string) string {
	return `INSERT INTO idempotency_keys (user_id, key, operation, request_hash, status, owner, response, lease_until, created_at, updated_at)
` + rows + ` ON CONFLICT (user_id, key) DO NOTHING RETURNING user_id, key`
}

// keyTypes are the PostgreSQL types of keyRows' columns.
var keyTypes = []string{"text", "text", "text", "text", "text", "text", "text", "timestamptz", "timestamptz", "timestamptz"}

// insertKeys inserts rs, each with its status, response and lease, in one
// INSERT … ON CONFLICT DO NOTHING RETURNING (keysInsert), and tells per
// record whether it was inserted (insertedOf). what names the write in
// errors.
func (s *Store) insertKeys(ctx context.Context, rs []payment.IdempotencyRecord, what string) ([]bool, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	vals := keyRows(rs)
	// PostgreSQL: the rows in arrays, one text for any number of keys.
	q, args := keysInsert("VALUES "+vals.values(0, nil)), vals.args
	if s.engine == Postgres {
		args = nil
		q = keysInsert("SELECT * FROM " + vals.unnest(&args, keyTypes))
	}
	res, err := s.conn().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s idempotency keys: %w", what, dbErr(err, "row"))
	}
	defer res.Close()
	stored := map[[2]string]bool{}
	for res.Next() {
		var k [2]string
		if err := res.Scan(&k[0], &k[1]); err != nil {
			return nil, dbErr(err, "row")
		}
		stored[k] = true
	}
	if err := res.Err(); err != nil {
		return nil, dbErr(err, "row")
	}
	return insertedOf(rs, stored), nil
}

// conn is the open transaction, or the pool outside one.
func (s *Store) conn() interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
} {
	if s.tx != nil {
		return s.tx.Tx
	}
	return s.db.DB
}

// exec runs a statement written here rather than by sqlc (one the two
// engines cannot share) in the open transaction or on the pool.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.conn().ExecContext(ctx, query, args...)
}

// ledgerTransactionTypes and ledgerEntryTypes are the PostgreSQL types of
// ledgerRows' columns.
var (
	ledgerTransactionTypes = []string{"text", "text", "text", "text", "timestamptz"}
	ledgerEntryTypes       = []string{"text", "text", "text", "bigint", "timestamptz"}
)

// ledgerRows lays ledger transactions out as the rows of
// ledger_transactions and of ledger_entries, in walletPaymentRows' columns.
func ledgerRows(ts ...payment.LedgerTransaction) (txs, entries rows) {
	for _, t := range ts {
		txs.add(t.ID, t.Kind, nullString(t.OrderID), t.Description, t.CreatedAt.UTC())
		for _, e := range t.Entries {
			entries.add(e.ID, t.ID, e.AccountID, e.Amount, t.CreatedAt.UTC())
		}
	}
	return txs, entries
}

// together runs fn, one write of several statements when several is true
// (SQLite runs a payment and its events, or a ledger transaction and its
// entries, one by one), in the open transaction or in one of its own: they
// commit or roll back together whatever the caller holds.
func (s *Store) together(ctx context.Context, several bool, fn func(s *Store) error) error {
	if s.tx != nil || !several {
		return fn(s)
	}
	return s.InTx(ctx, func(q payment.Queries) error { return fn(q.(*Store)) })
}

// walletInsert is one table's rows of a batch; types are the columns'
// PostgreSQL types.
type walletInsert struct {
	table, columns string
	types          []string
	rows           rows
}

// walletPaymentRows lays w's rows out per table, in the order the foreign
// keys need.
func walletPaymentRows(w payment.WalletPaymentsWrite) []walletInsert {
	out := []walletInsert{
		{table: "ledger_transactions", columns: "id, kind, order_id, description, created_at",
			types: ledgerTransactionTypes},
		{table: "ledger_entries", columns: "id, transaction_id, account_id, amount, created_at",
			types: ledgerEntryTypes},
		{table: "wallet_transactions", columns: "id, wallet_id, seq, type, amount, balance_after, order_id, ledger_transaction_id, reason, created_at",
			types: []string{"text", "text", "bigint", "text", "bigint", "bigint", "text", "text", "text", "timestamptz"}},
		{table: "payments", columns: paymentColumns, types: paymentTypes},
		{table: "payment_events", columns: eventColumns, types: eventTypes},
	}
	wt, ps, pe := &out[2].rows, &out[3].rows, &out[4].rows
	out[0].rows, out[1].rows = ledgerRows(w.Ledger...)
	for _, t := range w.History {
		wt.add(t.ID, t.WalletID, t.Seq, string(t.Type), t.Amount.Amount, t.BalanceAfter.Amount, nullString(t.OrderID),
			t.LedgerTransactionID, nullString(t.Reason), t.CreatedAt.UTC())
	}
	for _, p := range w.Payments {
		paymentRow(ps, p)
	}
	*pe = eventRows(w.Events)
	kept := out[:0]
	for _, ins := range out {
		if len(ins.rows.args) > 0 {
			kept = append(kept, ins)
		}
	}
	return kept
}

// anys is ids as values.
func anys(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// rows is a multi-row VALUES list; values renders its $N placeholders
// from a given offset, which both drivers bind (see sqlc.yaml).
type rows struct {
	args  []any
	arity []int // values per row
}

func (r *rows) add(vals ...any) {
	r.args = append(r.args, vals...)
	r.arity = append(r.arity, len(vals))
}

// unnest is "unnest($n+1::t1[], …)", n the length of args, for r's rows
// laid out by column, and appends each column to args as one array: the
// text is the same however many rows r has. Every row has one value per
// type.
func (r *rows) unnest(args *[]any, types []string) string {
	k := len(types)
	if slices.ContainsFunc(r.arity, func(n int) bool { return n != k }) {
		panic(fmt.Sprintf("store: unnest: a row that is not %d values", k))
	}
	cols := make([][]any, k)
	for j := range cols {
		cols[j] = make([]any, 0, len(r.arity))
	}
	for i := 0; i+k <= len(r.args); i += k {
		for j := range k {
			cols[j] = append(cols[j], r.args[i+j])
		}
	}
	var b strings.Builder
	b.WriteString("unnest(")
	for j, t := range types {
		if j > 0 {
			b.WriteString(", ")
		}
		*args = append(*args, cols[j])
		b.WriteString("$" + strconv.Itoa(len(*args)) + "::" + t + "[]")
	}
	b.WriteByte(')')
	return b.String()
}

// values is "($o+1, …), (…)" for placeholders numbered after offset o,
// each cast to its column's type when types are given.
func (r *rows) values(offset int, types []string) string {
	var b strings.Builder
	n := offset
	for i, k := range r.arity {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range k {
			if j > 0 {
				b.WriteString(", ")
			}
			n++
			b.WriteString("$" + strconv.Itoa(n))
			if types != nil {
				b.WriteString("::" + types[j])
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}
