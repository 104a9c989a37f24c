-- Batch reads for the GraphQL loaders: one query per list instead of one per
-- row. The ids arrive as one string of concatenated 30-character ids (every
-- pago id is NewID's prefix_ + 26 characters), split by a recursive CTE:
-- the only list parameter written the same way on PostgreSQL and SQLite.
-- PostgreSQL runs its own forms of these (postgres/batch.sql, an id array),
-- which it plans through the indexes; SQLite runs these.

-- name: ListPaymentsByOrders :many
WITH RECURSIVE ids (id, rest) AS (
    SELECT substr(CAST(sqlc.arg(order_ids) AS TEXT), 1, 30), substr(CAST(sqlc.arg(order_ids) AS TEXT), 31)
    UNION ALL
    SELECT substr(rest, 1, 30), substr(rest, 31) FROM ids WHERE rest <> ''
)
SELECT payments.* FROM payments
WHERE payments.order_id IN (SELECT ids.id FROM ids)
ORDER BY payments.order_id, payments.id;

-- name: ListPaymentEventsByPayments :many
WITH RECURSIVE ids (id, rest) AS (
    SELECT substr(CAST(sqlc.arg(payment_ids) AS TEXT), 1, 30), substr(CAST(sqlc.arg(payment_ids) AS TEXT), 31)
    UNION ALL
    SELECT substr(rest, 1, 30), substr(rest, 31) FROM ids WHERE rest <> ''
)
SELECT payment_events.* FROM payment_events
WHERE payment_events.payment_id IN (SELECT ids.id FROM ids)
ORDER BY payment_events.payment_id, payment_events.id;

-- name: ListOrdersByIDs :many
-- A batch of wallet payments reads its orders at once, each with its lines
-- as GetOrder reads one.
WITH RECURSIVE ids (id, rest) AS (
    SELECT substr(CAST(sqlc.arg(order_ids) AS TEXT), 1, 30), substr(CAST(sqlc.arg(order_ids) AS TEXT), 31)
    UNION ALL
    SELECT substr(rest, 1, 30), substr(rest, 31) FROM ids WHERE rest <> ''
)
SELECT o.id, o.user_id, o.kind, o.status, o.name, o.amount, o.currency, o.refunded_amount, o.expires_at, o.created_at, o.updated_at,
       i.product_id AS item_product_id, i.name AS item_name, i.quantity AS item_quantity, i.unit_price AS item_unit_price
FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
WHERE o.id IN (SELECT ids.id FROM ids)
ORDER BY o.id, i.product_id;
