-- Invariant checks for `pago verify`: each query returns the violations.

-- name: UnbalancedLedgerTransactions :many
SELECT transaction_id, CAST(SUM(amount) AS BIGINT) AS total
FROM ledger_entries GROUP BY transaction_id HAVING SUM(amount) <> 0;

-- name: WalletsOffLedger :many
-- Wallets whose stored balance differs from the sum of their account's
-- entries less their open holds (a hold leaves the balance at once and
-- reaches the ledger when it is posted).
SELECT w.id, w.balance, CAST(COALESCE(e.total, 0) AS BIGINT) AS ledger_total, CAST(COALESCE(h.held, 0) AS BIGINT) AS held
FROM wallets w
LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM ledger_entries GROUP BY account_id) e ON e.account_id = w.account_id
LEFT JOIN (SELECT wallet_id, SUM(amount) AS held FROM wallet_holds WHERE status = 'OPEN' GROUP BY wallet_id) h ON h.wallet_id = w.id
WHERE w.balance <> COALESCE(e.total, 0) - COALESCE(h.held, 0);

-- name: WalletsOffHistory :many
-- Wallets whose balance differs from their latest wallet transaction's balance_after.
SELECT w.id, w.balance, CAST(COALESCE(t.balance_after, 0) AS BIGINT) AS history_balance
FROM wallets w
LEFT JOIN wallet_transactions t ON t.wallet_id = w.id AND t.seq = (SELECT MAX(seq) FROM wallet_transactions x WHERE x.wallet_id = w.id)
WHERE w.balance <> COALESCE(t.balance_after, 0);

-- name: StockMismatches :many
-- Products where stock plus the units held by live orders is not what was
-- supplied. A REFUNDED order has given its stock back.
SELECT p.id, p.stock, p.supplied, CAST(COALESCE(h.held, 0) AS BIGINT) AS held
FROM products p
LEFT JOIN (
    SELECT i.product_id, SUM(i.quantity) AS held
    FROM order_items i JOIN orders o ON o.id = i.order_id
    WHERE o.status IN ('PENDING', 'IN_DOUBT', 'PAID', 'PARTIALLY_REFUNDED')
    GROUP BY i.product_id
) h ON h.product_id = p.id
WHERE p.stock + COALESCE(h.held, 0) <> p.supplied;

-- name: PaidOrdersWithoutPayment :many
-- Orders counted as paid whose DONE payments do not add up to the amount.
SELECT o.id, o.amount, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS paid
FROM orders o
LEFT JOIN payments p ON p.order_id = o.id AND p.status IN ('DONE', 'PARTIALLY_CANCELED', 'CANCELED')
WHERE o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')
GROUP BY o.id, o.amount
HAVING COALESCE(SUM(p.amount), 0) <> o.amount;

-- name: UnpaidOrdersWithPayment :many
-- Orders not counted as paid that nevertheless have a DONE payment.
SELECT o.id, o.status, p.id AS payment_id
FROM orders o JOIN payments p ON p.order_id = o.id
WHERE p.status = 'DONE' AND o.status NOT IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED');

-- name: ClearingOffSettlement :many
-- PG payment keys whose booked settlement lines leave PG clearing holding
-- something other than what the PG still owes for them (payouts not yet
-- paid out): pago's postings the lines matched, plus fees and payouts, must
-- sum to minus what is owed.
SELECT k.payment_key,
       CAST(COALESCE((SELECT SUM(e.amount) FROM ledger_entries e
                      WHERE e.account_id = 'acc_pg_clearing' AND e.transaction_id IN (
                          SELECT l.pago_ledger_tx FROM settlement_lines l WHERE l.payment_key = k.payment_key
                          UNION SELECT l.fee_ledger_tx FROM settlement_lines l WHERE l.payment_key = k.payment_key
                          UNION SELECT l.payout_ledger_tx FROM settlement_lines l WHERE l.payment_key = k.payment_key)), 0) AS BIGINT) AS clearing,
       CAST((SELECT COALESCE(SUM(l.pay_out), 0) FROM settlement_lines l
             WHERE l.payment_key = k.payment_key AND l.payout_ledger_tx IS NULL) AS BIGINT) AS owed
FROM (SELECT DISTINCT payment_key FROM settlement_lines) k
WHERE CAST(COALESCE((SELECT SUM(e.amount) FROM ledger_entries e
                     WHERE e.account_id = 'acc_pg_clearing' AND e.transaction_id IN (
                         SELECT l.pago_ledger_tx FROM settlement_lines l WHERE l.payment_key = k.payment_key
                         UNION SELECT l.fee_ledger_tx FROM settlement_lines l WHERE l.payment_key = k.payment_key
                         UNION SELECT l.payout_ledger_tx FROM settlement_lines l WHERE l.payment_key = k.payment_key)), 0) AS BIGINT)
    <> -CAST((SELECT COALESCE(SUM(l.pay_out), 0) FROM settlement_lines l
              WHERE l.payment_key = k.payment_key AND l.payout_ledger_tx IS NULL) AS BIGINT);

-- name: PaymentsOverRefunded :many
-- Payments whose refunds (all but FAILED ones, which moved nothing) add up
-- to more than was paid, or whose refunded amount is not the sum of their
-- DONE refunds.
SELECT p.id, p.amount, p.refunded_amount,
       CAST(COALESCE(SUM(CASE WHEN r.status <> 'FAILED' THEN r.amount ELSE 0 END), 0) AS BIGINT) AS reserved,
       CAST(COALESCE(SUM(CASE WHEN r.status = 'DONE' THEN r.amount ELSE 0 END), 0) AS BIGINT) AS done
FROM payments p LEFT JOIN refunds r ON r.payment_id = p.id
GROUP BY p.id, p.amount, p.refunded_amount
HAVING COALESCE(SUM(CASE WHEN r.status <> 'FAILED' THEN r.amount ELSE 0 END), 0) > p.amount
    OR COALESCE(SUM(CASE WHEN r.status = 'DONE' THEN r.amount ELSE 0 END), 0) <> p.refunded_amount;

-- name: OrdersRefundMismatch :many
-- Orders whose refunded amount or status disagrees with their payments'
-- refunds: PARTIALLY_REFUNDED needs some refunded, REFUNDED all of it.
SELECT o.id, o.status, o.amount, o.refunded_amount, CAST(COALESCE(SUM(p.refunded_amount), 0) AS BIGINT) AS payments_refunded
FROM orders o LEFT JOIN payments p ON p.order_id = o.id
GROUP BY o.id, o.status, o.amount, o.refunded_amount
HAVING COALESCE(SUM(p.refunded_amount), 0) <> o.refunded_amount
    OR (o.status = 'REFUNDED' AND o.refunded_amount <> o.amount)
    OR (o.status = 'PARTIALLY_REFUNDED' AND (o.refunded_amount = 0 OR o.refunded_amount >= o.amount))
    OR (o.status NOT IN ('REFUNDED', 'PARTIALLY_REFUNDED') AND o.refunded_amount <> 0);

-- name: DoneRefundsUnbacked :many
-- DONE refunds without what moved the money: a ledger posting, and the
-- PG's cancel (card) or a REFUND wallet transaction (wallet).
SELECT r.id, r.method
FROM refunds r
WHERE r.status = 'DONE'
  AND (r.ledger_transaction_id IS NULL
    OR (r.method = 'CARD' AND r.pg_transaction_key IS NULL)
    OR (r.method = 'WALLET' AND NOT EXISTS (
        SELECT 1 FROM wallet_transactions t WHERE t.ledger_transaction_id = r.ledger_transaction_id AND t.type = 'REFUND')));

-- name: HoldsOutOfStep :many
-- Holds whose state contradicts their payment's or order's: an open hold
-- on an order no longer waiting for its card, a posted hold of a payment
-- not completed, a released hold of a completed one.
SELECT h.id, h.status, o.status AS order_status, p.status AS payment_status
FROM wallet_holds h JOIN orders o ON o.id = h.order_id JOIN payments p ON p.id = h.payment_id
WHERE (h.status = 'OPEN' AND (o.status NOT IN ('PENDING', 'IN_DOUBT') OR p.status NOT IN ('PENDING', 'IN_DOUBT')))
   OR (h.status = 'POSTED' AND p.status NOT IN ('DONE', 'PARTIALLY_CANCELED', 'CANCELED'))
   OR (h.status = 'RELEASED' AND p.status IN ('DONE', 'PARTIALLY_CANCELED', 'CANCELED'));
