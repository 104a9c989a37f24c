-- Refunds. A refund is recorded (PENDING) with the amount it reserves of
-- its payment, under the payment's row lock, before anything moves; a job
-- then carries it out. For a card payment it is a cancel at the PG whose
-- Idempotency-Key is derived from the refund's id and attempt: attempt is
-- the generation last sent and sent_at when (NULL: never sent, or known
-- not to have reached the PG). pg_transaction_key is the PG's cancel
-- (cancels[].transactionKey) the refund settled on: at most one refund per
-- PG cancel. ledger_transaction_id is its balanced ledger posting.
CREATE TABLE refunds (
    id                    TEXT PRIMARY KEY,
    payment_id            TEXT NOT NULL REFERENCES payments (id),
    order_id              TEXT NOT NULL REFERENCES orders (id),
    method                TEXT NOT NULL CHECK (method IN ('WALLET', 'CARD')),
    amount                BIGINT NOT NULL CHECK (amount > 0),
    currency              TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('PENDING', 'IN_DOUBT', 'DONE', 'FAILED')),
    reason                TEXT NOT NULL,
    requested_by          TEXT NOT NULL REFERENCES users (id),
    attempt               BIGINT NOT NULL DEFAULT 0,
    sent_at               TIMESTAMP,
    pg_transaction_key    TEXT,
    ledger_transaction_id TEXT REFERENCES ledger_transactions (id),
    failure_code          TEXT NOT NULL DEFAULT '',
    version               BIGINT NOT NULL DEFAULT 0,
    created_at            TIMESTAMP NOT NULL,
    updated_at            TIMESTAMP NOT NULL,
    completed_at          TIMESTAMP
);

--bun:split

CREATE INDEX refunds_payment_idx ON refunds (payment_id, id);

--bun:split

CREATE UNIQUE INDEX refunds_pg_transaction_key_idx ON refunds (pg_transaction_key);
