-- name: InsertLedgerAccount :exec
INSERT INTO ledger_accounts (id, kind, currency, created_at)
VALUES (sqlc.arg(id), sqlc.arg(kind), sqlc.arg(currency), sqlc.arg(created_at));

-- name: InsertWalletIfAbsent :execrows
-- One wallet per user: the unique user_id makes concurrent creation yield one.
INSERT INTO wallets (id, user_id, account_id, currency, balance, balance_limit, version, created_at, updated_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(account_id), sqlc.arg(currency), 0, sqlc.arg(balance_limit), 0,
        sqlc.arg(created_at), sqlc.arg(created_at))
ON CONFLICT (user_id) DO NOTHING;

-- name: GetWalletByUser :one
SELECT id, user_id, account_id, currency, balance, balance_limit, version, created_at, updated_at
FROM wallets WHERE user_id = sqlc.arg(user_id);

-- name: GetWallet :one
SELECT id, user_id, account_id, currency, balance, balance_limit, version, created_at, updated_at
FROM wallets WHERE id = sqlc.arg(id);

-- name: DebitWallet :execrows
-- Conditional on the balance covering the debit and on the version read:
-- a lock that lapsed mid-operation costs a retry, never money.
UPDATE wallets
SET balance = balance - sqlc.arg(amount), version = version + 1, updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version) AND balance >= sqlc.arg(amount);

-- name: CreditWallet :execrows
-- Conditional on staying within the ceiling and on the version read.
UPDATE wallets
SET balance = balance + sqlc.arg(amount), version = version + 1, updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version) AND balance + sqlc.arg(amount) <= balance_limit;

-- name: InsertWalletTransaction :exec
INSERT INTO wallet_transactions (id, wallet_id, seq, type, amount, balance_after, order_id, ledger_transaction_id, reason, created_at)
VALUES (sqlc.arg(id), sqlc.arg(wallet_id), sqlc.arg(seq), sqlc.arg(type), sqlc.arg(amount), sqlc.arg(balance_after),
        sqlc.narg(order_id), sqlc.arg(ledger_transaction_id), sqlc.narg(reason), sqlc.arg(created_at));

-- name: ListWalletTransactions :many
-- Newest first; before is the seq cursor (exclusive).
-- A HOLD carries its hold's status (OPEN, POSTED, RELEASED).
SELECT t.id, t.wallet_id, t.seq, t.type, t.amount, t.balance_after, t.order_id, t.ledger_transaction_id, t.reason, t.created_at,
       h.status AS hold_status
FROM wallet_transactions t LEFT JOIN wallet_holds h ON h.hold_transaction_id = t.id
WHERE t.wallet_id = sqlc.arg(wallet_id) AND t.seq < sqlc.arg(before)
ORDER BY t.seq DESC
LIMIT sqlc.arg(lim);

-- name: InsertLedgerTransaction :exec
INSERT INTO ledger_transactions (id, kind, order_id, description, created_at)
VALUES (sqlc.arg(id), sqlc.arg(kind), sqlc.narg(order_id), sqlc.arg(description), sqlc.arg(created_at));

-- name: InsertLedgerEntry :exec
INSERT INTO ledger_entries (id, transaction_id, account_id, amount, created_at)
VALUES (sqlc.arg(id), sqlc.arg(transaction_id), sqlc.arg(account_id), sqlc.arg(amount), sqlc.arg(created_at));
