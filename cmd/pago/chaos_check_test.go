package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pago/pago/pg/sandbox"
)

// waitSettled waits until no order or payment is IN_DOUBT, or timeout; it
// returns what is still in doubt.
func waitSettled(db *sql.DB, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		ids, err := queryStrings(db, `SELECT 'order ' || id FROM orders WHERE status = 'IN_DOUBT'
			UNION ALL SELECT 'payment ' || id FROM payments WHERE status = 'IN_DOUBT'
			UNION ALL SELECT 'refund ' || id FROM refunds WHERE status IN ('PENDING', 'IN_DOUBT')`)
		if err == nil && len(ids) == 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			return ids, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func queryStrings(db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(context.Background(), q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// cardPayment is a card payment as pago recorded it.
type cardPayment struct {
	orderID, orderStatus, paymentID, status, paymentKey string
	amount                                              int64
}

// pgPayment is the PG's own view of a payment.
type pgPayment struct {
	PaymentKey  string `json:"paymentKey"`
	OrderID     string `json:"orderId"`
	Status      string `json:"status"`
	TotalAmount int64  `json:"totalAmount"`
}

// checkAgainstPG compares pago's payments with the PG's record of what it
// executed: nothing charged twice, nothing PAID the PG did not approve, no
// approval at the PG that pago did not turn into a paid order.
func (r *chaosRun) checkAgainstPG(db *sql.DB) []string {
	var v []string
	var record []sandbox.RecordEntry
	if err := r.sandboxGet("/_sandbox/record", &record); err != nil {
		return []string{"read the PG's record: " + err.Error()}
	}
	rows, err := db.Query(`SELECT o.id, o.status, p.id, p.status, COALESCE(p.pg_payment_key, ''), p.amount - p.wallet_amount
		FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.method IN ('CARD', 'SPLIT') AND p.pg_payment_key IS NOT NULL`)
	if err != nil {
		return []string{"read pago's payments: " + err.Error()}
	}
	defer rows.Close()
	byKey := map[string]cardPayment{}
	for rows.Next() {
		var p cardPayment
		if err := rows.Scan(&p.orderID, &p.orderStatus, &p.paymentID, &p.status, &p.paymentKey, &p.amount); err != nil {
			return []string{"read pago's payments: " + err.Error()}
		}
		byKey[p.paymentKey] = p
	}
	if err := rows.Err(); err != nil {
		return []string{"read pago's payments: " + err.Error()}
	}

	pgStatus := map[string]pgPayment{}
	lookup := func(key string) (pgPayment, error) {
		if p, ok := pgStatus[key]; ok {
			return p, nil
		}
		var p pgPayment
		err := r.sandboxGet("/v1/payments/"+url.PathEscape(key), &p)
		pgStatus[key] = p
		return p, err
	}

	confirms := map[string]int{}
	for _, e := range record {
		if e.Op != sandbox.OpConfirm {
			continue
		}
		confirms[e.OrderID]++
		if confirms[e.OrderID] == 2 {
			v = append(v, fmt.Sprintf("order %s was charged more than once at the PG", e.OrderID))
		}
		pgp, err := lookup(e.PaymentKey)
		if err != nil {
			v = append(v, fmt.Sprintf("PG lookup of %s: %v", e.PaymentKey, err))
			continue
		}
		mine, ok := byKey[e.PaymentKey]
		switch {
		case pgp.Status == "DONE" && !ok:
			v = append(v, fmt.Sprintf("the PG charged order %s (payment %s) and pago has no payment for it", e.OrderID, e.PaymentKey))
		case pgp.Status == "DONE" && (mine.status != "DONE" || mine.orderStatus != "PAID"):
			v = append(v, fmt.Sprintf("the PG charged order %s but pago has it %s with payment %s: money taken without goods",
				e.OrderID, mine.orderStatus, mine.status))
		case pgp.Status == "CANCELED" && ok && (mine.orderStatus == "PAID" || mine.status == "DONE"):
			v = append(v, fmt.Sprintf("the PG refunded order %s but pago has it %s with payment %s", e.OrderID, mine.orderStatus, mine.status))
		}
	}
	for key, mine := range byKey {
		if mine.status != "DONE" && mine.orderStatus != "PAID" {
			continue
		}
		pgp, err := lookup(key)
		switch {
		case err != nil:
			v = append(v, fmt.Sprintf("order %s is %s but the PG does not know payment %s: %v", mine.orderID, mine.orderStatus, key, err))
		case pgp.Status != "DONE":
			v = append(v, fmt.Sprintf("order %s is %s (payment %s) but the PG says %s", mine.orderID, mine.orderStatus, mine.status, pgp.Status))
		case pgp.TotalAmount != mine.amount || pgp.OrderID != mine.orderID:
			v = append(v, fmt.Sprintf("order %s: pago has %d for payment %s, the PG %d for order %s",
				mine.orderID, mine.amount, key, pgp.TotalAmount, pgp.OrderID))
		}
	}
	v = append(v, checkRefundsAgainstPG(db, record)...)
	// A PAID order needs exactly one DONE payment (wallet or card).
	doubles, err := queryStrings(db, `SELECT order_id FROM payments WHERE status = 'DONE' GROUP BY order_id HAVING COUNT(*) > 1`)
	if err != nil {
		v = append(v, "read payments: "+err.Error())
	}
	for _, id := range doubles {
		v = append(v, fmt.Sprintf("order %s has more than one DONE payment", id))
	}
	return v
}

// checkReplays sends every recorded mutation again with its key: the answer
// must be the one first given.
func (r *chaosRun) checkReplays() (int, []string) {
	r.mu.Lock()
	keys := append([]keyRecord(nil), r.keys...)
	r.mu.Unlock()
	var (
		mu sync.Mutex
		v  []string
		wg sync.WaitGroup
	)
	work := make(chan keyRecord)
	for range 8 {
		wg.Go(func() {
			for k := range work {
				resp, err := r.call(k.token, k.query, k.vars, false)
				got := answerOf(resp)
				if err != nil {
					got = "no answer: " + err.Error()
				}
				if got != k.answer {
					mu.Lock()
					v = append(v, fmt.Sprintf("key %v replayed %s, first answer was %s", k.vars["k"], got, k.answer))
					mu.Unlock()
				}
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	return len(keys), v
}

type reportTimes struct{ setup, traffic, settle, total time.Duration }

// report is the run's summary: what was done, what was injected, how it ended.
func (r *chaosRun) report(db *sql.DB, times reportTimes, replayed int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos seed %d: %d pago instances on PostgreSQL + redis-server, PG sandbox over HTTP\n", r.seed, chaosInstances)
	fmt.Fprintf(&b, "time: setup %s, traffic %s, settle %s, total %s\n",
		times.setup.Round(time.Millisecond), times.traffic.Round(time.Millisecond),
		times.settle.Round(time.Millisecond), times.total.Round(time.Millisecond))
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	for _, n := range r.faults {
		total += n
	}
	fmt.Fprintf(&b, "faults injected: %d\n", total)
	for _, k := range faultKinds {
		fmt.Fprintf(&b, "  %4d  %s\n", r.faults[k], k)
	}
	fmt.Fprintf(&b, "customer actions (%d shoppers):\n", len(r.userIDs))
	names := make([]string, 0, len(r.actions))
	for k := range r.actions {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "  %4d  %s\n", r.actions[k], k)
	}
	if rows, err := queryStrings(db, `SELECT kind || ' ' || status || ': ' || COUNT(*) FROM orders GROUP BY kind, status ORDER BY kind, status`); err == nil {
		fmt.Fprintf(&b, "orders: %s\n", strings.Join(rows, ", "))
	}
	var record []sandbox.RecordEntry
	if err := r.sandboxGet("/_sandbox/record", &record); err == nil {
		ops := map[string]int{}
		for _, e := range record {
			ops[e.Op]++
		}
		fmt.Fprintf(&b, "PG executed: %d confirms, %d cancels\n", ops[sandbox.OpConfirm], ops[sandbox.OpCancel])
	}
	if d, err := inDoubtDurations(db); err == nil {
		fmt.Fprintf(&b, "%s\n", d)
	}
	fmt.Fprintf(&b, "webhook relay: %s\n", r.c.relay.stats())
	fmt.Fprintf(&b, "idempotency keys replayed: %d\n", replayed)
	return b.String()
}

// inDoubtDurations summarises how long card payments stayed IN_DOUBT, from
// the confirm being sent to the PG to the transition that settled it, and
// what settled them.
func inDoubtDurations(db *sql.DB) (string, error) {
	rows, err := db.Query(`SELECT payment_id, from_status, to_status, source, created_at
		FROM payment_events ORDER BY payment_id, created_at, id`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var ds []time.Duration
	var slowest string
	var slowestD time.Duration
	by := map[string]int{}
	var cur string
	var since time.Time
	for rows.Next() {
		var id, from, to, source string
		var at time.Time
		if err := rows.Scan(&id, &from, &to, &source, &at); err != nil {
			return "", err
		}
		if id != cur {
			cur, since = id, time.Time{}
		}
		switch {
		case to == "IN_DOUBT":
			since = at
		case from == "IN_DOUBT" && !since.IsZero():
			ds = append(ds, at.Sub(since))
			if at.Sub(since) > slowestD {
				slowest, slowestD = id, at.Sub(since)
			}
			by[source+"→"+to]++
			since = time.Time{}
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if len(ds) == 0 {
		return "card payments settled: none", nil
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(time.Millisecond) }
	var sources []string
	for k, n := range by {
		sources = append(sources, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(sources)
	return fmt.Sprintf("card payments settled: %d, time IN_DOUBT p50 %s, p99 %s, max %s (%s); by %s",
		len(ds), q(0.5), q(0.99), ds[len(ds)-1].Round(time.Millisecond), slowest, strings.Join(sources, ", ")), nil
}

// checkRefundsAgainstPG: every cancel the PG executed for a refund of
// pago's (its Idempotency-Key is the refund's) is exactly one DONE refund in
// pago, by transaction key and amount, and every DONE card refund is one of
// the PG's cancels.
func checkRefundsAgainstPG(db *sql.DB, record []sandbox.RecordEntry) []string {
	var v []string
	rows, err := db.Query(`SELECT id, status, amount, COALESCE(pg_transaction_key, '') FROM refunds WHERE method = 'CARD'`)
	if err != nil {
		return []string{"read pago's refunds: " + err.Error()}
	}
	defer rows.Close()
	type refund struct {
		id, status string
		amount     int64
	}
	byTx := map[string]refund{}
	for rows.Next() {
		var r refund
		var tx string
		if err := rows.Scan(&r.id, &r.status, &r.amount, &tx); err != nil {
			return []string{"read pago's refunds: " + err.Error()}
		}
		if r.status == "DONE" {
			byTx[tx] = r
		}
	}
	if err := rows.Err(); err != nil {
		return []string{"read pago's refunds: " + err.Error()}
	}
	seen := map[string]bool{}
	for _, e := range record {
		if e.Op != sandbox.OpCancel || !strings.HasPrefix(e.IdempotencyKey, "pago-refund-rfd_") {
			continue // a top-up the wallet could not take, given back
		}
		r, ok := byTx[e.TransactionKey]
		switch {
		case !ok:
			v = append(v, fmt.Sprintf("the PG cancelled %d of order %s (%s) but no refund of pago's is DONE for it", e.Amount, e.OrderID, e.TransactionKey))
		case r.amount != e.Amount:
			v = append(v, fmt.Sprintf("refund %s is %d, the PG's cancel %s was %d", r.id, r.amount, e.TransactionKey, e.Amount))
		}
		seen[e.TransactionKey] = true
	}
	for tx, r := range byTx {
		if !seen[tx] {
			v = append(v, fmt.Sprintf("refund %s is DONE as PG cancel %q, which the PG never executed", r.id, tx))
		}
	}
	return v
}
