-- name: UpsertProduct :one
-- A new SKU is inserted; an existing one gets the new name, price and stock,
-- and supplied moves by the change in stock, so stock + held = supplied holds.
INSERT INTO products (id, sku, name, price, currency, stock, supplied, created_at, updated_at)
VALUES (sqlc.arg(id), sqlc.arg(sku), sqlc.arg(name), sqlc.arg(price), sqlc.arg(currency), sqlc.arg(stock), sqlc.arg(stock),
        sqlc.arg(now), sqlc.arg(now))
ON CONFLICT (sku) DO UPDATE
SET name = excluded.name, price = excluded.price, currency = excluded.currency,
    supplied = products.supplied + excluded.stock - products.stock,
    stock = excluded.stock, updated_at = excluded.updated_at
RETURNING id, sku, name, price, currency, stock, supplied, created_at, updated_at;

-- name: ListProducts :many
SELECT id, sku, name, price, currency, stock, supplied, created_at, updated_at FROM products ORDER BY sku;

-- name: GetProduct :one
SELECT id, sku, name, price, currency, stock, supplied, created_at, updated_at FROM products WHERE id = sqlc.arg(id);

-- name: TakeStock :execrows
-- One conditional UPDATE per item: no read-then-write, so stock cannot go negative.
UPDATE products SET stock = stock - sqlc.arg(quantity), updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND stock >= sqlc.arg(quantity);

-- name: ReturnStock :exec
UPDATE products SET stock = stock + sqlc.arg(quantity), updated_at = sqlc.arg(now) WHERE id = sqlc.arg(id);

-- name: InsertOrder :exec
INSERT INTO orders (id, user_id, kind, status, name, amount, currency, refunded_amount, expires_at, created_at, updated_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(kind), 'PENDING', sqlc.arg(name), sqlc.arg(amount), sqlc.arg(currency), 0,
        sqlc.arg(expires_at), sqlc.arg(created_at), sqlc.arg(created_at));

-- name: InsertOrderItem :exec
INSERT INTO order_items (order_id, product_id, name, quantity, unit_price)
VALUES (sqlc.arg(order_id), sqlc.arg(product_id), sqlc.arg(name), sqlc.arg(quantity), sqlc.arg(unit_price));

-- name: GetOrder :many
-- The order with its lines, one row per line (one row with NULL line
-- columns for an order without lines): one round trip for both.
SELECT o.id, o.user_id, o.kind, o.status, o.name, o.amount, o.currency, o.refunded_amount, o.expires_at, o.created_at, o.updated_at,
       i.product_id AS item_product_id, i.name AS item_name, i.quantity AS item_quantity, i.unit_price AS item_unit_price
FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
WHERE o.id = sqlc.arg(id)
ORDER BY i.product_id;

-- name: ListOrders :many
-- Newest first; an empty user_id lists everyone's (operators), an empty
-- status every status; before is the id cursor (exclusive).
SELECT id, user_id, kind, status, name, amount, currency, refunded_amount, expires_at, created_at, updated_at
FROM orders
WHERE (CAST(sqlc.arg(user_id) AS TEXT) = '' OR user_id = sqlc.arg(user_id))
  AND (CAST(sqlc.arg(status) AS TEXT) = '' OR status = sqlc.arg(status))
  AND id < sqlc.arg(before)
ORDER BY id DESC
LIMIT sqlc.arg(lim);

-- name: OpenOrderUsage :one
-- A user's PENDING orders and the units they hold, in one read: the caps
-- on unpaid orders are checked on every createOrder.
SELECT CAST(COUNT(DISTINCT o.id) AS BIGINT) AS orders, CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT) AS units
FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
WHERE o.user_id = sqlc.arg(user_id) AND o.status = 'PENDING';

-- name: TransitionOrder :execrows
-- Moves an order from one status to another; zero rows means it was not in
-- the expected status (another request got there first).
UPDATE orders SET status = sqlc.arg(to_status), updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND status = sqlc.arg(from_status);

-- name: ExpireOrder :execrows
UPDATE orders SET status = 'EXPIRED', updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND status = 'PENDING' AND expires_at <= sqlc.arg(now);

-- name: InsertPayment :exec
INSERT INTO payments (id, order_id, method, status, amount, refunded_amount, pg_payment_key, pg_idempotency_key, approved_at, version,
                      created_at, updated_at, confirm_sent_at, wallet_amount)
VALUES (sqlc.arg(id), sqlc.arg(order_id), sqlc.arg(method), sqlc.arg(status), sqlc.arg(amount), 0, sqlc.narg(pg_payment_key),
        sqlc.narg(pg_idempotency_key), sqlc.narg(approved_at), 0, sqlc.arg(created_at), sqlc.arg(created_at), sqlc.narg(confirm_sent_at),
        sqlc.arg(wallet_amount));

-- name: GetPayment :one
SELECT id, order_id, method, status, amount, refunded_amount, pg_payment_key, approved_at, version, created_at, updated_at, pg_idempotency_key,
       failure_code, failure_message, confirm_attempt, confirm_sent_at, refund_decided_at, wallet_amount
FROM payments WHERE id = sqlc.arg(id);

-- name: ListPaymentsByOrder :many
SELECT id, order_id, method, status, amount, refunded_amount, pg_payment_key, approved_at, version, created_at, updated_at, pg_idempotency_key,
       failure_code, failure_message, confirm_attempt, confirm_sent_at, refund_decided_at, wallet_amount
FROM payments WHERE order_id = sqlc.arg(order_id) ORDER BY id;

-- name: InsertPaymentEvent :exec
INSERT INTO payment_events (id, payment_id, from_status, to_status, source, code, message, detail, created_at)
VALUES (sqlc.arg(id), sqlc.arg(payment_id), sqlc.arg(from_status), sqlc.arg(to_status), sqlc.arg(source), sqlc.arg(code),
        sqlc.arg(message), sqlc.arg(detail), sqlc.arg(created_at));

-- name: ListPaymentEvents :many
SELECT id, payment_id, from_status, to_status, source, detail, created_at, code, message
FROM payment_events WHERE payment_id = sqlc.arg(payment_id) ORDER BY id;

-- name: GetPaymentByPGKey :one
SELECT id, order_id, method, status, amount, refunded_amount, pg_payment_key, approved_at, version, created_at, updated_at, pg_idempotency_key,
       failure_code, failure_message, confirm_attempt, confirm_sent_at, refund_decided_at, wallet_amount
FROM payments WHERE pg_payment_key = sqlc.arg(pg_payment_key);

-- name: LockPayment :one
-- Reads a payment and holds its row lock to the end of the transaction: a
-- no-op write, because SQLite has no SELECT … FOR UPDATE and the write lock
-- is what serialises on both engines.
UPDATE payments SET version = version WHERE id = sqlc.arg(id)
RETURNING id, order_id, method, status, amount, refunded_amount, pg_payment_key, approved_at, version, created_at, updated_at, pg_idempotency_key,
       failure_code, failure_message, confirm_attempt, confirm_sent_at, refund_decided_at, wallet_amount;

-- name: UpdatePayment :execrows
-- Writes what the state machine decided about a payment read under its
-- row lock; zero rows means its version moved (someone else wrote it).
UPDATE payments
SET status = sqlc.arg(status), approved_at = sqlc.narg(approved_at), pg_payment_key = sqlc.narg(pg_payment_key),
    failure_code = sqlc.arg(failure_code), failure_message = sqlc.arg(failure_message),
    confirm_attempt = sqlc.arg(confirm_attempt), confirm_sent_at = sqlc.narg(confirm_sent_at),
    refund_decided_at = sqlc.narg(refund_decided_at), refunded_amount = sqlc.arg(refunded_amount),
    version = version + 1, updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version);

-- name: ListPaymentsByStatus :many
SELECT id, order_id, method, status, amount, refunded_amount, pg_payment_key, approved_at, version, created_at, updated_at, pg_idempotency_key,
       failure_code, failure_message, confirm_attempt, confirm_sent_at, refund_decided_at, wallet_amount
FROM payments WHERE status = sqlc.arg(status) AND id < sqlc.arg(before) ORDER BY id DESC LIMIT sqlc.arg(lim);
