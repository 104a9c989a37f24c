-- Payment state as data. What the history's prose used to carry is now in
-- typed columns that code reads:
--   failure_code / failure_message: why a payment failed (the PG's code, or
--     pago's own such as BALANCE_LIMIT_EXCEEDED) and the words for the customer;
--   confirm_attempt: which confirm generation was last sent to the PG (0 is
--     the first; the probe bumps it, under the row lock, before it re-sends);
--   confirm_sent_at: when that attempt was sent, so no second one is sent
--     while the first may still be in flight;
--   refund_decided_at: pago decided to give a top-up back at the PG, so no
--     later settle may credit it.
-- Each event gains a code (what happened, for code) and a message (for the
-- customer); detail keeps the internal text for operators and logs.
ALTER TABLE payments ADD COLUMN failure_code TEXT NOT NULL DEFAULT '';

--bun:split

ALTER TABLE payments ADD COLUMN failure_message TEXT NOT NULL DEFAULT '';

--bun:split

ALTER TABLE payments ADD COLUMN confirm_attempt BIGINT NOT NULL DEFAULT 0;

--bun:split

ALTER TABLE payments ADD COLUMN confirm_sent_at TIMESTAMPTZ;

--bun:split

ALTER TABLE payments ADD COLUMN refund_decided_at TIMESTAMPTZ;

--bun:split

ALTER TABLE payment_events ADD COLUMN code TEXT NOT NULL DEFAULT '';

--bun:split

ALTER TABLE payment_events ADD COLUMN message TEXT NOT NULL DEFAULT '';

--bun:split

-- History written before this migration: the code and the customer's words
-- follow from the transition; the old prose stays in detail for operators.
UPDATE payment_events SET
    code = CASE
        WHEN from_status = 'PENDING' AND to_status = 'IN_DOUBT' THEN 'CONFIRM_SENT'
        WHEN from_status = 'IN_DOUBT' AND to_status = 'PENDING' THEN 'NOT_SENT'
        WHEN from_status = 'PENDING' AND to_status = 'DONE' THEN 'PAID_FROM_WALLET'
        WHEN to_status = 'DONE' THEN 'APPROVED'
        WHEN to_status = 'FAILED' THEN 'DECLINED'
        WHEN to_status = 'CANCELED' THEN 'TOPUP_REFUNDED'
        WHEN detail LIKE 'REFUND_DECIDED:%' THEN 'REFUND_DECIDED'
        ELSE 'RECONFIRM_SENT' END,
    message = CASE
        WHEN from_status = 'PENDING' AND to_status = 'IN_DOUBT' THEN 'The payment was sent for approval.'
        WHEN from_status = 'IN_DOUBT' AND to_status = 'PENDING' THEN 'The payment gateway could not be reached; nothing was charged.'
        WHEN to_status = 'DONE' THEN 'The payment was approved.'
        WHEN to_status = 'FAILED' THEN 'The payment was not approved.'
        WHEN to_status = 'CANCELED' THEN 'The payment was refunded.'
        ELSE 'The payment is being checked with the payment gateway.' END
WHERE code = '';

--bun:split

-- Payments closed before this migration: the failure code the history's
-- prose carried ("CODE: message"), and the marks it stood for.
UPDATE payments SET refund_decided_at = updated_at
WHERE EXISTS (SELECT 1 FROM payment_events e WHERE e.payment_id = payments.id AND e.code = 'REFUND_DECIDED');

--bun:split

UPDATE payments SET confirm_attempt = 1
WHERE EXISTS (SELECT 1 FROM payment_events e WHERE e.payment_id = payments.id AND e.code = 'RECONFIRM_SENT');

--bun:split

UPDATE payments SET failure_code = 'BALANCE_LIMIT_EXCEEDED', failure_message = 'The wallet could not take the top-up; it was refunded to the card.'
WHERE status = 'CANCELED';

--bun:split

UPDATE payments SET failure_code = 'DECLINED', failure_message = 'The payment was not approved.'
WHERE status = 'FAILED';
