-- PostgreSQL's own forms of the batch reads in queries/batch.sql, compiled
-- into store/pgqueries. The portable form splits one string of ids with a
-- recursive CTE, which PostgreSQL estimates at about a hundred rows: next
-- to a table it believes small (statistics lag while tables grow) that
-- plans a sequential scan of the whole table for every batch. An id array
-- (= ANY) is estimated as a few rows and read through the index.

-- name: ListPaymentsByOrders :many
SELECT * FROM payments
WHERE order_id = ANY(sqlc.arg(order_ids)::text[])
ORDER BY order_id, id;

-- name: ListPaymentEventsByPayments :many
SELECT * FROM payment_events
WHERE payment_id = ANY(sqlc.arg(payment_ids)::text[])
ORDER BY payment_id, id;

-- name: ListOrdersByIDs :many
SELECT o.id, o.user_id, o.kind, o.status, o.name, o.amount, o.currency, o.refunded_amount, o.expires_at, o.created_at, o.updated_at,
       i.product_id AS item_product_id, i.name AS item_name, i.quantity AS item_quantity, i.unit_price AS item_unit_price
FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
WHERE o.id = ANY(sqlc.arg(order_ids)::text[])
ORDER BY o.id, i.product_id;

-- name: LockPaymentsByIDs :many
-- Reads payments and holds their row locks to the end of the transaction,
-- taken in id order so two batches never wait for each other in a cycle.
SELECT * FROM payments
WHERE id = ANY(sqlc.arg(payment_ids)::text[])
ORDER BY id
FOR UPDATE;

-- name: ListPaymentsByPGKeys :many
SELECT * FROM payments
WHERE pg_payment_key = ANY(sqlc.arg(payment_keys)::text[])
ORDER BY pg_payment_key;

-- name: ListOrdersWithWalletsByIDs :many
-- A wallet batch's one read: its orders as ListOrdersByIDs reads them, each
-- row with the wallet of the order's owner (NULLs if the owner has none).
SELECT o.id, o.user_id, o.kind, o.status, o.name, o.amount, o.currency, o.refunded_amount, o.expires_at, o.created_at, o.updated_at,
       i.product_id AS item_product_id, i.name AS item_name, i.quantity AS item_quantity, i.unit_price AS item_unit_price,
       w.id AS wallet_id, w.account_id AS wallet_account_id, w.currency AS wallet_currency, w.balance AS wallet_balance,
       w.balance_limit AS wallet_balance_limit, w.version AS wallet_version, w.created_at AS wallet_created_at, w.updated_at AS wallet_updated_at
FROM orders o
LEFT JOIN order_items i ON i.order_id = o.id
LEFT JOIN wallets w ON w.user_id = o.user_id
WHERE o.id = ANY(sqlc.arg(order_ids)::text[])
ORDER BY o.id, i.product_id;
