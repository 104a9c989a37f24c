-- name: InsertRefund :exec
INSERT INTO refunds (id, payment_id, order_id, method, amount, currency, status, reason, requested_by, attempt, version,
                     created_at, updated_at)
VALUES (sqlc.arg(id), sqlc.arg(payment_id), sqlc.arg(order_id), sqlc.arg(method), sqlc.arg(amount), sqlc.arg(currency),
        'PENDING', sqlc.arg(reason), sqlc.arg(requested_by), 0, 0, sqlc.arg(created_at), sqlc.arg(created_at));

-- name: GetRefund :one
SELECT id, payment_id, order_id, method, amount, currency, status, reason, requested_by, attempt, sent_at, pg_transaction_key,
       ledger_transaction_id, failure_code, version, created_at, updated_at, completed_at
FROM refunds WHERE id = sqlc.arg(id);

-- name: ListRefundsByPayment :many
SELECT id, payment_id, order_id, method, amount, currency, status, reason, requested_by, attempt, sent_at, pg_transaction_key,
       ledger_transaction_id, failure_code, version, created_at, updated_at, completed_at
FROM refunds WHERE payment_id = sqlc.arg(payment_id) ORDER BY id;

-- name: UpdateRefund :execrows
-- Writes a refund read under its payment's row lock; zero rows means its
-- version moved (written without that lock: a bug).
UPDATE refunds
SET status = sqlc.arg(status), attempt = sqlc.arg(attempt), sent_at = sqlc.narg(sent_at),
    pg_transaction_key = sqlc.narg(pg_transaction_key), ledger_transaction_id = sqlc.narg(ledger_transaction_id),
    failure_code = sqlc.arg(failure_code), completed_at = sqlc.narg(completed_at),
    version = version + 1, updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version);

-- name: RefundOrder :execrows
-- Counts a refund on its order and moves the order's status, conditional
-- on the status read (PAID or PARTIALLY_REFUNDED); the CHECK keeps the
-- refunded amount within the order's.
UPDATE orders SET status = sqlc.arg(to_status), refunded_amount = refunded_amount + sqlc.arg(amount), updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND status = sqlc.arg(from_status);

-- name: CreditWalletPastLimit :execrows
-- A refund to the wallet: conditional on the version read only. The
-- ceiling limits what a customer may charge, not what pago owes back.
UPDATE wallets
SET balance = balance + sqlc.arg(amount), version = version + 1, updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version);

-- name: InsertHold :exec
INSERT INTO wallet_holds (id, wallet_id, payment_id, order_id, amount, status, hold_transaction_id, created_at)
VALUES (sqlc.arg(id), sqlc.arg(wallet_id), sqlc.arg(payment_id), sqlc.arg(order_id), sqlc.arg(amount), 'OPEN',
        sqlc.arg(hold_transaction_id), sqlc.arg(created_at));

-- name: ListHoldsByOrder :many
SELECT id, wallet_id, payment_id, order_id, amount, status, hold_transaction_id, created_at, resolved_at
FROM wallet_holds WHERE order_id = sqlc.arg(order_id) ORDER BY id;

-- name: ResolveHold :execrows
-- A hold resolves exactly once: zero rows means it was not OPEN any more.
UPDATE wallet_holds SET status = sqlc.arg(status), resolved_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND status = 'OPEN';
