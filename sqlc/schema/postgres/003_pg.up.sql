-- The PG side of card payments: the Idempotency-Key every confirm of this
-- payment sends (so a re-confirm by the probe job is the same confirm), and
-- at most one card payment per PG payment key.
ALTER TABLE payments ADD COLUMN pg_idempotency_key TEXT;

--bun:split

CREATE UNIQUE INDEX payments_pg_payment_key_idx ON payments (pg_payment_key);

--bun:split

CREATE INDEX payments_status_idx ON payments (status, id);
