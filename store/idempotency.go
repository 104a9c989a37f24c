package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/queries"
)

// ClaimIdempotencyKey implements payment.IdempotencyQueries.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, r payment.IdempotencyRecord) (bool, error) {
	n, err := s.q.ClaimIdempotencyKey(ctx, queries.ClaimIdempotencyKeyParams{
		UserID: r.UserID, Key: r.Key, Operation: r.Operation, RequestHash: r.RequestHash,
		Owner: r.Owner, LeaseUntil: r.LeaseUntil.UTC(), Now: r.CreatedAt.UTC(),
	})
	return n == 1, dbErr(err, "row")
}

// ClaimIdempotencyKeys implements payment.IdempotencyQueries: one INSERT
// … ON CONFLICT DO NOTHING RETURNING on PostgreSQL; SQLite, in process,
// claims one by one.
func (s *Store) ClaimIdempotencyKeys(ctx context.Context, rs []payment.IdempotencyRecord) ([]int, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	var claimed []int
	if s.engine != Postgres {
		for i, r := range rs {
			ok, err := s.ClaimIdempotencyKey(ctx, r)
			if err != nil {
				return nil, err
			}
			if ok {
				claimed = append(claimed, i)
			}
		}
		return claimed, nil
	}
	var vals rows
	for _, r := range rs {
		vals.add(r.UserID, r.Key, r.Operation, r.RequestHash, payment.IdemRunning, r.Owner, r.LeaseUntil.UTC(), r.CreatedAt.UTC(), r.CreatedAt.UTC())
	}
	res, err := s.conn().QueryContext(ctx, `INSERT INTO idempotency_keys (user_id, key, operation, request_hash, status, owner, lease_until, created_at, updated_at)
VALUES `+vals.values(0, nil)+` ON CONFLICT (user_id, key) DO NOTHING RETURNING user_id, key`, vals.args...)
	if err != nil {
		return nil, fmt.Errorf("claim idempotency keys: %w", dbErr(err, "row"))
	}
	defer res.Close()
	inserted := map[[2]string]bool{}
	for res.Next() {
		var k [2]string
		if err := res.Scan(&k[0], &k[1]); err != nil {
			return nil, dbErr(err, "row")
		}
		inserted[k] = true
	}
	if err := res.Err(); err != nil {
		return nil, dbErr(err, "row")
	}
	// A key twice in rs was inserted once, by its first record (VALUES
	// are inserted in order).
	for i, r := range rs {
		k := [2]string{r.UserID, r.Key}
		if inserted[k] {
			claimed = append(claimed, i)
			delete(inserted, k)
		}
	}
	return claimed, nil
}

// IdempotencyKey implements payment.IdempotencyQueries.
func (s *Store) IdempotencyKey(ctx context.Context, userID, key string) (payment.IdempotencyRecord, error) {
	row, err := s.q.GetIdempotencyKey(ctx, queries.GetIdempotencyKeyParams{UserID: userID, Key: key})
	if err != nil {
		return payment.IdempotencyRecord{}, dbErr(err, "idempotency key")
	}
	rec := payment.IdempotencyRecord{
		UserID: row.UserID, Key: row.Key, Operation: row.Operation, RequestHash: row.RequestHash,
		Status: row.Status, Owner: row.Owner, LeaseUntil: row.LeaseUntil.UTC(), CreatedAt: row.CreatedAt.UTC(),
	}
	if row.Response.Valid {
		rec.Response = []byte(row.Response.String)
	}
	return rec, nil
}

// TakeOverIdempotencyKey implements payment.IdempotencyQueries.
func (s *Store) TakeOverIdempotencyKey(ctx context.Context, r payment.IdempotencyRecord, now time.Time) (bool, error) {
	n, err := s.q.TakeOverIdempotencyKey(ctx, queries.TakeOverIdempotencyKeyParams{
		UserID: r.UserID, Key: r.Key, Owner: r.Owner, LeaseUntil: r.LeaseUntil.UTC(),
		Now: now.UTC(), RequestHash: r.RequestHash,
	})
	return n == 1, dbErr(err, "row")
}

// CompleteIdempotencyKey implements payment.IdempotencyQueries.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, userID, key, owner string, response []byte, now time.Time) (bool, error) {
	n, err := s.q.CompleteIdempotencyKey(ctx, queries.CompleteIdempotencyKeyParams{
		UserID: userID, Key: key, Owner: owner, Now: now.UTC(),
		Response: sql.NullString{String: string(response), Valid: true},
	})
	return n == 1, dbErr(err, "row")
}

// ReleaseIdempotencyKey implements payment.IdempotencyQueries.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, userID, key, owner string) error {
	_, err := s.q.ReleaseIdempotencyKey(ctx, queries.ReleaseIdempotencyKeyParams{UserID: userID, Key: key, Owner: owner})
	return err
}

// PruneIdempotencyKeys implements payment.IdempotencyQueries.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	return s.q.PruneIdempotencyKeys(ctx, before.UTC())
}

// InsertIdempotencyDone implements payment.IdempotencyQueries.
func (s *Store) InsertIdempotencyDone(ctx context.Context, r payment.IdempotencyRecord) (bool, error) {
	n, err := s.q.InsertIdempotencyDone(ctx, queries.InsertIdempotencyDoneParams{
		UserID: r.UserID, Key: r.Key, Operation: r.Operation, RequestHash: r.RequestHash, Owner: r.Owner,
		Response: sql.NullString{String: string(r.Response), Valid: true}, Now: r.CreatedAt.UTC(),
	})
	return n == 1, err
}
