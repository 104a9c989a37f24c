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

--bun:split

-- Split payments: part of an order paid from the wallet, the rest by card.
-- wallet_amount is the wallet part of a SPLIT payment (0 otherwise); the
-- card part, amount - wallet_amount, is what the PG confirms.
ALTER TABLE payments ADD COLUMN wallet_amount BIGINT NOT NULL DEFAULT 0;

--bun:split

-- A hold is a split payment's wallet part: taken from the wallet's balance
-- when the split starts (a HOLD wallet transaction, no ledger entries yet),
-- then resolved exactly once: POSTED with the card (the ledger moves the
-- wallet's account to revenue) or RELEASED (a RELEASE wallet transaction
-- gives it back). So a wallet's balance = its ledger entries - its open holds.
CREATE TABLE wallet_holds (
    id                  TEXT PRIMARY KEY,
    wallet_id           TEXT NOT NULL REFERENCES wallets (id),
    payment_id          TEXT NOT NULL REFERENCES payments (id),
    order_id            TEXT NOT NULL REFERENCES orders (id),
    amount              BIGINT NOT NULL CHECK (amount > 0),
    status              TEXT NOT NULL CHECK (status IN ('OPEN', 'POSTED', 'RELEASED')),
    hold_transaction_id TEXT NOT NULL REFERENCES wallet_transactions (id),
    created_at          TIMESTAMP NOT NULL,
    resolved_at         TIMESTAMP
);

--bun:split

CREATE UNIQUE INDEX wallet_holds_payment_idx ON wallet_holds (payment_id);

--bun:split

CREATE INDEX wallet_holds_order_idx ON wallet_holds (order_id);

--bun:split

CREATE INDEX wallet_holds_transaction_idx ON wallet_holds (hold_transaction_id);

--bun:split

-- At most one open hold per order: two splits of one order racing each
-- other cannot both take the wallet's money.
CREATE UNIQUE INDEX wallet_holds_open_order_idx ON wallet_holds (order_id) WHERE status = 'OPEN';
