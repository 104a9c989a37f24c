-- Ledger: every money movement is one ledger transaction whose entries sum to
-- zero. Amounts are signed minor units; an account's balance is the sum of its
-- entries, so a wallet account's sum is the wallet's balance.
CREATE TABLE ledger_accounts (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('WALLET', 'PG_CLEARING', 'REVENUE', 'ADJUSTMENTS', 'REFUNDS')),
    currency   TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

--bun:split

CREATE TABLE ledger_transactions (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    order_id    TEXT,
    description TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

--bun:split

CREATE TABLE ledger_entries (
    id             TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    account_id     TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount         BIGINT NOT NULL CHECK (amount <> 0),
    created_at     TIMESTAMP NOT NULL
);

--bun:split

CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id);

--bun:split

CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);

--bun:split

INSERT INTO ledger_accounts (id, kind, currency, created_at) VALUES
    ('acc_pg_clearing', 'PG_CLEARING', 'KRW', CURRENT_TIMESTAMP),
    ('acc_revenue', 'REVENUE', 'KRW', CURRENT_TIMESTAMP),
    ('acc_adjustments', 'ADJUSTMENTS', 'KRW', CURRENT_TIMESTAMP),
    ('acc_refunds', 'REFUNDS', 'KRW', CURRENT_TIMESTAMP);

--bun:split

-- The balance check is the database's last word: no code path, lock or race
-- can make a balance negative. version fences every update.
CREATE TABLE wallets (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    account_id    TEXT NOT NULL REFERENCES ledger_accounts (id),
    currency      TEXT NOT NULL,
    balance       BIGINT NOT NULL CHECK (balance >= 0),
    balance_limit BIGINT NOT NULL CHECK (balance_limit >= 0),
    version       BIGINT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    CONSTRAINT wallets_user_key UNIQUE (user_id)
);

--bun:split

-- One row per balance change; seq is the wallet's version after the change,
-- so it orders a wallet's history exactly.
CREATE TABLE wallet_transactions (
    id                    TEXT PRIMARY KEY,
    wallet_id             TEXT NOT NULL REFERENCES wallets (id),
    seq                   BIGINT NOT NULL,
    type                  TEXT NOT NULL CHECK (type IN ('CHARGE', 'PAYMENT', 'REFUND', 'HOLD', 'RELEASE', 'ADJUSTMENT')),
    amount                BIGINT NOT NULL,
    balance_after         BIGINT NOT NULL,
    order_id              TEXT,
    ledger_transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    reason                TEXT,
    created_at            TIMESTAMP NOT NULL,
    CONSTRAINT wallet_transactions_seq_key UNIQUE (wallet_id, seq)
);

--bun:split

-- supplied counts every unit ever put on sale, so that
-- stock + units held by orders = supplied (pago verify).
CREATE TABLE products (
    id         TEXT PRIMARY KEY,
    sku        TEXT NOT NULL,
    name       TEXT NOT NULL,
    price      BIGINT NOT NULL CHECK (price > 0),
    currency   TEXT NOT NULL,
    stock      BIGINT NOT NULL CHECK (stock >= 0),
    supplied   BIGINT NOT NULL CHECK (supplied >= 0),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT products_sku_key UNIQUE (sku)
);

--bun:split

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    kind            TEXT NOT NULL CHECK (kind IN ('PURCHASE', 'WALLET_TOPUP')),
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'IN_DOUBT', 'PAID', 'FAILED', 'CANCELED', 'EXPIRED', 'PARTIALLY_REFUNDED', 'REFUNDED')),
    name            TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    refunded_amount BIGINT NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
    expires_at      TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

--bun:split

CREATE INDEX orders_user_idx ON orders (user_id, id);

--bun:split

CREATE INDEX orders_status_idx ON orders (status, id);

--bun:split

CREATE TABLE order_items (
    order_id   TEXT NOT NULL REFERENCES orders (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    name       TEXT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    unit_price BIGINT NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

--bun:split

CREATE INDEX order_items_product_idx ON order_items (product_id);

--bun:split

CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    method          TEXT NOT NULL CHECK (method IN ('WALLET', 'CARD', 'SPLIT')),
    status          TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    refunded_amount BIGINT NOT NULL DEFAULT 0,
    pg_payment_key  TEXT,
    approved_at     TIMESTAMP,
    version         BIGINT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

--bun:split

CREATE INDEX payments_order_idx ON payments (order_id);

--bun:split

-- Append-only history of every payment's transitions.
CREATE TABLE payment_events (
    id          TEXT PRIMARY KEY,
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    source      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

--bun:split

CREATE INDEX payment_events_payment_idx ON payment_events (payment_id, id);
