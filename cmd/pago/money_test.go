package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/storetest"
)

const (
	createWalletQ = `mutation($k: String!) { createWallet(input: {idempotencyKey: $k}) { wallet { id balance limit } } }`
	adjustQ       = `mutation($k: String!, $u: ID!, $a: Money!) { adjustWallet(input: {idempotencyKey: $k, userId: $u, amount: $a, reason: "test funding"}) { wallet { id balance } } }`
	upsertQ       = `mutation($k: String!, $sku: String!, $p: Money!, $s: Int!) { upsertProduct(input: {idempotencyKey: $k, sku: $sku, name: $sku, price: $p, stock: $s}) { product { id stock price } } }`
	orderQ        = `mutation($k: String!, $p: ID!, $q: Int!) { createOrder(input: {idempotencyKey: $k, items: [{productId: $p, quantity: $q}]}) { order { id status amount checkoutUrl } } }`
	payQ          = `mutation($k: String!, $o: ID!) { payWithWallet(input: {idempotencyKey: $k, orderId: $o}) { order { id status } payment { id status amount } wallet { balance } } }`
	cancelQ       = `mutation($k: String!, $o: ID!) { cancelOrder(input: {idempotencyKey: $k, orderId: $o}) { order { id status } } }`
	walletQ       = `{ wallet { id balance } }`
)

// customer is a user with a token on a server.
type customer struct {
	s     *testServer
	name  string
	token string
	id    string
}

func (s *testServer) customer(name string) *customer {
	c := &customer{s: s, name: name, token: s.token(name, false)}
	var me struct{ Me struct{ ID string } }
	s.gql(c.token, `{ me { id } }`, nil).into(s.t, &me)
	c.id = me.Me.ID
	return c
}

func (c *customer) do(query string, vars map[string]any) gqlResponse {
	return c.s.gql(c.token, query, vars)
}

// doUntilAnswered is do as a careful client does it: REQUEST_IN_PROGRESS
// ("the wallet is busy", "the first request with this key is still
// running") is retried with the same key until the request has its answer.
// A busy machine makes a queue of 200 payments on one wallet outlast the
// lock's bounded wait; that is the contract's retryable answer, not a result.
func (c *customer) doUntilAnswered(query string, vars map[string]any) gqlResponse {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := c.do(query, vars)
		if r.code() != "REQUEST_IN_PROGRESS" || time.Now().After(deadline) {
			return r
		}
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
	}
}

// fund creates c's wallet and credits amount through adjustWallet.
func (s *testServer) fund(c *customer, amount int64) {
	s.t.Helper()
	c.do(createWalletQ, map[string]any{"k": "w-" + c.name}).into(s.t, &struct{}{})
	s.gql(s.token("ops", true), adjustQ, map[string]any{"k": "fund-" + c.name + storetest.RandomHex(4), "u": c.id, "a": amount}).into(s.t, &struct{}{})
}

func (s *testServer) product(sku string, price, stock int64) string {
	s.t.Helper()
	var out struct {
		UpsertProduct struct{ Product struct{ ID string } }
	}
	s.gql(s.token("ops", true), upsertQ, map[string]any{"k": "p-" + sku, "sku": sku, "p": price, "s": stock}).into(s.t, &out)
	return out.UpsertProduct.Product.ID
}

func (c *customer) order(productID string, qty int) string {
	var out struct {
		CreateOrder struct{ Order struct{ ID string } }
	}
	c.do(orderQ, map[string]any{"k": "o-" + storetest.RandomHex(8), "p": productID, "q": qty}).into(c.s.t, &out)
	return out.CreateOrder.Order.ID
}

func (c *customer) balance() int64 {
	var out struct{ Wallet struct{ Balance int64 } }
	c.do(walletQ, nil).into(c.s.t, &out)
	return out.Wallet.Balance
}

// verify runs `pago verify` against the server's database.
func (s *testServer) verify() {
	s.t.Helper()
	var out strings.Builder
	env := map[string]string{"PAGO_DATABASE_URL": s.cfg.DatabaseURL, "PAGO_LOG_LEVEL": "error", "PAGO_DATA_DIR": s.cfg.DataDir}
	err := run(context.Background(), []string{"verify"}, getenvFrom(env), &out, io.Discard)
	require.NoError(s.t, err, out.String())
}

// parallel runs fn(i) for i in [0,n) at once and waits.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

func TestWalletHappyPath(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, nil))
		alice := s.customer("alice")
		require.Equal(t, "null", string(alice.do(walletQ, nil).Data[len(`{"wallet":`):len(`{"wallet":null`)]))
		s.fund(alice, 50_000)
		require.EqualValues(t, 50_000, alice.balance())

		prod := s.product("tea", 12_000, 5)
		orderID := alice.order(prod, 2)
		var paid struct {
			PayWithWallet struct {
				Order   struct{ ID, Status string }
				Payment struct {
					Status string
					Amount int64
				}
				Wallet struct{ Balance int64 }
			}
		}
		alice.do(payQ, map[string]any{"k": "pay-1", "o": orderID}).into(t, &paid)
		require.Equal(t, "PAID", paid.PayWithWallet.Order.Status)
		require.Equal(t, "DONE", paid.PayWithWallet.Payment.Status)
		require.EqualValues(t, 24_000, paid.PayWithWallet.Payment.Amount)
		require.EqualValues(t, 26_000, paid.PayWithWallet.Wallet.Balance)

		// Paying again with a new key: the order is no longer PENDING.
		require.Equal(t, "INVALID_STATE", alice.do(payQ, map[string]any{"k": "pay-2", "o": orderID}).code())

		var hist struct {
			WalletTransactions struct {
				Nodes []struct {
					Type         string
					Amount       int64
					BalanceAfter int64
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
		alice.do(`{ walletTransactions(first: 1) { nodes { type amount balanceAfter } pageInfo { hasNextPage endCursor } } }`, nil).into(t, &hist)
		require.Len(t, hist.WalletTransactions.Nodes, 1)
		require.Equal(t, "PAYMENT", hist.WalletTransactions.Nodes[0].Type)
		require.EqualValues(t, -24_000, hist.WalletTransactions.Nodes[0].Amount)
		require.True(t, hist.WalletTransactions.PageInfo.HasNextPage)
		alice.do(`query($a: String) { walletTransactions(first: 5, after: $a) { nodes { type amount balanceAfter } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"a": hist.WalletTransactions.PageInfo.EndCursor}).into(t, &hist)
		require.Len(t, hist.WalletTransactions.Nodes, 1)
		require.Equal(t, "ADJUSTMENT", hist.WalletTransactions.Nodes[0].Type)
		require.False(t, hist.WalletTransactions.PageInfo.HasNextPage)

		// The ceiling: 26,000 + 80,000 > 100,000, refused and nothing written.
		resp := s.gql(s.token("ops", true), adjustQ, map[string]any{"k": "big", "u": alice.id, "a": 80_000})
		require.Equal(t, "BALANCE_LIMIT_EXCEEDED", resp.code())
		require.EqualValues(t, 26_000, alice.balance())
		s.verify()
	})
}

// 200 concurrent payments with distinct keys against a wallet that affords
// exactly 100 of them.
func TestConcurrentWalletPayments(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, nil))
		alice := s.customer("alice")
		s.fund(alice, 100_000)
		prod := s.product("pin", 1_000, 200)
		orders := make([]string, 200)
		parallel(200, func(i int) { orders[i] = alice.order(prod, 1) })

		codes := make([]string, 200)
		parallel(200, func(i int) {
			codes[i] = alice.doUntilAnswered(payQ, map[string]any{"k": fmt.Sprintf("pay-%d", i), "o": orders[i]}).code()
		})
		count := map[string]int{}
		for _, c := range codes {
			count[c]++
		}
		require.Equal(t, map[string]int{"": 100, "INSUFFICIENT_BALANCE": 100}, count)
		require.Zero(t, alice.balance())
		s.verify()
	})
}

// 100 concurrent calls with the same key: one debit; every answer is the
// replay or REQUEST_IN_PROGRESS.
func TestConcurrentSameKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, nil))
		alice := s.customer("alice")
		s.fund(alice, 10_000)
		orderID := alice.order(s.product("cup", 3_000, 10), 1)

		type answer struct {
			code    string
			payment string
		}
		answers := make([]answer, 100)
		parallel(100, func(i int) {
			r := alice.do(payQ, map[string]any{"k": "same-key", "o": orderID})
			a := answer{code: r.code()}
			if a.code == "" {
				var out struct {
					PayWithWallet struct{ Payment struct{ ID string } }
				}
				r.into(t, &out)
				a.payment = out.PayWithWallet.Payment.ID
			}
			answers[i] = a
		})
		var payments = map[string]bool{}
		for _, a := range answers {
			require.Contains(t, []string{"", "REQUEST_IN_PROGRESS"}, a.code)
			if a.code == "" {
				payments[a.payment] = true
			}
		}
		require.Len(t, payments, 1, "every successful answer is the same payment")
		require.EqualValues(t, 7_000, alice.balance())

		// The same key with another input is a reuse, not a replay.
		other := alice.order(s.product("cup2", 1_000, 1), 1)
		require.Equal(t, "IDEMPOTENCY_KEY_REUSED", alice.do(payQ, map[string]any{"k": "same-key", "o": other}).code())
		// After the fact, the replay is the same answer.
		var out struct {
			PayWithWallet struct{ Payment struct{ ID string } }
		}
		alice.do(payQ, map[string]any{"k": "same-key", "o": orderID}).into(t, &out)
		require.True(t, payments[out.PayWithWallet.Payment.ID])
		// Keys are per user: bob's same key is his own.
		bob := s.customer("bob")
		require.Equal(t, "NOT_FOUND", bob.do(payQ, map[string]any{"k": "same-key", "o": orderID}).code())
		s.verify()
	})
}

// A business error is the answer to its key: replayed even after the cause
// is gone.
func TestIdempotentErrorReplay(t *testing.T) {
	s := startServer(t, testEnv(t, storetest.SQLite(), nil))
	alice := s.customer("alice")
	s.fund(alice, 1_000)
	orderID := alice.order(s.product("mug", 5_000, 1), 1)
	require.Equal(t, "INSUFFICIENT_BALANCE", alice.do(payQ, map[string]any{"k": "k1", "o": orderID}).code())
	s.gql(s.token("ops", true), adjustQ, map[string]any{"k": "more", "u": alice.id, "a": 10_000}).into(t, &struct{}{})
	require.Equal(t, "INSUFFICIENT_BALANCE", alice.do(payQ, map[string]any{"k": "k1", "o": orderID}).code(), "replayed")
	require.Empty(t, alice.do(payQ, map[string]any{"k": "k2", "o": orderID}).Errors, "a new key pays")
	s.verify()
}

// 50 concurrent orders for a product with stock 10: exactly 10 succeed;
// cancel and expiry return stock.
func TestStockUnderConcurrency(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, map[string]string{"PAGO_ORDER_TTL": "2s"}))
		prod := s.product("poster", 45_000, 10)
		buyers := make([]*customer, 50)
		for i := range buyers {
			buyers[i] = s.customer(fmt.Sprintf("buyer%d", i))
		}
		ids := make([]string, 50)
		codes := make([]string, 50)
		parallel(50, func(i int) {
			r := buyers[i].do(orderQ, map[string]any{"k": "o", "p": prod, "q": 1})
			codes[i] = r.code()
			if codes[i] == "" {
				var out struct {
					CreateOrder struct{ Order struct{ ID string } }
				}
				r.into(t, &out)
				ids[i] = out.CreateOrder.Order.ID
			}
		})
		count := map[string]int{}
		for _, c := range codes {
			count[c]++
		}
		require.Equal(t, map[string]int{"": 10, "OUT_OF_STOCK": 40}, count)
		require.Equal(t, 0, s.stock(prod))

		// Cancel one: its unit returns at once.
		for i, id := range ids {
			if id != "" {
				var out struct {
					CancelOrder struct{ Order struct{ Status string } }
				}
				buyers[i].do(cancelQ, map[string]any{"k": "c", "o": id}).into(t, &out)
				require.Equal(t, "CANCELED", out.CancelOrder.Order.Status)
				require.Equal(t, "INVALID_STATE", buyers[i].do(cancelQ, map[string]any{"k": "c2", "o": id}).code())
				break
			}
		}
		require.Equal(t, 1, s.stock(prod))
		// The other nine expire and return theirs.
		require.Eventually(t, func() bool { return s.stock(prod) == 10 }, 20*time.Second, 200*time.Millisecond)
		s.verify()
	})
}

func (s *testServer) stock(productID string) int {
	var out struct {
		Products []struct {
			ID    string
			Stock int
		}
	}
	s.gql(s.token("ops", true), `{ products { id stock } }`, nil).into(s.t, &out)
	for _, p := range out.Products {
		if p.ID == productID {
			return p.Stock
		}
	}
	s.t.Fatalf("no product %s", productID)
	return 0
}

// brokenLocker lets everyone in at once: the database alone must keep the
// wallet from going negative.
type brokenLocker struct{ payment.Locker }

func (brokenLocker) Lock(context.Context, string) (payment.Lock, error) { return noLock{}, nil }

type noLock struct{}

func (noLock) Until() time.Time             { return time.Now().Add(time.Hour) }
func (noLock) Unlock(context.Context) error { return nil }

func TestNoOverdraftWithoutLocks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServerWith(t, testEnv(t, eng, nil), appOptions{locker: func(l payment.Locker) payment.Locker { return brokenLocker{l} }})
		alice := s.customer("alice")
		s.fund(alice, 50_000)
		prod := s.product("pin", 1_000, 200)
		orders := make([]string, 100)
		parallel(100, func(i int) { orders[i] = alice.order(prod, 1) })
		codes := make([]string, 100)
		parallel(100, func(i int) {
			codes[i] = alice.do(payQ, map[string]any{"k": fmt.Sprintf("p%d", i), "o": orders[i]}).code()
		})
		paid := 0
		for _, c := range codes {
			require.Contains(t, []string{"", "INSUFFICIENT_BALANCE", "REQUEST_IN_PROGRESS"}, c)
			if c == "" {
				paid++
			}
		}
		require.LessOrEqual(t, paid, 50)
		require.EqualValues(t, 50_000-1_000*paid, alice.balance())
		s.verify()
	})
}

// Two pago instances on one database and Redis, clients spread over both.
func TestTwoInstancesOneWallet(t *testing.T) {
	pg, ok := storetest.Postgres(t)
	if !ok {
		t.Skip("needs PostgreSQL and Redis")
	}
	env := testEnv(t, pg, nil)
	a := startServer(t, env)
	b := startServer(t, env)
	alice := a.customer("alice")
	a.fund(alice, 60_000)
	prod := a.product("pin", 1_000, 200)
	orders := make([]string, 120)
	parallel(120, func(i int) { orders[i] = alice.order(prod, 1) })
	aliceOnB := &customer{s: b, name: "alice", token: b.token("alice", false), id: alice.id}
	codes := make([]string, 120)
	parallel(120, func(i int) {
		c := alice
		if i%2 == 1 {
			c = aliceOnB
		}
		codes[i] = c.do(payQ, map[string]any{"k": fmt.Sprintf("p%d", i), "o": orders[i]}).code()
	})
	count := map[string]int{}
	for _, c := range codes {
		count[c]++
	}
	require.Equal(t, map[string]int{"": 60, "INSUFFICIENT_BALANCE": 60}, count)
	require.Zero(t, alice.balance())
	a.verify()
}

func TestBadInputWritesNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, nil))
		alice, bob := s.customer("alice"), s.customer("bob")
		ops := s.token("ops", true)
		s.fund(alice, 10_000)
		prod := s.product("tea", 1_000, 5)
		bobsOrder := bob.order(prod, 1)

		raw := func(token, query string) gqlResponse { return s.gql(token, query, nil) }
		cases := []struct {
			name, token, query, code string
		}{
			{"zero adjust", ops, `mutation { adjustWallet(input: {idempotencyKey: "a", userId: "` + alice.id + `", amount: 0, reason: "x"}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"fractional", ops, `mutation { adjustWallet(input: {idempotencyKey: "a", userId: "` + alice.id + `", amount: 10.5, reason: "x"}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"string amount", ops, `mutation { adjustWallet(input: {idempotencyKey: "a", userId: "` + alice.id + `", amount: "100", reason: "x"}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"beyond 2^53", ops, `mutation { adjustWallet(input: {idempotencyKey: "a", userId: "` + alice.id + `", amount: 9007199254740993, reason: "x"}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"over the limit", ops, `mutation { adjustWallet(input: {idempotencyKey: "a", userId: "` + alice.id + `", amount: 100001, reason: "x"}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"blank reason", ops, `mutation { adjustWallet(input: {idempotencyKey: "a", userId: "` + alice.id + `", amount: 5, reason: "  "}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"not an admin", alice.token, `mutation { adjustWallet(input: {idempotencyKey: "a", userId: "` + alice.id + `", amount: 5, reason: "x"}) { wallet { id } } }`, "FORBIDDEN"},
			{"unknown user", ops, `mutation { adjustWallet(input: {idempotencyKey: "a", userId: "usr_01AAAAAAAAAAAAAAAAAAAAAAAA", amount: 5, reason: "x"}) { wallet { id } } }`, "NOT_FOUND"},
			{"malformed user", ops, `mutation { adjustWallet(input: {idempotencyKey: "a", userId: "alice", amount: 5, reason: "x"}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"negative top-up", alice.token, `mutation { createOrder(input: {idempotencyKey: "o", kind: WALLET_TOPUP, amount: -5}) { order { id } } }`, "BAD_USER_INPUT"},
			{"zero quantity", alice.token, `mutation { createOrder(input: {idempotencyKey: "o", items: [{productId: "` + prod + `", quantity: 0}]}) { order { id } } }`, "BAD_USER_INPUT"},
			{"negative quantity", alice.token, `mutation { createOrder(input: {idempotencyKey: "o", items: [{productId: "` + prod + `", quantity: -1}]}) { order { id } } }`, "BAD_USER_INPUT"},
			{"too many", alice.token, `mutation { createOrder(input: {idempotencyKey: "o", items: [{productId: "` + prod + `", quantity: 6}]}) { order { id } } }`, "OUT_OF_STOCK"},
			{"unknown product", alice.token, `mutation { createOrder(input: {idempotencyKey: "o2", items: [{productId: "prd_01AAAAAAAAAAAAAAAAAAAAAAAA", quantity: 1}]}) { order { id } } }`, "NOT_FOUND"},
			{"no items", alice.token, `mutation { createOrder(input: {idempotencyKey: "o3", items: []}) { order { id } } }`, "BAD_USER_INPUT"},
			{"other user's order", alice.token, `mutation { payWithWallet(input: {idempotencyKey: "p", orderId: "` + bobsOrder + `"}) { order { id } } }`, "NOT_FOUND"},
			{"other user's cancel", alice.token, `mutation { cancelOrder(input: {idempotencyKey: "c", orderId: "` + bobsOrder + `"}) { order { id } } }`, "NOT_FOUND"},
			{"malformed order", alice.token, `mutation { payWithWallet(input: {idempotencyKey: "p2", orderId: "123"}) { order { id } } }`, "BAD_USER_INPUT"},
			{"empty key", alice.token, `mutation { createWallet(input: {idempotencyKey: ""}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"10 KB key", alice.token, `mutation { createWallet(input: {idempotencyKey: "` + strings.Repeat("k", 10_000) + `"}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"control char key", alice.token, `mutation { createWallet(input: {idempotencyKey: "a\u0001b"}) { wallet { id } } }`, "BAD_USER_INPUT"},
			{"bad price", ops, `mutation { upsertProduct(input: {idempotencyKey: "u", sku: "x", name: "x", price: 0, stock: 1}) { product { id } } }`, "BAD_USER_INPUT"},
			{"bad sku", ops, `mutation { upsertProduct(input: {idempotencyKey: "u", sku: "no spaces", name: "x", price: 1, stock: 1}) { product { id } } }`, "BAD_USER_INPUT"},
			{"first out of range", alice.token, `{ orders(first: 1000) { nodes { id } } }`, "BAD_USER_INPUT"},
			{"foreign cursor", alice.token, `{ orders(after: "bm9wZQ") { nodes { id } } }`, "BAD_USER_INPUT"},
		}
		for _, tc := range cases {
			resp := raw(tc.token, tc.query)
			require.Equal(t, tc.code, resp.code(), "%s: %+v", tc.name, resp.Errors)
		}
		// Nothing moved.
		require.EqualValues(t, 10_000, alice.balance())
		require.Equal(t, 4, s.stock(prod))
		var o struct{ Order *struct{ ID string } }
		alice.do(`query($id: ID!) { order(id: $id) { id } }`, map[string]any{"id": bobsOrder}).into(t, &o)
		require.Nil(t, o.Order, "another user's order does not exist for alice")
		s.verify()
	})
}

// N concurrent createWallet calls, each with its own key, create one wallet.
func TestConcurrentCreateWallet(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, nil))
		alice := s.customer("alice")
		ids := make([]string, 20)
		parallel(20, func(i int) {
			var out struct {
				CreateWallet struct{ Wallet struct{ ID string } }
			}
			alice.do(createWalletQ, map[string]any{"k": fmt.Sprintf("w%d", i)}).into(t, &out)
			ids[i] = out.CreateWallet.Wallet.ID
		})
		for _, id := range ids {
			require.Equal(t, ids[0], id)
		}
		s.verify()
	})
}
