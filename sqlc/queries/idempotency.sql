-- name: ClaimIdempotencyKey :execrows
-- Claims the key for a new request. Zero rows means somebody holds it already.
INSERT INTO idempotency_keys (user_id, key, operation, request_hash, status, owner, lease_until, created_at, updated_at)
VALUES (sqlc.arg(user_id), sqlc.arg(key), sqlc.arg(operation), sqlc.arg(request_hash), 'RUNNING', sqlc.arg(owner),
        sqlc.arg(lease_until), sqlc.arg(now), sqlc.arg(now))
ON CONFLICT (user_id, key) DO NOTHING;

-- name: GetIdempotencyKey :one
SELECT user_id, key, operation, request_hash, status, owner, response, lease_until, created_at, updated_at
FROM idempotency_keys
WHERE user_id = sqlc.arg(user_id) AND key = sqlc.arg(key);

-- name: TakeOverIdempotencyKey :execrows
-- Takes over a RUNNING key whose lease lapsed (its owner died mid-request).
UPDATE idempotency_keys
SET owner = sqlc.arg(owner), lease_until = sqlc.arg(lease_until), updated_at = sqlc.arg(now)
WHERE user_id = sqlc.arg(user_id) AND key = sqlc.arg(key)
  AND status = 'RUNNING' AND lease_until < sqlc.arg(now) AND request_hash = sqlc.arg(request_hash);

-- name: CompleteIdempotencyKey :execrows
-- Records the response; fenced by owner so a request whose lease was taken over cannot write.
UPDATE idempotency_keys
SET status = 'DONE', response = sqlc.arg(response), updated_at = sqlc.arg(now)
WHERE user_id = sqlc.arg(user_id) AND key = sqlc.arg(key) AND status = 'RUNNING' AND owner = sqlc.arg(owner);

-- name: ReleaseIdempotencyKey :execrows
-- Forgets a claim whose request failed for a reason worth retrying (nothing was written).
DELETE FROM idempotency_keys
WHERE user_id = sqlc.arg(user_id) AND key = sqlc.arg(key) AND status = 'RUNNING' AND owner = sqlc.arg(owner);

-- name: PruneIdempotencyKeys :execrows
DELETE FROM idempotency_keys WHERE created_at < sqlc.arg(before) AND status = 'DONE';

-- name: InsertIdempotencyDone :execrows
-- Records a finished request's answer in the transaction of its effect, for
-- operations whose claim and effect are one transaction (payment.RunInTx).
-- Zero rows means the key exists: a concurrent duplicate finished first (the
-- insert waited for it), or the key was used before.
INSERT INTO idempotency_keys (user_id, key, operation, request_hash, status, owner, response, lease_until, created_at, updated_at)
VALUES (sqlc.arg(user_id), sqlc.arg(key), sqlc.arg(operation), sqlc.arg(request_hash), 'DONE', sqlc.arg(owner),
        sqlc.arg(response), sqlc.arg(now), sqlc.arg(now), sqlc.arg(now))
ON CONFLICT (user_id, key) DO NOTHING;
