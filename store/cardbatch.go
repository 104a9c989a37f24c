package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/pgqueries"
	"github.com/pago/pago/store/queries"
	"github.com/pago/pago/worker"
)

// The several-row forms of the writes of a card confirm, for a batch of
// confirms (payment's intent and settle batches). On PostgreSQL each is one
// statement however many rows it holds; SQLite, in process, runs the
// one-row forms one by one, together.

// LockPayments implements payment.OrderQueries.
func (s *Store) LockPayments(ctx context.Context, ids []string) ([]payment.Payment, error) {
	return s.paymentsEach(ctx, sortedCopy(ids), s.pq.LockPaymentsByIDs, s.LockPayment)
}

// PaymentsByPGKeys implements payment.BatchQueries. Payment keys have no
// fixed width, so SQLite (in process) reads them one by one.
func (s *Store) PaymentsByPGKeys(ctx context.Context, keys []string) ([]payment.Payment, error) {
	return s.paymentsEach(ctx, keys, s.pq.ListPaymentsByPGKeys, s.PaymentByPGKey)
}

// paymentsEach reads the payments named by keys, each once however often
// named: on PostgreSQL in one statement (pg), elsewhere one by one (one);
// a missing one is left out.
func (s *Store) paymentsEach(ctx context.Context, keys []string, pg func(context.Context, []string) ([]pgqueries.Payment, error),
	one func(context.Context, string) (payment.Payment, error)) ([]payment.Payment, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if s.engine == Postgres {
		rows, err := pg(ctx, keys)
		if err != nil {
			return nil, dbErr(err, "payments")
		}
		return mapRows(rows, func(r pgqueries.Payment) payment.Payment { return paymentToDomain(queries.Payment(r)) }), nil
	}
	var out []payment.Payment
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue // once, as PostgreSQL's = ANY reads it
		}
		seen[k] = true
		p, err := one(ctx, k)
		if errors.Is(err, payment.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// paymentColumns and paymentTypes are the payments columns InsertPayments
// and WriteWalletPayments write, as paymentRow lays them out, and their
// PostgreSQL types.
const paymentColumns = "id, order_id, method, status, amount, refunded_amount, pg_payment_key, pg_idempotency_key, approved_at, version, created_at, updated_at, confirm_sent_at, wallet_amount"

var paymentTypes = []string{"text", "text", "text", "text", "bigint", "bigint", "text", "text", "timestamptz", "bigint", "timestamptz", "timestamptz", "timestamptz", "bigint"}

func paymentRow(r *rows, p payment.Payment) {
	r.add(p.ID, p.OrderID, string(p.Method), string(p.Status), p.Amount.Amount, int64(0), nullString(p.PGPaymentKey),
		nullString(p.PGIdempotencyKey), nullTime(p.ApprovedAt), int64(0), p.CreatedAt.UTC(), p.CreatedAt.UTC(),
		nullTime(p.ConfirmSentAt), p.WalletAmount.Amount)
}

// InsertPayments implements payment.OrderQueries. On PostgreSQL one
// statement: the payments whose key is free (ON CONFLICT DO NOTHING), then
// the events of those inserted.
func (s *Store) InsertPayments(ctx context.Context, ps []payment.Payment, history []payment.PaymentEvent) ([]string, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if s.engine == Postgres {
		// In key order, as keyRows and for its reason: two batches
		// inserting the same payment keys never wait for each other.
		sorted := slices.Clone(ps)
		slices.SortStableFunc(sorted, func(a, b payment.Payment) int { return cmp.Compare(a.PGPaymentKey, b.PGPaymentKey) })
		var pay rows
		for _, p := range sorted {
			paymentRow(&pay, p)
		}
		// The rows go in arrays (unnest), as in WriteWalletPayments: one
		// statement text for any number of payments.
		var args []any
		q := `WITH p AS (INSERT INTO payments (` + paymentColumns + `) SELECT * FROM ` + pay.unnest(&args, paymentTypes) + ` ON CONFLICT DO NOTHING RETURNING id)`
		if len(history) > 0 {
			events := eventRows(history)
			q += `, e AS (INSERT INTO payment_events (` + eventColumns + `) SELECT v.* FROM ` + events.unnest(&args, eventTypes) +
				` AS v (` + eventColumns + `) WHERE v.payment_id IN (SELECT id FROM p))`
		}
		return s.ids(ctx, q+" SELECT id FROM p", args...)
	}
	var inserted []string
	err := s.together(ctx, true, func(s *Store) error {
		for _, p := range ps {
			err := s.InsertPayment(ctx, p, eventsOf(history, p.ID)...)
			if errors.Is(err, payment.ErrPaymentKeyTaken) {
				continue
			}
			if err != nil {
				return err
			}
			inserted = append(inserted, p.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inserted, nil
}

// UpdatePayments implements payment.OrderQueries. On PostgreSQL one
// statement: the payments whose version still matches, then the events of
// those written.
func (s *Store) UpdatePayments(ctx context.Context, ps []payment.Payment, now time.Time, history []payment.PaymentEvent) ([]string, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if s.engine == Postgres {
		args := []any{now.UTC()}
		return s.ids(ctx, "WITH "+paymentsUpdate(&args, ps, history)+" SELECT id FROM u", args...)
	}
	var written []string
	err := s.together(ctx, true, func(s *Store) error {
		for _, p := range ps {
			ok, err := s.UpdatePayment(ctx, p, now, eventsOf(history, p.ID)...)
			if err != nil {
				return err
			}
			if ok {
				written = append(written, p.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return written, nil
}

// paymentsUpdate is UpdatePayments' statement on PostgreSQL as WITH
// clauses, u among them: the ids of the payments written. $1 is the
// time of the write, and the rows' arrays are appended to args.
func paymentsUpdate(args *[]any, ps []payment.Payment, history []payment.PaymentEvent) string {
	var set rows
	for _, p := range ps {
		set.add(p.ID, p.Version, string(p.Status), nullTime(p.ApprovedAt), nullString(p.PGPaymentKey), p.FailureCode, p.FailureMessage,
			p.ConfirmAttempt, nullTime(p.ConfirmSentAt), nullTime(p.RefundDecidedAt), p.RefundedAmount.Amount)
	}
	q := `v (id, version, status, approved_at, pg_payment_key, failure_code, failure_message, confirm_attempt, confirm_sent_at,
    refund_decided_at, refunded_amount) AS (SELECT * FROM ` + set.unnest(args, []string{"text", "bigint", "text", "timestamptz", "text", "text", "text",
		"bigint", "timestamptz", "timestamptz", "bigint"}) + `),
u AS (UPDATE payments p SET status = v.status, approved_at = v.approved_at, pg_payment_key = v.pg_payment_key,
    failure_code = v.failure_code, failure_message = v.failure_message, confirm_attempt = v.confirm_attempt,
    confirm_sent_at = v.confirm_sent_at, refund_decided_at = v.refund_decided_at, refunded_amount = v.refunded_amount,
    version = p.version + 1, updated_at = $1
  FROM v WHERE p.id = v.id AND p.version = v.version RETURNING p.id)`
	if len(history) > 0 {
		events := eventRows(history)
		q += `, e AS (INSERT INTO payment_events (` + eventColumns + `) SELECT e.* FROM ` + events.unnest(args, eventTypes) +
			` AS e (` + eventColumns + `) WHERE e.payment_id IN (SELECT id FROM u))`
	}
	return q
}

// SettleCardPayments implements payment.Store. On PostgreSQL it is one
// statement, as PayFromWallets is: the payments' UPDATE fenced by their
// versions (with the events of those written), the orders' by their
// status and the keys' by their owners; the ledger rows, inserted only
// when each of those wrote all it was given; and at its end the check
// that fails the statement, and with it everything it wrote, otherwise
// (pago_batch_as_read).
func (s *Store) SettleCardPayments(ctx context.Context, w payment.CardSettleWrite) (bool, error) {
	if s.tx != nil {
		return false, errors.New("settle card payments: inside a transaction (it commits on its own)")
	}
	if len(w.Payments) == 0 {
		return false, errors.New("settle card payments: no payment to settle")
	}
	if s.engine == Postgres {
		// Rows in id order (keys in key order), as LockPayments and
		// keyRows take them, so that two writers of the same rows wait
		// for each other rather than deadlock.
		w.Payments = slices.SortedFunc(slices.Values(w.Payments), func(a, b payment.Payment) int { return cmp.Compare(a.ID, b.ID) })
		w.Orders = sortedCopy(w.Orders)
		w.Answers = slices.SortedFunc(slices.Values(w.Answers), func(a, b payment.IdempotencyCompletion) int {
			return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Key, b.Key))
		})
		args := []any{w.Now.UTC()}
		q := "WITH " + paymentsUpdate(&args, w.Payments, w.Events)
		args = append(args, string(payment.OrderPaid), string(payment.OrderInDoubt), w.Orders)
		n := len(args)
		q += fmt.Sprintf(`, moved AS (UPDATE orders SET status = $%d, updated_at = $1 WHERE status = $%d AND id = ANY($%d::text[]) RETURNING 1)`, n-2, n-1, n)
		keys := "(SELECT 1 WHERE false) k"
		if len(w.Answers) > 0 {
			var vals rows
			for _, c := range w.Answers {
				vals.add(c.UserID, c.Key, c.Owner, string(c.Response))
			}
			q += `, k AS (UPDATE idempotency_keys k SET status = 'DONE', response = v.response, updated_at = $1
FROM ` + vals.unnest(&args, []string{"text", "text", "text", "text"}) + ` AS v (user_id, key, owner, response)
WHERE k.user_id = v.user_id AND k.key = v.key AND k.status = 'RUNNING' AND k.owner = v.owner RETURNING 1)`
			keys = "k"
		}
		args = append(args, len(w.Payments), len(w.Orders), len(w.Answers))
		n = len(args)
		q += fmt.Sprintf(`, whole AS (SELECT 1 WHERE (SELECT COUNT(*) FROM u) = $%d AND (SELECT COUNT(*) FROM moved) = $%d AND (SELECT COUNT(*) FROM %s) = $%d)`,
			n-2, n-1, keys, n)
		txs, entries := ledgerRows(w.Ledger...)
		q += `, t AS (INSERT INTO ledger_transactions (id, kind, order_id, description, created_at) SELECT v.* FROM ` + txs.unnest(&args, ledgerTransactionTypes) + ` v, whole)`
		q += `, le AS (INSERT INTO ledger_entries (id, transaction_id, account_id, amount, created_at) SELECT v.* FROM ` + entries.unnest(&args, ledgerEntryTypes) + ` v, whole)`
		q += ` SELECT pago_batch_as_read(EXISTS (SELECT 1 FROM whole))`
		_, err := s.db.DB.ExecContext(ctx, q, args...)
		if rolledBackAsRead(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("settle card payments: %w", dbErr(err, "card payment"))
		}
		return true, nil
	}
	err := s.InTx(ctx, func(q payment.Queries) error {
		asHeld, err := payment.WriteCardSettle(ctx, q, w)
		if err == nil && !asHeld {
			err = errNotAsRead
		}
		return err
	})
	if errors.Is(err, errNotAsRead) {
		return false, nil
	}
	return err == nil, err
}

// InsertLedgerTransactions implements payment.WalletQueries: on
// PostgreSQL one statement, the transactions and their entries.
func (s *Store) InsertLedgerTransactions(ctx context.Context, ts []payment.LedgerTransaction) error {
	if len(ts) == 0 {
		return nil
	}
	txs, entries := ledgerRows(ts...)
	if s.engine == Postgres && len(entries.args) > 0 {
		var args []any
		_, err := s.exec(ctx, `WITH t AS (INSERT INTO ledger_transactions (id, kind, order_id, description, created_at) SELECT * FROM `+
			txs.unnest(&args, ledgerTransactionTypes)+`)
INSERT INTO ledger_entries (id, transaction_id, account_id, amount, created_at) SELECT * FROM `+entries.unnest(&args, ledgerEntryTypes), args...)
		return dbErr(err, "row")
	}
	return s.together(ctx, true, func(s *Store) error {
		for _, t := range ts {
			if err := s.InsertLedgerTransaction(ctx, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// CompleteIdempotencyKeys implements payment.IdempotencyQueries: on
// PostgreSQL one UPDATE … FROM unnest(…), fenced by owner as the one-key
// form.
func (s *Store) CompleteIdempotencyKeys(ctx context.Context, cs []payment.IdempotencyCompletion, now time.Time) ([]int, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	if s.engine != Postgres {
		var done []int
		for i, c := range cs {
			ok, err := s.CompleteIdempotencyKey(ctx, c.UserID, c.Key, c.Owner, c.Response, now)
			if err != nil {
				return nil, err
			}
			if ok {
				done = append(done, i)
			}
		}
		return done, nil
	}
	var vals rows
	for i, c := range cs {
		vals.add(int64(i), c.UserID, c.Key, c.Owner, string(c.Response))
	}
	args := []any{now.UTC()}
	res, err := s.conn().QueryContext(ctx, `UPDATE idempotency_keys k SET status = 'DONE', response = v.response, updated_at = $1
FROM `+vals.unnest(&args, []string{"bigint", "text", "text", "text", "text"})+` AS v (i, user_id, key, owner, response)
WHERE k.user_id = v.user_id AND k.key = v.key AND k.status = 'RUNNING' AND k.owner = v.owner
RETURNING v.i`, args...)
	if err != nil {
		return nil, fmt.Errorf("complete idempotency keys: %w", dbErr(err, "row"))
	}
	defer res.Close()
	var done []int
	for res.Next() {
		var i int64
		if err := res.Scan(&i); err != nil {
			return nil, dbErr(err, "row")
		}
		done = append(done, int(i))
	}
	return done, dbErr(res.Err(), "row")
}

// EnqueuePaymentProbes implements payment.OrderQueries: one insert of
// every probe (see EnqueuePaymentProbe).
func (s *Store) EnqueuePaymentProbes(ctx context.Context, paymentIDs []string, at time.Time) error {
	if len(paymentIDs) == 0 {
		return nil
	}
	if s.jobs == nil {
		return errors.New("insert jobs: job queue not started")
	}
	params := make([]river.InsertManyParams, len(paymentIDs))
	for i, id := range paymentIDs {
		params[i] = river.InsertManyParams{Args: worker.ProbePaymentArgs{PaymentID: id},
			InsertOpts: &river.InsertOpts{ScheduledAt: at, MaxAttempts: worker.ProbeMaxAttempts}}
	}
	var err error
	if s.tx != nil {
		_, err = s.jobs.InsertManyTx(ctx, s.tx.Tx, params)
	} else {
		_, err = s.jobs.InsertMany(ctx, params)
	}
	if err != nil {
		return fmt.Errorf("insert %d %s jobs: %w", len(paymentIDs), worker.ProbePaymentArgs{}.Kind(), err)
	}
	return nil
}

// ids runs a statement answering one id per row.
func (s *Store) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	res, err := s.conn().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err, "row")
	}
	defer res.Close()
	var out []string
	for res.Next() {
		var id string
		if err := res.Scan(&id); err != nil {
			return nil, dbErr(err, "row")
		}
		out = append(out, id)
	}
	return out, dbErr(res.Err(), "row")
}

// eventsOf is the events of one payment among history.
func eventsOf(history []payment.PaymentEvent, paymentID string) []payment.PaymentEvent {
	var out []payment.PaymentEvent
	for _, e := range history {
		if e.PaymentID == paymentID {
			out = append(out, e)
		}
	}
	return out
}

func sortedCopy(ids []string) []string {
	out := append([]string(nil), ids...)
	slices.Sort(out)
	return slices.Compact(out)
}
