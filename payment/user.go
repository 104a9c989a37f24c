package payment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// User is an authenticated caller. Users are created on first authenticated
// use; IsAdmin comes from the token, not from storage.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	IsAdmin   bool      `json:"isAdmin"`
	CreatedAt time.Time `json:"createdAt"`
}

// Users resolves token subjects to users, creating them on first use.
type Users struct {
	store Store
	now   Clock
	cache sync.Map // name → User; ids never change, so any instance may cache them
}

// NewUsers returns a Users service.
func NewUsers(store Store, now Clock) *Users {
	return &Users{store: store, now: now}
}

// Ensure returns the user called name, creating it if needed. admin is the
// role the caller's token grants.
func (s *Users) Ensure(ctx context.Context, name string, admin bool) (User, error) {
	if v, ok := s.cache.Load(name); ok {
		u := v.(User)
		u.IsAdmin = admin
		return u, nil
	}
	u, err := s.store.UserByName(ctx, name)
	if errors.Is(err, ErrNotFound) {
		now := s.now().UTC()
		err = s.store.InsertUserIfAbsent(ctx, User{ID: NewID("usr", now), Name: name, CreatedAt: now})
		if err != nil {
			return User{}, fmt.Errorf("create user %q: %w", name, err)
		}
		u, err = s.store.UserByName(ctx, name) // another request may have won the insert
	}
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, err)
	}
	s.cache.Store(name, u)
	u.IsAdmin = admin
	return u, nil
}

type userKey struct{}

// WithUser returns ctx carrying the authenticated user.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the authenticated user, or ErrUnauthenticated.
func UserFrom(ctx context.Context) (User, error) {
	u, ok := ctx.Value(userKey{}).(User)
	if !ok {
		return User{}, ErrUnauthenticated
	}
	return u, nil
}
