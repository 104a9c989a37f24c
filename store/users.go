package store

import (
	"context"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/queries"
)

// InsertUserIfAbsent implements payment.UserQueries.
func (s *Store) InsertUserIfAbsent(ctx context.Context, u payment.User) error {
	return dbErr(s.q.InsertUserIfAbsent(ctx, queries.InsertUserIfAbsentParams{
		ID: u.ID, Name: u.Name, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt.UTC(),
	}), "row")
}

// UserByName implements payment.UserQueries.
func (s *Store) UserByName(ctx context.Context, name string) (payment.User, error) {
	row, err := s.q.GetUserByName(ctx, name)
	if err != nil {
		return payment.User{}, dbErr(err, "user")
	}
	return userToDomain(row), nil
}

// User implements payment.UserQueries.
func (s *Store) User(ctx context.Context, id string) (payment.User, error) {
	row, err := s.q.GetUser(ctx, id)
	if err != nil {
		return payment.User{}, dbErr(err, "user")
	}
	return userToDomain(row), nil
}

func userToDomain(r queries.User) payment.User {
	return payment.User{ID: r.ID, Name: r.Name, IsAdmin: r.IsAdmin, CreatedAt: r.CreatedAt.UTC()}
}
