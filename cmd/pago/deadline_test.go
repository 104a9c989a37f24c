package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/store/storetest"
)

// A request whose database call hangs ends at PAGO_REQUEST_TIMEOUT with an
// error to retry, not a page that never loads; the retry, once the database
// answers, does the work once. Another session's locks make the database
// hang: a product row held FOR UPDATE (createOrder waits to reserve its
// stock), then the orders table held exclusively (every read of an order
// waits).
func TestARequestWhoseDatabaseHangsAnswersWithinItsTimeout(t *testing.T) {
	pg, ok := storetest.Postgres(t)
	if !ok {
		t.Skip("needs PostgreSQL and Redis")
	}
	const timeout = 500 * time.Millisecond
	s := startServer(t, testEnv(t, pg, map[string]string{
		"PAGO_REQUEST_TIMEOUT": timeout.String(),
		// Every wait inside a request is shorter than its bound.
		"PAGO_LOCK_WAIT": "100ms", "PAGO_BATCH_TIMEOUT": "100ms", "PAGO_CONFIRM_WAIT": "100ms", "PAGO_REFUND_WAIT": "100ms",
	}))
	alice := s.customer("alice")
	prod := s.product("tea", 1_000, 5)
	db, err := sql.Open("pgx", s.cfg.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })

	// hold runs stmt in a transaction of another session, kept open until
	// the returned func rolls it back.
	hold := func(stmt string, args ...any) (release func()) {
		tx, err := db.BeginTx(context.Background(), nil)
		require.NoError(t, err)
		_, err = tx.Exec(stmt, args...)
		require.NoError(t, err)
		return func() { require.NoError(t, tx.Rollback()) }
	}
	// answered runs f, which must answer well before the HTTP client's own
	// timeout: without the bound it would wait for the lock until then.
	answered := func(what string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		require.Less(t, time.Since(start), 10*time.Second, "%s answered only after %s", what, time.Since(start))
	}

	order := map[string]any{"k": "o-1", "p": prod, "q": 2}
	release := hold("SELECT 1 FROM products WHERE id = $1 FOR UPDATE", prod)
	answered("createOrder", func() {
		r := alice.do(orderQ, order)
		require.Equal(t, "INTERNAL", r.code(), "%+v", r)
		require.Equal(t, "the request took too long; please try again", r.Errors[0].Message)
	})
	release()
	var out struct {
		CreateOrder struct {
			Order struct{ ID, CheckoutURL string }
		}
	}
	first := alice.do(orderQ, order)
	first.into(t, &out)
	again := alice.do(orderQ, order)
	require.Empty(t, again.Errors)
	require.JSONEq(t, string(first.Data), string(again.Data), "the key replays the one order")
	require.Equal(t, 3, s.stock(prod), "the stock reserved once")

	// A subscription is not a request with a deadline: it outlives one.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	updates, err := s.subscribe(ctx, alice.token, `subscription($id: ID!) { orderUpdated(orderId: $id) { status } }`,
		map[string]any{"id": out.CreateOrder.Order.ID})
	require.NoError(t, err)
	status := func() string {
		var v struct {
			Data struct{ OrderUpdated struct{ Status string } }
		}
		select {
		case p, ok := <-updates:
			require.True(t, ok, "the subscription ended")
			require.NoError(t, json.Unmarshal(p, &v), "%s", p)
		case <-ctx.Done():
			t.Fatal("no update")
		}
		return v.Data.OrderUpdated.Status
	}
	require.Equal(t, "PENDING", status())
	time.Sleep(3 * timeout)

	release = hold("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
	answered("order query", func() {
		r := alice.do(`query($id: ID!) { order(id: $id) { status } }`, map[string]any{"id": out.CreateOrder.Order.ID})
		require.Equal(t, "INTERNAL", r.code(), "%+v", r)
	})
	answered("checkout page", func() {
		resp, err := httpClient.Get(out.CreateOrder.Order.CheckoutURL)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		require.True(t, strings.Contains(string(body), "please try again shortly"), "%s", body)
	})
	release()
	resp, err := httpClient.Get(out.CreateOrder.Order.CheckoutURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	alice.do(`mutation($k: String!, $o: ID!) { cancelOrder(input: {idempotencyKey: $k, orderId: $o}) { order { id } } }`,
		map[string]any{"k": "c-1", "o": out.CreateOrder.Order.ID}).into(t, &struct{}{})
	require.Equal(t, "CANCELED", status(), "the subscription, open past the timeout, sees the change")
	require.Equal(t, 5, s.stock(prod), "the stock returned")
	s.verify()
}
