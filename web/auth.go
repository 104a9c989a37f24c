package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pago/pago/payment"
)

// Tokens issues and verifies pago's bearer tokens: HS256 JWTs whose subject
// is the user's name and whose "admin" claim grants the operator role.
type Tokens struct {
	secret []byte
	now    func() time.Time
}

// NewTokens returns Tokens signing with secret.
func NewTokens(secret []byte, now func() time.Time) *Tokens {
	return &Tokens{secret: secret, now: now}
}

type claims struct {
	Admin bool `json:"admin,omitempty"`
	jwt.RegisteredClaims
}

const issuer = "pago"

// Issue returns a token for name valid for ttl.
func (t *Tokens) Issue(name string, admin bool, ttl time.Duration) (string, error) {
	if err := validUserName(name); err != nil {
		return "", err
	}
	now := t.now()
	c := claims{Admin: admin, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Subject: name,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
}

// Verify returns the subject and admin claim of a valid token. Only HS256 is
// accepted: "none" and algorithm-confusion tokens fail.
func (t *Tokens) Verify(raw string) (name string, admin bool, err error) {
	var c claims
	_, err = jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer), jwt.WithExpirationRequired(), jwt.WithTimeFunc(t.now), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return "", false, fmt.Errorf("invalid token: %w", err)
	}
	if err := validUserName(c.Subject); err != nil {
		return "", false, err
	}
	return c.Subject, c.Admin, nil
}

func validUserName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("user name must be 1–64 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@", r)) {
			return fmt.Errorf("user name %q may only contain letters, digits and -_.@", name)
		}
	}
	return nil
}

// UserEnsurer resolves a token's subject to a user, creating it on first use.
type UserEnsurer interface {
	Ensure(ctx context.Context, name string, admin bool) (payment.User, error)
}

// authenticator puts the bearer token's user into the request context. A
// request without a token goes on anonymous (resolvers that need a user say
// UNAUTHENTICATED); a bad token is refused here with 401.
type authenticator struct {
	tokens *Tokens
	users  UserEnsurer
	// timeout bounds the user's lookup (Config.RequestTimeout): it runs
	// before the operation and its own bound.
	timeout time.Duration
}

func (a authenticator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		ctx, err := a.authenticate(r.Context(), h)
		var unavailable errUsersUnavailable
		switch {
		case errors.As(err, &unavailable):
			// The token is good; the database is not. A 401 here would tell
			// the client to drop a valid token and log the customer out.
			logger(r.Context()).ErrorContext(r.Context(), "authentication: user lookup failed", "err", err)
			writeGraphQLError(w, http.StatusServiceUnavailable, err)
			return
		case err != nil:
			logger(r.Context()).InfoContext(r.Context(), "authentication failed", "err", err)
			writeGraphQLError(w, http.StatusUnauthorized, payment.ErrUnauthenticated)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// errUsersUnavailable is a valid token whose user could not be loaded: a
// transient server fault (INTERNAL, retry), not an authentication failure.
type errUsersUnavailable struct{ err error }

func (e errUsersUnavailable) Error() string { return "load user: " + e.err.Error() }
func (e errUsersUnavailable) Unwrap() error { return e.err }

// authenticate verifies an Authorization header value ("Bearer …") and
// returns ctx carrying the user.
func (a authenticator) authenticate(ctx context.Context, header string) (context.Context, error) {
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return ctx, errors.New("authorization is not a Bearer token")
	}
	name, admin, err := a.tokens.Verify(strings.TrimSpace(raw))
	if err != nil {
		return ctx, err
	}
	lctx, cancel := bounded(ctx, a.timeout)
	defer cancel()
	u, err := a.users.Ensure(lctx, name, admin)
	if err != nil {
		return ctx, errUsersUnavailable{err}
	}
	return payment.WithUser(ctx, u), nil
}
