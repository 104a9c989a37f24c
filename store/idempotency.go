package store

import (
	"context"
	"database/sql"
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
// … ON CONFLICT DO NOTHING RETURNING (insertKeys).
func (s *Store) ClaimIdempotencyKeys(ctx context.Context, rs []payment.IdempotencyRecord) ([]int, error) {
	claims := make([]payment.IdempotencyRecord, len(rs))
	for i, r := range rs {
		r.Status, r.Response = payment.IdemRunning, nil
		claims[i] = r
	}
	inserted, err := s.insertKeys(ctx, claims, "claim")
	if err != nil {
		return nil, err
	}
	var claimed []int
	for i, ok := range inserted {
		if ok {
			claimed = append(claimed, i)
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
