-- Users are created on first authenticated use; the token's subject is the name.
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    is_admin   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_name_key UNIQUE (name)
);

--bun:split

-- One row per (user, key): the marker is committed before the effect runs so a
-- concurrent duplicate sees REQUEST_IN_PROGRESS; the response is written in the
-- same transaction as the effect. A RUNNING row whose lease lapsed (the process
-- died) may be taken over; the owner token fences the old owner out.
CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL REFERENCES users (id),
    key           TEXT NOT NULL,
    operation     TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('RUNNING', 'DONE')),
    owner         TEXT NOT NULL,
    response      TEXT,
    lease_until   TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key)
);

--bun:split

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
