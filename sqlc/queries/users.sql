-- name: InsertUserIfAbsent :exec
INSERT INTO users (id, name, is_admin, created_at)
VALUES (sqlc.arg(id), sqlc.arg(name), sqlc.arg(is_admin), sqlc.arg(created_at))
ON CONFLICT (name) DO NOTHING;

-- name: GetUserByName :one
SELECT id, name, is_admin, created_at FROM users WHERE name = sqlc.arg(name);

-- name: GetUser :one
SELECT id, name, is_admin, created_at FROM users WHERE id = sqlc.arg(id);
