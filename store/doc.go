// Package store is pago's persistence: it opens SQLite or PostgreSQL through
// bun, applies the migrations embedded from sqlc/schema (pago's and River's),
// implements payment.Store with the sqlc-generated queries in store/queries,
// runs River, and provides the redsync-based payment.Locker.
//
// Driver errors are translated here and nowhere else: sql.ErrNoRows becomes
// payment.ErrNotFound and named constraint violations become domain errors.
// Row types stay unexported; payment never sees a bun tag.
package store
