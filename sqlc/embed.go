// Package sqlc holds pago's SQL: per-dialect migrations under schema/, the
// portable queries under queries/ that sqlc compiles into store/queries, and
// PostgreSQL's own forms of a few of them under postgres/ (store/pgqueries).
// It embeds the migrations so the binary carries them; store applies them.
package sqlc

import "embed"

// Schema holds schema/postgres/*.up.sql and schema/sqlite/*.up.sql.
//
//go:embed schema
var Schema embed.FS
