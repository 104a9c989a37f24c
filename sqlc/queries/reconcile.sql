-- Reconciliation: runs, mismatches and the settlement lines pago booked.

-- name: StartReconciliationRun :one
-- One row per sold date: a re-run takes the same row back to RUNNING.
INSERT INTO reconciliation_runs (id, sold_date, status, started_at)
VALUES (sqlc.arg(id), sqlc.arg(sold_date), 'RUNNING', sqlc.arg(started_at))
ON CONFLICT (sold_date) DO UPDATE
SET status = 'RUNNING', started_at = excluded.started_at, finished_at = NULL, error = ''
RETURNING id, sold_date, status, started_at, finished_at, checked, matched, mismatch_count, auto_fixed,
          clearing_balance, pg_owes, error;

-- name: FinishReconciliationRun :exec
UPDATE reconciliation_runs
SET status = sqlc.arg(status), finished_at = sqlc.arg(finished_at), checked = sqlc.arg(checked),
    matched = sqlc.arg(matched), mismatch_count = sqlc.arg(mismatch_count), auto_fixed = sqlc.arg(auto_fixed),
    clearing_balance = sqlc.arg(clearing_balance), pg_owes = sqlc.arg(pg_owes), error = sqlc.arg(error)
WHERE id = sqlc.arg(id);

-- name: GetReconciliationRun :one
SELECT id, sold_date, status, started_at, finished_at, checked, matched, mismatch_count, auto_fixed,
       clearing_balance, pg_owes, error
FROM reconciliation_runs WHERE id = sqlc.arg(id);

-- name: ListReconciliationRuns :many
-- Newest sold date first; before is the date cursor (exclusive).
SELECT id, sold_date, status, started_at, finished_at, checked, matched, mismatch_count, auto_fixed,
       clearing_balance, pg_owes, error
FROM reconciliation_runs
WHERE sold_date < sqlc.arg(before)
ORDER BY sold_date DESC
LIMIT sqlc.arg(lim);

-- name: UpsertMismatch :exec
-- The same difference found again is the same row: a re-run refreshes what
-- it saw, and changes the class only of an item still open (an operator's
-- resolution stands).
INSERT INTO reconciliation_mismatches (id, run_id, sold_date, kind, class, status, rule, order_id, payment_key,
    transaction_key, pago_amount, pg_amount, detail, last_seen_run, resolution, resolved_by, resolved_at, created_at, updated_at)
VALUES (sqlc.arg(id), sqlc.arg(run_id), sqlc.arg(sold_date), sqlc.arg(kind), sqlc.arg(class), sqlc.arg(status),
    sqlc.arg(rule), sqlc.narg(order_id), sqlc.arg(payment_key), sqlc.arg(transaction_key), sqlc.narg(pago_amount),
    sqlc.narg(pg_amount), sqlc.arg(detail), sqlc.arg(last_seen_run), sqlc.narg(resolution), sqlc.narg(resolved_by),
    sqlc.narg(resolved_at), sqlc.arg(now), sqlc.arg(now))
ON CONFLICT (sold_date, kind, payment_key, transaction_key) DO UPDATE
SET last_seen_run = excluded.last_seen_run, updated_at = excluded.updated_at,
    class = CASE WHEN reconciliation_mismatches.status = 'OPEN' THEN excluded.class ELSE reconciliation_mismatches.class END,
    rule = CASE WHEN reconciliation_mismatches.status = 'OPEN' THEN excluded.rule ELSE reconciliation_mismatches.rule END,
    detail = CASE WHEN reconciliation_mismatches.status = 'OPEN' THEN excluded.detail ELSE reconciliation_mismatches.detail END,
    pago_amount = CASE WHEN reconciliation_mismatches.status = 'OPEN' THEN excluded.pago_amount ELSE reconciliation_mismatches.pago_amount END,
    pg_amount = CASE WHEN reconciliation_mismatches.status = 'OPEN' THEN excluded.pg_amount ELSE reconciliation_mismatches.pg_amount END,
    resolution = CASE WHEN reconciliation_mismatches.status = 'OPEN' THEN excluded.resolution ELSE reconciliation_mismatches.resolution END,
    resolved_by = CASE WHEN reconciliation_mismatches.status = 'OPEN' THEN excluded.resolved_by ELSE reconciliation_mismatches.resolved_by END,
    resolved_at = CASE WHEN reconciliation_mismatches.status = 'OPEN' THEN excluded.resolved_at ELSE reconciliation_mismatches.resolved_at END,
    status = CASE WHEN reconciliation_mismatches.status = 'OPEN' THEN excluded.status ELSE reconciliation_mismatches.status END;

-- name: ResolveUnseenMismatches :execrows
-- Open items of the date that this run no longer finds: the difference is gone.
UPDATE reconciliation_mismatches
SET status = 'RESOLVED', resolution = sqlc.arg(resolution), resolved_by = 'reconciliation',
    resolved_at = sqlc.arg(now), updated_at = sqlc.arg(now)
WHERE sold_date = sqlc.arg(sold_date) AND status = 'OPEN' AND last_seen_run <> sqlc.arg(last_seen_run);

-- name: GetMismatch :one
SELECT id, run_id, sold_date, kind, class, status, rule, order_id, payment_key, transaction_key, pago_amount,
       pg_amount, detail, resolution, resolved_by, resolved_at, created_at, updated_at
FROM reconciliation_mismatches WHERE id = sqlc.arg(id);

-- name: ListMismatches :many
-- Newest first; an empty status, class or sold date means all; before is the
-- id cursor (exclusive).
SELECT id, run_id, sold_date, kind, class, status, rule, order_id, payment_key, transaction_key, pago_amount,
       pg_amount, detail, resolution, resolved_by, resolved_at, created_at, updated_at
FROM reconciliation_mismatches
WHERE (CAST(sqlc.arg(status) AS TEXT) = '' OR status = sqlc.arg(status))
  AND (CAST(sqlc.arg(class) AS TEXT) = '' OR class = sqlc.arg(class))
  AND (CAST(sqlc.arg(sold_date) AS TEXT) = '' OR sold_date = sqlc.arg(sold_date))
  AND id < sqlc.arg(before)
ORDER BY id DESC
LIMIT sqlc.arg(lim);

-- name: ResolveMismatch :execrows
UPDATE reconciliation_mismatches
SET status = 'RESOLVED', resolution = sqlc.arg(resolution), resolved_by = sqlc.arg(resolved_by),
    resolved_at = sqlc.arg(now), updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND status = 'OPEN';

-- name: CountMismatches :many
-- Items by class, kind and status; an empty sold date counts every date.
SELECT class, kind, status, CAST(COUNT(*) AS BIGINT) AS n
FROM reconciliation_mismatches
WHERE CAST(sqlc.arg(sold_date) AS TEXT) = '' OR sold_date = sqlc.arg(sold_date)
GROUP BY class, kind, status;

-- name: InsertSettlementLine :execrows
-- A line is booked once: the insert that wins is the one whose fee posting commits.
INSERT INTO settlement_lines (payment_key, transaction_key, sold_date, order_id, amount, fee, pay_out, paid_out_date,
    pago_ledger_tx, fee_ledger_tx, created_at)
VALUES (sqlc.arg(payment_key), sqlc.arg(transaction_key), sqlc.arg(sold_date), sqlc.arg(order_id), sqlc.arg(amount),
    sqlc.arg(fee), sqlc.arg(pay_out), sqlc.arg(paid_out_date), sqlc.narg(pago_ledger_tx), sqlc.narg(fee_ledger_tx),
    sqlc.arg(created_at))
ON CONFLICT (payment_key, transaction_key) DO NOTHING;

-- name: GetSettlementLine :one
SELECT payment_key, transaction_key, sold_date, order_id, amount, fee, pay_out, paid_out_date, pago_ledger_tx,
       fee_ledger_tx, payout_ledger_tx, created_at
FROM settlement_lines WHERE payment_key = sqlc.arg(payment_key) AND transaction_key = sqlc.arg(transaction_key);

-- name: ListSettlementLinesByPayment :many
SELECT payment_key, transaction_key, sold_date, order_id, amount, fee, pay_out, paid_out_date, pago_ledger_tx,
       fee_ledger_tx, payout_ledger_tx, created_at
FROM settlement_lines WHERE payment_key = sqlc.arg(payment_key) ORDER BY created_at, transaction_key;

-- name: SetSettlementPayout :execrows
-- The payout is booked once: only while none is recorded.
UPDATE settlement_lines SET payout_ledger_tx = sqlc.arg(payout_ledger_tx)
WHERE payment_key = sqlc.arg(payment_key) AND transaction_key = sqlc.arg(transaction_key) AND payout_ledger_tx IS NULL;

-- name: SoldDatesWithPayoutsDue :many
SELECT DISTINCT sold_date FROM settlement_lines
WHERE payout_ledger_tx IS NULL AND paid_out_date <= sqlc.arg(today)
ORDER BY sold_date;

-- name: ClearingByPaymentKey :many
-- For each PG payment key with booked lines (of one sold date, or all when
-- empty): what the PG-clearing account holds for it (pago's own postings the
-- lines matched, plus fees and payouts) and what the PG still owes for it
-- (payouts not yet paid out). After a clean run, clearing = -owed.
SELECT k.payment_key,
       CAST(COALESCE((SELECT SUM(e.amount) FROM ledger_entries e
                      WHERE e.account_id = 'acc_pg_clearing' AND e.transaction_id IN (
                          SELECT l.pago_ledger_tx FROM settlement_lines l WHERE l.payment_key = k.payment_key
                          UNION SELECT l.fee_ledger_tx FROM settlement_lines l WHERE l.payment_key = k.payment_key
                          UNION SELECT l.payout_ledger_tx FROM settlement_lines l WHERE l.payment_key = k.payment_key)), 0) AS BIGINT) AS clearing,
       CAST((SELECT COALESCE(SUM(l.pay_out), 0) FROM settlement_lines l
             WHERE l.payment_key = k.payment_key AND l.payout_ledger_tx IS NULL) AS BIGINT) AS owed
FROM (SELECT DISTINCT payment_key FROM settlement_lines
      WHERE CAST(sqlc.arg(sold_date) AS TEXT) = '' OR sold_date = sqlc.arg(sold_date)) k
ORDER BY k.payment_key;

-- name: ListCardPaymentsApproved :many
-- Card payments the PG approved in [from, until): what pago expects to see settled.
SELECT id, order_id, method, status, amount, refunded_amount, pg_payment_key, pg_idempotency_key, approved_at,
       version, created_at, updated_at
FROM payments
WHERE method IN ('CARD', 'SPLIT') AND approved_at >= sqlc.arg(approved_from) AND approved_at < sqlc.arg(approved_until)
ORDER BY id;

-- name: OrderClearingPostings :many
-- pago's ledger transactions of an order that moved the PG-clearing account.
SELECT t.id, t.kind, CAST(SUM(e.amount) AS BIGINT) AS clearing
FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
WHERE t.order_id = sqlc.arg(order_id) AND e.account_id = 'acc_pg_clearing'
GROUP BY t.id, t.kind
ORDER BY t.id;
