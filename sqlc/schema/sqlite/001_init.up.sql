-- Users are created on first authenticated use; the token's subject is the name.
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    is_admin   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT users_name_key UNIQUE (name)
);

--bun:split

-- See the PostgreSQL schema for why the marker and lease exist.
CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL REFERENCES users (id),
    key           TEXT NOT NULL,
    operation     TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('RUNNING', 'DONE')),
    owner         TEXT NOT NULL,
    response      TEXT,
    lease_until   TIMESTAMP NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);

--bun:split

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
