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

-- name: GetOrder :one
SELECT id, user_id, kind, status, name, amount, currency, refunded_amount, expires_at, created_at, updated_at
FROM orders WHERE id = sqlc.arg(id);

-- name: ListOrderItems :many
SELECT order_id, product_id, name, quantity, unit_price FROM order_items WHERE order_id = sqlc.arg(order_id) ORDER BY product_id;

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

-- name: TransitionOrder :execrows
-- Moves an order from one status to another; zero rows means it was not in
-- the expected status (another request got there first).
UPDATE orders SET status = sqlc.arg(to_status), updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND status = sqlc.arg(from_status);

-- name: ExpireOrder :execrows
UPDATE orders SET status = 'EXPIRED', updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND status = 'PENDING' AND expires_at <= sqlc.arg(now);

-- name: InsertPayment :exec
INSERT INTO payments (id, order_id, method, status, amount, refunded_amount, pg_payment_key, pg_idempotency_key, approved_at, version, created_at, updated_at)
VALUES (sqlc.arg(id), sqlc.arg(order_id), sqlc.arg(method), sqlc.arg(status), sqlc.arg(amount), 0, sqlc.narg(pg_payment_key),
        sqlc.narg(pg_idempotency_key), sqlc.narg(approved_at), 0, sqlc.arg(created_at), sqlc.arg(created_at));

-- name: GetPayment :one
SELECT id, order_id, method, status, amount, refunded_amount, pg_payment_key, approved_at, version, created_at, updated_at, pg_idempotency_key
FROM payments WHERE id = sqlc.arg(id);

-- name: ListPaymentsByOrder :many
SELECT id, order_id, method, status, amount, refunded_amount, pg_payment_key, approved_at, version, created_at, updated_at, pg_idempotency_key
FROM payments WHERE order_id = sqlc.arg(order_id) ORDER BY id;

-- name: InsertPaymentEvent :exec
INSERT INTO payment_events (id, payment_id, from_status, to_status, source, detail, created_at)
VALUES (sqlc.arg(id), sqlc.arg(payment_id), sqlc.arg(from_status), sqlc.arg(to_status), sqlc.arg(source), sqlc.arg(detail), sqlc.arg(created_at));

-- name: ListPaymentEvents :many
SELECT id, payment_id, from_status, to_status, source, detail, created_at
FROM payment_events WHERE payment_id = sqlc.arg(payment_id) ORDER BY id;

-- name: GetPaymentByPGKey :one
SELECT id, order_id, method, status, amount, refunded_amount, pg_payment_key, approved_at, version, created_at, updated_at, pg_idempotency_key
FROM payments WHERE pg_payment_key = sqlc.arg(pg_payment_key);

-- name: TransitionPayment :execrows
-- Moves a payment between statuses of its state machine; zero rows means it
-- was not in from (another path settled it first).
UPDATE payments
SET status = sqlc.arg(to_status), approved_at = COALESCE(sqlc.narg(approved_at), approved_at),
    version = version + 1, updated_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND status = sqlc.arg(from_status);

-- name: ListPaymentsByStatus :many
SELECT id, order_id, method, status, amount, refunded_amount, pg_payment_key, approved_at, version, created_at, updated_at, pg_idempotency_key
FROM payments WHERE status = sqlc.arg(status) AND id < sqlc.arg(before) ORDER BY id DESC LIMIT sqlc.arg(lim);
