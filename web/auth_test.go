package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
)

type failingUsers struct{ err error }

func (f failingUsers) Ensure(context.Context, string, bool) (payment.User, error) {
	return payment.User{}, f.err
}

// Found by the chaos suite (seed 838421010): a PostgreSQL connection drop
// while a restarted instance loaded a user answered 401 UNAUTHENTICATED to a
// valid token, which tells a client to log its customer out.
func TestAuthDatabaseFailureIsNotUnauthenticated(t *testing.T) {
	tokens := NewTokens([]byte("secret-0123456789abcdef0123456789ab"), time.Now)
	tok, err := tokens.Issue("alice", false, time.Hour)
	require.NoError(t, err)
	a := authenticator{tokens: tokens, users: failingUsers{errors.New("connection reset by peer")}}
	h := a.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("reached the handler") }))

	for _, c := range []struct {
		header string
		status int
		code   string
	}{
		{"Bearer " + tok, http.StatusServiceUnavailable, `"code":"INTERNAL"`},
		{"Bearer not-a-token", http.StatusUnauthorized, `"code":"UNAUTHENTICATED"`},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		req.Header.Set("Authorization", c.header)
		h.ServeHTTP(rec, req)
		require.Equal(t, c.status, rec.Code, c.header)
		require.Contains(t, rec.Body.String(), c.code)
	}
}

// stuckUsers is a user store that does not answer until its context ends.
type stuckUsers struct{}

func (stuckUsers) Ensure(ctx context.Context, _ string, _ bool) (payment.User, error) {
	<-ctx.Done()
	return payment.User{}, ctx.Err()
}

// The user's lookup runs before the operation and its bound: it has the
// request's bound of its own, and a user store that does not answer is
// the same retryable failure as one that fails.
func TestAuthLookupAnswersWithinTheRequestTimeout(t *testing.T) {
	tokens := NewTokens([]byte("secret-0123456789abcdef0123456789ab"), time.Now)
	tok, err := tokens.Issue("alice", false, time.Hour)
	require.NoError(t, err)
	a := authenticator{tokens: tokens, users: stuckUsers{}, timeout: 100 * time.Millisecond}
	h := a.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("reached the handler") }))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer in 10 s")
	}
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), `"code":"INTERNAL"`)
}
