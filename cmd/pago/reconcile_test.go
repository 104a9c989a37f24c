package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/store/storetest"
)

const (
	runReconQ   = `mutation($k: String!, $d: String!) { runReconciliation(input: {idempotencyKey: $k, date: $d}) { run { id date status checked matched mismatchCount autoFixed clearingBalance pgOwes } } }`
	mismatchesQ = `query($s: MismatchStatus, $c: MismatchClass) { mismatches(status: $s, class: $c, first: 50) {
		nodes { id kind class status orderId detail resolution resolvedBy } pageInfo { hasNextPage } } }`
	resolveQ = `mutation($k: String!, $id: ID!, $n: String!) { resolveMismatch(input: {idempotencyKey: $k, mismatchId: $id, note: $n}) {
		mismatch { id status resolution resolvedBy resolvedAt } } }`
	supportQ = `query($o: ID) { supportUser(orderId: $o) { user { id name } wallet { balance }
		walletTransactions(first: 10) { nodes { type amount orderId } }
		orders(first: 10) { nodes { id status payments { status events { from to source } } } pageInfo { hasNextPage } } } }`
)

// sandboxPost calls the in-process PG's REST or admin API as a test would
// from outside: over HTTP.
func (s *testServer) sandboxPost(path string, body any, secret bool) *http.Response {
	s.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(s.t, err)
	req, err := http.NewRequest(http.MethodPost, s.URL+"/sandbox"+path, bytes.NewReader(raw))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	if secret {
		req.SetBasicAuth(string(s.cfg.PGSecretKey), "")
	}
	resp, err := httpClient.Do(req)
	require.NoError(s.t, err)
	return resp
}

// reconcileCLI runs `pago reconcile --date date` against the server's
// database and PG.
func (s *testServer) reconcileCLI(eng storetest.Engine, date string) (string, error) {
	var out strings.Builder
	env := map[string]string{
		"PAGO_DATABASE_URL": s.cfg.DatabaseURL, "PAGO_DATA_DIR": s.cfg.DataDir, "PAGO_LOG_LEVEL": "error",
		"PAGO_PUBLIC_URL": s.cfg.PublicURL, "PAGO_REDIS_URL": eng.RedisURL, "PAGO_REDIS_PREFIX": s.cfg.RedisPrefix,
		"PAGO_JWT_SECRET": string(s.cfg.JWTSecret),
	}
	err := run(context.Background(), []string{"reconcile", "--date", date}, getenvFrom(env), &out, io.Discard)
	return out.String(), err
}

// A day of card payments with one sale confirmed at the PG behind pago's
// back and one line whose amount the PG reports wrong: the operator runs the
// date over GraphQL, finds one AUTO_FIXED and one MANUAL item, resolves the
// MANUAL one; `pago reconcile` exits non-zero until then; nothing is fixed
// twice; customer support sees the fixed payment's history; customers get
// FORBIDDEN on every operator field.
func TestReconciliationOverGraphQL(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		kst := time.FixedZone("KST", 9*60*60)
		if now := time.Now().In(kst); now.Hour() == 23 && now.Minute() >= 50 {
			t.Skip("too close to midnight KST: the sales would straddle two sold dates")
		}
		s := startServer(t, testEnv(t, eng, nil))
		admin := &customer{s: s, name: "ops", token: s.token("ops", true)}
		alice, bob, carol := s.customer("alice"), s.customer("bob"), s.customer("carol")
		topUp := func(c *customer, amount int64) string {
			var out struct {
				CreateOrder struct{ Order struct{ ID string } }
			}
			c.do(topUpQ, map[string]any{"k": "t-" + storetest.RandomHex(4), "a": amount}).into(t, &out)
			return out.CreateOrder.Order.ID
		}
		paid := func(c *customer, amount int64) string {
			id := topUp(c, amount)
			key := s.authenticate(id, amount, sandbox.CardSuccess)
			c.do(confirmQ, map[string]any{"k": "c-" + id, "o": id, "pk": key, "a": amount}).into(t, &struct{}{})
			return id
		}
		paid(alice, 10_000)
		carolOrder := paid(carol, 12_000)
		// bob's redirect never reached pago: the PG confirmed through its own API.
		bobOrder := topUp(bob, 15_000)
		resp := s.sandboxPost("/_sandbox/authenticate", map[string]any{"orderId": bobOrder, "amount": 15_000}, false)
		var authed struct{ PaymentKey string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&authed))
		resp.Body.Close()
		key := authed.PaymentKey
		resp = s.sandboxPost("/v1/payments/confirm", map[string]any{"paymentKey": key, "orderId": bobOrder, "amount": 15_000}, true)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp = s.sandboxPost("/_sandbox/settlement-faults", map[string]any{"kind": "AmountDiffers", "orderId": carolOrder}, false)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		date := time.Now().In(kst).Format(time.DateOnly)
		s.verify()

		// Customers see none of it.
		for _, q := range []struct {
			query string
			vars  map[string]any
		}{
			{`{ reconciliationRuns { nodes { id } } }`, nil},
			{`{ mismatches { nodes { id } } }`, nil},
			{`{ failedJobs { nodes { id } } }`, nil},
			{`query($o: ID) { supportUser(orderId: $o) { user { id } } }`, map[string]any{"o": bobOrder}},
			{`{ inDoubtPayments { nodes { id } } }`, nil},
			{runReconQ, map[string]any{"k": "r", "d": date}},
			{resolveQ, map[string]any{"k": "x", "id": "mis_01J00000000000000000000000", "n": "x"}},
			{`mutation { retryFailedJob(input: {idempotencyKey: "x", jobId: "1"}) { job { id } } }`, nil},
		} {
			require.Equal(t, "FORBIDDEN", alice.do(q.query, q.vars).code(), q.query)
		}

		var ran struct {
			RunReconciliation struct {
				Run struct {
					ID, Date, Status                           string
					Checked, Matched, MismatchCount, AutoFixed int
					ClearingBalance, PgOwes                    int64
				}
			}
		}
		admin.do(runReconQ, map[string]any{"k": "r1", "d": date}).into(t, &ran)
		run := ran.RunReconciliation.Run
		require.Equal(t, "DONE", run.Status)
		require.Equal(t, 3, run.Checked)
		require.Equal(t, 1, run.Matched)
		require.Equal(t, 2, run.MismatchCount)
		require.Equal(t, 1, run.AutoFixed)
		require.Equal(t, -run.PgOwes, run.ClearingBalance)
		require.EqualValues(t, 15_000, bob.balance(), "the sale pago missed is settled")
		s.verify()

		type mismatch struct{ ID, Kind, Class, Status, OrderID, Detail, Resolution, ResolvedBy string }
		var ms struct{ Mismatches struct{ Nodes []mismatch } }
		admin.do(mismatchesQ, map[string]any{"s": "OPEN", "c": "MANUAL"}).into(t, &ms)
		require.Len(t, ms.Mismatches.Nodes, 1)
		manual := ms.Mismatches.Nodes[0]
		require.Equal(t, "AMOUNT_DIFFERS", manual.Kind)
		require.Equal(t, carolOrder, manual.OrderID)
		admin.do(mismatchesQ, map[string]any{"c": "AUTO_FIXED"}).into(t, &ms)
		require.Len(t, ms.Mismatches.Nodes, 1)
		require.Equal(t, "MISSING_IN_PAGO", ms.Mismatches.Nodes[0].Kind)
		require.Equal(t, "RESOLVED", ms.Mismatches.Nodes[0].Status)
		require.Equal(t, "reconciliation", ms.Mismatches.Nodes[0].ResolvedBy)

		// From the shell: the same run; non-zero while a MANUAL item is open.
		out, err := s.reconcileCLI(eng, date)
		require.ErrorIs(t, err, errOpenItems, out)
		require.Contains(t, out, "MANUAL     1 (open 1) AMOUNT_DIFFERS=1")
		require.Contains(t, out, ": consistent")

		var resolved struct {
			ResolveMismatch struct {
				Mismatch struct{ ID, Status, Resolution, ResolvedBy string }
			}
		}
		admin.do(resolveQ, map[string]any{"k": "res1", "id": manual.ID, "n": "the PG's report was wrong; confirmed 12,000 with them"}).into(t, &resolved)
		require.Equal(t, "RESOLVED", resolved.ResolveMismatch.Mismatch.Status)
		require.Equal(t, "ops", resolved.ResolveMismatch.Mismatch.ResolvedBy)

		out, err = s.reconcileCLI(eng, date)
		require.NoError(t, err, out)
		admin.do(runReconQ, map[string]any{"k": "r2", "d": date}).into(t, &ran)
		require.Equal(t, run.ID, ran.RunReconciliation.Run.ID, "one run per date")
		require.Equal(t, 2, ran.RunReconciliation.Run.MismatchCount, "no duplicate mismatches")
		require.EqualValues(t, 15_000, bob.balance(), "no second fix")
		require.Equal(t, 1, s.app.sandbox.ConfirmCount(bobOrder))
		s.verify()

		var runs struct {
			ReconciliationRuns struct{ Nodes []struct{ Date string } }
		}
		admin.do(`{ reconciliationRuns { nodes { date } } }`, nil).into(t, &runs)
		require.Len(t, runs.ReconciliationRuns.Nodes, 1)
		require.Equal(t, date, runs.ReconciliationRuns.Nodes[0].Date)

		// Customer support looks bob up through his order.
		var sup struct {
			SupportUser struct {
				User               struct{ ID, Name string }
				Wallet             struct{ Balance int64 }
				WalletTransactions struct {
					Nodes []struct {
						Type    string
						Amount  int64
						OrderID string
					}
				}
				Orders struct {
					Nodes []struct {
						ID, Status string
						Payments   []struct {
							Status string
							Events []struct{ From, To, Source string }
						}
					}
				}
			}
		}
		admin.do(supportQ, map[string]any{"o": bobOrder}).into(t, &sup)
		require.Equal(t, bob.id, sup.SupportUser.User.ID)
		require.EqualValues(t, 15_000, sup.SupportUser.Wallet.Balance)
		require.Len(t, sup.SupportUser.WalletTransactions.Nodes, 1)
		require.Equal(t, "CHARGE", sup.SupportUser.WalletTransactions.Nodes[0].Type)
		require.Len(t, sup.SupportUser.Orders.Nodes, 1)
		o := sup.SupportUser.Orders.Nodes[0]
		require.Equal(t, "PAID", o.Status)
		require.Len(t, o.Payments, 1)
		require.Equal(t, "DONE", o.Payments[0].Status)
		require.Equal(t, "reconciliation", o.Payments[0].Events[0].Source)

		// The dead-letter queue is empty, and a job that is not there is NOT_FOUND.
		var fj struct {
			FailedJobs struct{ Nodes []struct{ ID string } }
		}
		admin.do(`{ failedJobs { nodes { id } } }`, nil).into(t, &fj)
		require.Empty(t, fj.FailedJobs.Nodes)
		require.Equal(t, "NOT_FOUND", admin.do(`mutation { retryFailedJob(input: {idempotencyKey: "x", jobId: "999999"}) { job { id } } }`, nil).code())
	})
}
