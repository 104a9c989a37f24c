package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The chaos suite runs on PostgreSQL; this is its short variant on the
// embedded default: one `pago serve` process with SQLite, the in-process
// Redis and the in-process PG sandbox, killed with SIGKILL while customers
// pay by wallet and by card, then restarted. Nothing a customer was told
// is paid may be lost, nothing may stay IN_DOUBT, and `pago verify` must be
// clean. (The in-process sandbox forgets everything with the process, so a
// card confirm in flight at the kill settles as FAILED against a PG that no
// longer knows it: the PG's record is not compared here.)
func TestEmbeddedDefaultCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a pago process")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	secret := "crash-secret-0123456789abcdef0123456789"
	env := []string{execEnv + "=1", "PAGO_ADDR=" + addr, "PAGO_DATA_DIR=" + dir, "PAGO_JWT_SECRET=" + secret,
		"PAGO_LOG_LEVEL=warn", "PAGO_PROBE_DELAY=500ms", "PAGO_PROBE_MAX_DELAY=1s", "PAGO_CONFIRM_TIMEOUT=3s",
		"PAGO_IDEMPOTENCY_LEASE=3s", "PAGO_WALLET_LIMIT=10000000", "PAGO_MAX_OPEN_ORDERS=100000", "PAGO_MAX_RESERVED_UNITS=1000000",
		// The embedded default: no database URL, no Redis URL, no PG URL.
		"PAGO_DATABASE_URL=", "PAGO_REDIS_URL=", "PAGO_PG_BASE_URL=", "PAGO_PG_MODE=", "PAGO_ENV=", "PAGO_PUBLIC_URL="}
	p := &proc{name: "pago", path: self, args: []string{"serve"}, env: env, log: filepath.Join(dir, "pago.log")}
	base := "http://" + addr
	start := func() {
		require.NoError(t, p.start())
		require.NoError(t, waitHTTP(p, base+"/readyz", 60*time.Second), "log: %s", filepath.Join(dir, "pago.log"))
	}
	start()
	t.Cleanup(p.stop)

	cfg, err := loadConfig(getenvFrom(map[string]string{"PAGO_DATA_DIR": dir, "PAGO_JWT_SECRET": secret, "PAGO_ADDR": addr}))
	require.NoError(t, err)
	s := &testServer{t: t, URL: base, cfg: cfg}
	prod := s.product("crash-tea", 1_000, 100_000)
	var customers []*customer
	for i := range 4 {
		c := s.customer(fmt.Sprintf("crash%d", i))
		s.fund(c, 1_000_000)
		customers = append(customers, c)
	}

	// paid are the orders a customer was told are paid.
	var mu sync.Mutex
	paid := map[string]bool{}
	var attempts atomic.Int64
	shop := func(ctx context.Context, c *customer, rng *rand.Rand) {
		for ctx.Err() == nil {
			attempts.Add(1)
			var o struct {
				CreateOrder struct{ Order struct{ ID string } }
			}
			resp, ok := tryGQL(ctx, base, c.token, orderQ, map[string]any{"k": "o-" + randomKey(rng), "p": prod, "q": 1})
			if !ok || resp.code() != "" || json.Unmarshal(resp.Data, &o) != nil || o.CreateOrder.Order.ID == "" {
				continue
			}
			id := o.CreateOrder.Order.ID
			if rng.IntN(2) == 0 {
				resp, ok = tryGQL(ctx, base, c.token, payQ, map[string]any{"k": "p-" + id, "o": id})
			} else {
				key, authed := sandboxAuthenticate(ctx, base, id, 1_000)
				if !authed {
					continue
				}
				resp, ok = tryGQL(ctx, base, c.token, confirmQ, map[string]any{"k": "c-" + id, "o": id, "pk": key, "a": 1_000})
			}
			if ok && resp.code() == "" {
				mu.Lock()
				paid[id] = true
				mu.Unlock()
			}
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i, c := range customers {
			wg.Go(func() { shop(ctx, c, rand.New(rand.NewPCG(uint64(round), uint64(i)))) })
		}
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		p.kill()
		cancel()
		wg.Wait()
		start()
	}
	mu.Lock()
	t.Logf("%d attempts, %d acknowledged payments", attempts.Load(), len(paid))
	require.NotEmpty(t, paid, "the customers paid something")
	mu.Unlock()

	// Every in-doubt payment settles by itself after the restart.
	ops := s.token("ops", true)
	require.Eventually(t, func() bool {
		resp, ok := tryGQL(context.Background(), base, ops, `{ inDoubtPayments(first: 100) { nodes { id } } }`, nil)
		var out struct {
			InDoubtPayments struct{ Nodes []struct{ ID string } }
		}
		return ok && resp.code() == "" && json.Unmarshal(resp.Data, &out) == nil && len(out.InDoubtPayments.Nodes) == 0
	}, 90*time.Second, 250*time.Millisecond, "payments left IN_DOUBT")

	for id := range paid {
		resp, ok := tryGQL(context.Background(), base, ops, `query($id: ID!) { order(id: $id) { status } }`, map[string]any{"id": id})
		require.True(t, ok)
		var out struct{ Order struct{ Status string } }
		require.NoError(t, json.Unmarshal(resp.Data, &out))
		require.Equal(t, "PAID", out.Order.Status, "order %s was acknowledged as paid", id)
	}
	p.stop()
	s.cfg.DatabaseURL = "sqlite:" + filepath.Join(dir, "pago.db")
	s.verify()
}

// tryGQL is gql that tolerates a dead server: ok is false when no answer came.
func tryGQL(ctx context.Context, base, token, query string, vars map[string]any) (gqlResponse, bool) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return gqlResponse{}, false
	}
	defer resp.Body.Close()
	var out gqlResponse
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return gqlResponse{}, false
	}
	out.Status = resp.StatusCode
	return out, true
}

// sandboxAuthenticate does the customer's part in the in-process PG's widget.
func sandboxAuthenticate(ctx context.Context, base, orderID string, amount int64) (string, bool) {
	body, _ := json.Marshal(map[string]any{"orderId": orderID, "orderName": "tea", "amount": amount, "card": "success"})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/sandbox/_sandbox/authenticate", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var out struct{ PaymentKey string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return "", false
	}
	return out.PaymentKey, true
}

func randomKey(rng *rand.Rand) string { return fmt.Sprintf("%016x", rng.Uint64()) }
