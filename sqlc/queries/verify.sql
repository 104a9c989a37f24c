-- Invariant checks for `pago verify`: each query returns the violations.

-- name: UnbalancedLedgerTransactions :many
SELECT transaction_id, CAST(SUM(amount) AS BIGINT) AS total
FROM ledger_entries GROUP BY transaction_id HAVING SUM(amount) <> 0;

-- name: WalletsOffLedger :many
-- Wallets whose stored balance differs from the sum of their account's entries.
SELECT w.id, w.balance, CAST(COALESCE(e.total, 0) AS BIGINT) AS ledger_total
FROM wallets w
LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM ledger_entries GROUP BY account_id) e ON e.account_id = w.account_id
WHERE w.balance <> COALESCE(e.total, 0);

-- name: WalletsOffHistory :many
-- Wallets whose balance differs from their latest wallet transaction's balance_after.
SELECT w.id, w.balance, CAST(COALESCE(t.balance_after, 0) AS BIGINT) AS history_balance
FROM wallets w
LEFT JOIN wallet_transactions t ON t.wallet_id = w.id AND t.seq = (SELECT MAX(seq) FROM wallet_transactions x WHERE x.wallet_id = w.id)
WHERE w.balance <> COALESCE(t.balance_after, 0);

-- name: StockMismatches :many
-- Products where stock plus the units held by live orders is not what was supplied.
SELECT p.id, p.stock, p.supplied, CAST(COALESCE(h.held, 0) AS BIGINT) AS held
FROM products p
LEFT JOIN (
    SELECT i.product_id, SUM(i.quantity) AS held
    FROM order_items i JOIN orders o ON o.id = i.order_id
    WHERE o.status IN ('PENDING', 'IN_DOUBT', 'PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')
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
