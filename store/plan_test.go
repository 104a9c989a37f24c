package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/pgqueries"
	"github.com/pago/pago/store/storetest"
)

// On PostgreSQL the batches' reads go through the indexes in steady
// state (tables analyzed, thousands of rows), whatever the plan cache
// chooses. The portable form of these reads, a recursive CTE splitting
// joined ids, was estimated at about 90 ids and planned a sequential scan
// of the whole table for every batch up to some 20,000 rows.
func TestBatchReadsUseTheIndexesOnPostgres(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		if eng.Name != "postgres" {
			continue
		}
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s, u, now := withUser(t, eng, "plans")
			_, err := s.UpsertProduct(ctx, payment.Product{ID: "prd_plans00000000000000000000", SKU: "plans", Name: "plans",
				Price: payment.Won(1), Stock: 1_000_000, CreatedAt: now, UpdatedAt: now})
			must(t, err)
			fill := []string{
				`INSERT INTO orders (id, user_id, kind, status, name, amount, currency, expires_at, created_at, updated_at)
				 SELECT 'ord_' || lpad(i::text, 26, '0'), $2, 'PURCHASE', 'PAID', 'o', 1, 'KRW', $1, $1, $1 FROM generate_series(1, 5000) i`,
				`INSERT INTO order_items (order_id, product_id, name, quantity, unit_price)
				 SELECT id, 'prd_plans00000000000000000000', 'p', 1, 1 FROM orders`,
				`INSERT INTO payments (id, order_id, method, status, amount, refunded_amount, version, created_at, updated_at, wallet_amount)
				 SELECT 'pay_' || substr(id, 5), id, 'WALLET', 'DONE', 1, 0, 0, $1, $1, 0 FROM orders`,
				`INSERT INTO payment_events (id, payment_id, from_status, to_status, source, code, message, detail, created_at)
				 SELECT 'pev_' || substr(id, 5), id, 'PENDING', 'DONE', 's', 'c', 'm', 'd', $1 FROM payments`,
				`INSERT INTO users (id, name, created_at) SELECT 'usr_' || lpad(i::text, 26, '0'), 'plans-' || i, $1 FROM generate_series(1, 5000) i`,
				`INSERT INTO ledger_accounts (id, kind, currency, created_at) SELECT 'acc_' || substr(id, 5), 'WALLET', 'KRW', $1 FROM users WHERE name LIKE 'plans-%'`,
				`INSERT INTO wallets (id, user_id, account_id, currency, balance, balance_limit, version, created_at, updated_at)
				 SELECT 'wal_' || substr(id, 5), id, 'acc_' || substr(id, 5), 'KRW', 0, 1000, 0, $1, $1 FROM users WHERE name LIKE 'plans-%'`,
				`ANALYZE`,
			}
			for _, q := range fill {
				var args []any
				if strings.Contains(q, "$2") {
					args = []any{now, u.ID}
				} else if strings.Contains(q, "$1") {
					args = []any{now}
				}
				if _, err := s.db.DB.ExecContext(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			ids := []string{"ord_" + strings.Repeat("0", 23) + "100", "ord_" + strings.Repeat("0", 23) + "200"}
			pays := []string{"pay_" + strings.Repeat("0", 23) + "100", "pay_" + strings.Repeat("0", 23) + "200"}

			conn, err := s.db.DB.Conn(ctx)
			must(t, err)
			defer conn.Close()
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				_, err := conn.ExecContext(ctx, "SET plan_cache_mode = "+mode)
				must(t, err)
				for _, c := range []struct {
					read  string
					table string
					call  func(q *pgqueries.Queries) error
				}{
					{"orders", "orders", func(q *pgqueries.Queries) error { _, err := q.ListOrdersByIDs(ctx, ids); return err }},
					{"orders", "order_items", func(q *pgqueries.Queries) error { _, err := q.ListOrdersByIDs(ctx, ids); return err }},
					{"orders with wallets", "orders", func(q *pgqueries.Queries) error { _, err := q.ListOrdersWithWalletsByIDs(ctx, ids); return err }},
					{"orders with wallets", "wallets", func(q *pgqueries.Queries) error { _, err := q.ListOrdersWithWalletsByIDs(ctx, ids); return err }},
					{"payments", "payments", func(q *pgqueries.Queries) error { _, err := q.ListPaymentsByOrders(ctx, ids); return err }},
					{"events", "payment_events", func(q *pgqueries.Queries) error { _, err := q.ListPaymentEventsByPayments(ctx, pays); return err }},
					{"payments by key", "payments", func(q *pgqueries.Queries) error {
						_, err := q.ListPaymentsByPGKeys(ctx, []string{"pk_plans_1", "pk_plans_2"})
						return err
					}},
					{"payments locked", "payments", func(q *pgqueries.Queries) error { _, err := q.LockPaymentsByIDs(ctx, pays); return err }},
				} {
					rec := &recordedQuery{}
					if err := c.call(pgqueries.New(rec)); !errors.Is(err, errRecorded) {
						t.Fatalf("recording the %s read: %v", c.read, err)
					}
					plan := explain(t, ctx, conn, rec)
					if strings.Contains(plan, "Seq Scan on "+c.table+" ") {
						t.Errorf("%s: the %s read scans all of %s:\n%s", mode, c.read, c.table, plan)
					}
				}
			}
		})
	}
}

var errRecorded = errors.New("recorded, not run")

// recordedQuery is a pgqueries.DBTX that keeps the one query it is asked
// and runs nothing, so a test can EXPLAIN exactly what the store sends.
type recordedQuery struct {
	query string
	args  []any
}

func (r *recordedQuery) ExecContext(_ context.Context, q string, args ...any) (sql.Result, error) {
	r.query, r.args = q, args
	return nil, errRecorded
}

func (r *recordedQuery) PrepareContext(context.Context, string) (*sql.Stmt, error) {
	return nil, errRecorded
}

func (r *recordedQuery) QueryContext(_ context.Context, q string, args ...any) (*sql.Rows, error) {
	r.query, r.args = q, args
	return nil, errRecorded
}

func (r *recordedQuery) QueryRowContext(context.Context, string, ...any) *sql.Row {
	panic("the batch reads are :many queries")
}

// explain is PostgreSQL's plan for rec's query with its arguments, on conn
// (whose plan_cache_mode the caller set).
func explain(t *testing.T, ctx context.Context, conn *sql.Conn, rec *recordedQuery) string {
	t.Helper()
	rows, err := conn.QueryContext(ctx, "EXPLAIN "+rec.query, rec.args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		must(t, rows.Scan(&line))
		fmt.Fprintln(&b, line)
	}
	must(t, rows.Err())
	return b.String()
}
