-- Reconciliation: one run per PG sold date (KST), the mismatches it found,
-- and the PG's settlement lines pago has matched and booked.
--
-- Settlement is booked in the ledger: the PG's fee (PG clearing → PG fees)
-- and, once paid out, the payout (PG clearing → merchant bank), so that the
-- PG-clearing account holds exactly what the PG still owes pago.
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;

--bun:split

ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check
    CHECK (kind IN ('WALLET', 'PG_CLEARING', 'REVENUE', 'ADJUSTMENTS', 'REFUNDS', 'PG_FEES', 'BANK'));

--bun:split

INSERT INTO ledger_accounts (id, kind, currency, created_at) VALUES
    ('acc_pg_fees', 'PG_FEES', 'KRW', CURRENT_TIMESTAMP),
    ('acc_merchant_bank', 'BANK', 'KRW', CURRENT_TIMESTAMP);

--bun:split

-- One row per sold date: a re-run updates it (the same picture, refreshed).
CREATE TABLE reconciliation_runs (
    id               TEXT PRIMARY KEY,
    sold_date        TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('RUNNING', 'DONE', 'FAILED')),
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    checked          BIGINT NOT NULL DEFAULT 0,
    matched          BIGINT NOT NULL DEFAULT 0,
    mismatch_count   BIGINT NOT NULL DEFAULT 0,
    auto_fixed       BIGINT NOT NULL DEFAULT 0,
    clearing_balance BIGINT NOT NULL DEFAULT 0,
    pg_owes          BIGINT NOT NULL DEFAULT 0,
    error            TEXT NOT NULL DEFAULT '',
    CONSTRAINT reconciliation_runs_date_key UNIQUE (sold_date)
);

--bun:split

-- A mismatch is identified by what it is about: the same difference found
-- again by a re-run is the same row, never a second one.
CREATE TABLE reconciliation_mismatches (
    id              TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES reconciliation_runs (id),
    sold_date       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    class           TEXT NOT NULL CHECK (class IN ('AUTO_FIXED', 'MANUAL', 'UNKNOWN')),
    status          TEXT NOT NULL CHECK (status IN ('OPEN', 'RESOLVED')),
    rule            TEXT NOT NULL,
    order_id        TEXT,
    payment_key     TEXT NOT NULL,
    transaction_key TEXT NOT NULL,
    pago_amount     BIGINT,
    pg_amount       BIGINT,
    detail          TEXT NOT NULL,
    last_seen_run   TEXT NOT NULL,
    resolution      TEXT,
    resolved_by     TEXT,
    resolved_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT reconciliation_mismatches_key UNIQUE (sold_date, kind, payment_key, transaction_key)
);

--bun:split

CREATE INDEX reconciliation_mismatches_queue_idx ON reconciliation_mismatches (status, class, id);

--bun:split

-- The PG's settlement lines pago matched, each booked once: its fee, and
-- its payout once paid out. pago_ledger_tx is pago's own posting the line
-- matched (the card payment's), when there is one.
CREATE TABLE settlement_lines (
    payment_key      TEXT NOT NULL,
    transaction_key  TEXT NOT NULL,
    sold_date        TEXT NOT NULL,
    order_id         TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    fee              BIGINT NOT NULL,
    pay_out          BIGINT NOT NULL,
    paid_out_date    TEXT NOT NULL,
    pago_ledger_tx   TEXT REFERENCES ledger_transactions (id),
    fee_ledger_tx    TEXT REFERENCES ledger_transactions (id),
    payout_ledger_tx TEXT REFERENCES ledger_transactions (id),
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (payment_key, transaction_key)
);

--bun:split

CREATE INDEX settlement_lines_date_idx ON settlement_lines (sold_date);

--bun:split

CREATE INDEX ledger_transactions_order_idx ON ledger_transactions (order_id);

--bun:split

CREATE INDEX payments_approved_idx ON payments (approved_at);
