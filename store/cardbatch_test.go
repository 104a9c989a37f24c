package store

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/storetest"
	"github.com/pago/pago/worker"
)

// probeRecorder works probe jobs by noting their payment.
type probeRecorder struct {
	river.WorkerDefaults[worker.ProbePaymentArgs]
	mu  sync.Mutex
	ids []string
}

func (r *probeRecorder) Work(_ context.Context, j *river.Job[worker.ProbePaymentArgs]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, j.Args.PaymentID)
	return nil
}

// The several-row writes of a batch of card confirms write every row of
// the rows they are given, and leave out exactly the rows the one-row
// forms would refuse: a payment whose key is taken (with its events), a
// payment whose version moved (with its events), a key another owner
// holds. A refused ledger entry writes no transaction at all.
func TestCardBatchWritesLeaveOutWhatTheOneRowFormsRefuse(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s, u, now := withUser(t, eng, "cardbatch")
			probes := &probeRecorder{}
			workers := river.NewWorkers()
			river.AddWorker(workers, probes)
			must(t, s.StartJobs(ctx, JobsConfig{Workers: workers, Logger: slog.New(slog.DiscardHandler)}))
			t.Cleanup(func() { _ = s.StopJobs(context.Background()) })

			var orders []payment.Order
			for range 3 {
				o := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderWalletTopUp, Status: payment.OrderInDoubt,
					Name: "top-up", Amount: payment.Won(1000), ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
				must(t, s.InsertOrder(ctx, o))
				orders = append(orders, o)
			}
			taken := payment.Payment{ID: payment.NewID("pay", now), OrderID: orders[0].ID, Method: payment.MethodCard, Status: payment.PaymentPending,
				Amount: payment.Won(1000), PGPaymentKey: "pk_taken", CreatedAt: now, UpdatedAt: now}
			must(t, s.InsertPayment(ctx, taken))

			var ps []payment.Payment
			var events []payment.PaymentEvent
			for i, key := range []string{"pk_a", "pk_taken", "pk_b"} {
				p := payment.Payment{ID: payment.NewID("pay", now), OrderID: orders[i].ID, Method: payment.MethodCard, Status: payment.PaymentInDoubt,
					Amount: payment.Won(1000), PGPaymentKey: key, PGIdempotencyKey: "base-" + key, ConfirmSentAt: &now, CreatedAt: now, UpdatedAt: now}
				ps = append(ps, p)
				events = append(events, payment.PaymentEvent{ID: payment.NewID("pev", now), PaymentID: p.ID, FromStatus: payment.PaymentPending,
					ToStatus: payment.PaymentInDoubt, Source: "test", Code: payment.EventConfirmSent, Message: "sent", CreatedAt: now})
			}
			var inserted []string
			must(t, s.InTx(ctx, func(q payment.Queries) error {
				var err error
				inserted, err = q.InsertPayments(ctx, ps, events)
				return err
			}))
			if want := []string{ps[0].ID, ps[2].ID}; !sameSet(inserted, want) {
				t.Fatalf("inserted %v, want %v (the taken key left out)", inserted, want)
			}
			for i, p := range ps {
				got, err := s.PaymentEvents(ctx, p.ID)
				must(t, err)
				if want := map[bool]int{true: 0, false: 1}[i == 1]; len(got) != want {
					t.Fatalf("payment %d has %d events, want %d", i, len(got), want)
				}
			}
			if got, err := s.Payment(ctx, ps[0].ID); err != nil || got.Status != payment.PaymentInDoubt || got.ConfirmSentAt == nil || got.Version != 0 {
				t.Fatalf("inserted payment read as %+v, %v", got, err)
			}

			// Read by key: the one without a payment left out.
			byKey, err := s.PaymentsByPGKeys(ctx, []string{"pk_b", "pk_nobody", "pk_a"})
			must(t, err)
			if got := []string{byKey[0].PGPaymentKey, byKey[len(byKey)-1].PGPaymentKey}; len(byKey) != 2 || !sameSet(got, []string{"pk_a", "pk_b"}) {
				t.Fatalf("read by key %+v", byKey)
			}

			// Lock in id order, the missing one left out.
			locked, err := s.LockPayments(ctx, []string{ps[2].ID, "pay_00000000000000000000000000", ps[0].ID})
			must(t, err)
			if len(locked) != 2 || locked[0].ID > locked[1].ID || !sameSet([]string{locked[0].ID, locked[1].ID}, []string{ps[0].ID, ps[2].ID}) {
				t.Fatalf("locked %+v", locked)
			}

			// Update: the stale one (ps[2], version moved) is left out with its event.
			a, b := locked[0], locked[1]
			if a.ID != ps[0].ID {
				a, b = b, a
			}
			b.Version = 7
			a.Status, b.Status = payment.PaymentDone, payment.PaymentDone
			a.ApprovedAt, b.ApprovedAt = &now, &now
			later := now.Add(time.Second)
			done := []payment.PaymentEvent{
				{ID: payment.NewID("pev", later), PaymentID: a.ID, FromStatus: payment.PaymentInDoubt, ToStatus: payment.PaymentDone,
					Source: "test", Code: payment.EventApproved, Message: "approved", CreatedAt: later},
				{ID: payment.NewID("pev", later), PaymentID: b.ID, FromStatus: payment.PaymentInDoubt, ToStatus: payment.PaymentDone,
					Source: "test", Code: payment.EventApproved, Message: "approved", CreatedAt: later},
			}
			var written []string
			must(t, s.InTx(ctx, func(q payment.Queries) error {
				var err error
				written, err = q.UpdatePayments(ctx, []payment.Payment{a, b}, later, done)
				return err
			}))
			if !sameSet(written, []string{a.ID}) {
				t.Fatalf("written %v, want only %s", written, a.ID)
			}
			if got, _ := s.Payment(ctx, a.ID); got.Status != payment.PaymentDone || got.Version != 1 || got.ApprovedAt == nil {
				t.Fatalf("updated payment read as %+v", got)
			}
			if got, _ := s.Payment(ctx, b.ID); got.Status != payment.PaymentInDoubt || got.Version != 0 {
				t.Fatalf("stale payment written: %+v", got)
			}
			if got, _ := s.PaymentEvents(ctx, a.ID); len(got) != 2 {
				t.Fatalf("updated payment has %d events, want 2", len(got))
			}
			if got, _ := s.PaymentEvents(ctx, b.ID); len(got) != 1 {
				t.Fatalf("stale payment has %d events, want 1", len(got))
			}

			// Ledger: several at once; one refused entry writes none.
			ltx := func(account string) payment.LedgerTransaction {
				return payment.LedgerTransaction{ID: payment.NewID("ltx", now), Kind: "CARD_PAYMENT", OrderID: orders[0].ID, Description: "card",
					CreatedAt: now, Entries: []payment.LedgerEntry{
						{ID: payment.NewID("ent", now), AccountID: payment.AccountIDPGClearing, Amount: -1000},
						{ID: payment.NewID("ent", now), AccountID: account, Amount: 1000},
					}}
			}
			good := []payment.LedgerTransaction{ltx(payment.AccountIDRevenue), ltx(payment.AccountIDRevenue)}
			must(t, s.InTx(ctx, func(q payment.Queries) error { return q.InsertLedgerTransactions(ctx, good) }))
			bad := []payment.LedgerTransaction{ltx(payment.AccountIDRevenue), ltx("acc_missing")}
			if err := s.InsertLedgerTransactions(ctx, bad); err == nil {
				t.Fatal("a ledger entry on a missing account was accepted")
			}
			ledgerBalanced(t, s)
			if got := ledgerCount(t, s, bad[0].ID); got != 0 {
				t.Fatalf("a refused batch left ledger transaction %s", bad[0].ID)
			}
			if got := ledgerCount(t, s, good[1].ID); got != 1 {
				t.Fatalf("ledger transaction %s not written", good[1].ID)
			}

			// Idempotency: the key held by another owner is not completed.
			var cs []payment.IdempotencyCompletion
			for i, owner := range []string{"own_a", "own_b"} {
				key := "key" + owner
				ok, err := s.ClaimIdempotencyKey(ctx, payment.IdempotencyRecord{UserID: u.ID, Key: key, Operation: "confirmPayment", RequestHash: "h",
					Status: payment.IdemRunning, Owner: owner, LeaseUntil: now.Add(time.Minute), CreatedAt: now})
				if err != nil || !ok {
					t.Fatalf("claim %s: %v %v", key, ok, err)
				}
				if i == 1 {
					owner = "own_lost" // taken over by another request
				}
				cs = append(cs, payment.IdempotencyCompletion{UserID: u.ID, Key: key, Owner: owner, Response: []byte(`{"v":1}`)})
			}
			doneKeys, err := s.CompleteIdempotencyKeys(ctx, cs, now)
			must(t, err)
			if !slices.Equal(doneKeys, []int{0}) {
				t.Fatalf("completed %v, want [0]", doneKeys)
			}
			if r, _ := s.IdempotencyKey(ctx, u.ID, cs[0].Key); r.Status != payment.IdemDone || string(r.Response) != `{"v":1}` {
				t.Fatalf("completed key read as %+v", r)
			}
			if r, _ := s.IdempotencyKey(ctx, u.ID, cs[1].Key); r.Status != payment.IdemRunning {
				t.Fatalf("another owner's key completed: %+v", r)
			}

			// Probes: one each, committed with the transaction.
			must(t, s.InTx(ctx, func(q payment.Queries) error { return q.EnqueuePaymentProbes(ctx, inserted, time.Now()) }))
			deadline := time.Now().Add(30 * time.Second)
			for {
				probes.mu.Lock()
				got := slices.Clone(probes.ids)
				probes.mu.Unlock()
				if len(got) >= len(inserted) {
					if !sameSet(got, inserted) {
						t.Fatalf("probes ran for %v, want %v", got, inserted)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("probes ran for %v after 30 s, want %v", got, inserted)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// ledgerBalanced fails t unless every ledger transaction balances.
func ledgerBalanced(t *testing.T, s *Store) {
	t.Helper()
	v, err := s.Violations(context.Background())
	must(t, err)
	for _, x := range v {
		if x.Check == "ledger_balanced" {
			t.Fatalf("ledger: %+v", x)
		}
	}
}

func ledgerCount(t *testing.T, s *Store, id string) int {
	t.Helper()
	var n int
	must(t, s.conn().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM ledger_transactions WHERE id = $1", id).Scan(&n))
	return n
}

// Two batches claiming the same keys in opposite orders never wait for
// each other: a several-row insert takes its keys in key order. Here one
// transaction holds "a" uncommitted while the other's batch [b, a] waits
// for it; the first then inserts "b". Inserted in arrival order, the
// batch would hold "b" while waiting for "a": a deadlock, and PostgreSQL
// would fail one of them.
func TestSeveralKeyInsertsTakeTheirKeysInOrder(t *testing.T) {
	eng, ok := storetest.Postgres(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	s, u, now := withUser(t, eng, "keyorder")
	rec := func(key, owner string) payment.IdempotencyRecord {
		return payment.IdempotencyRecord{UserID: u.ID, Key: key, Operation: "confirmPayment", RequestHash: "h", Status: payment.IdemRunning,
			Owner: owner, LeaseUntil: now.Add(time.Minute), CreatedAt: now}
	}
	heldA, batchWaits := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.InTx(ctx, func(q payment.Queries) error {
			if _, err := q.ClaimIdempotencyKey(ctx, rec("a", "own_first")); err != nil {
				return err
			}
			close(heldA)
			<-batchWaits
			_, err := q.ClaimIdempotencyKeys(ctx, []payment.IdempotencyRecord{rec("b", "own_first")})
			return err
		})
	}()
	<-heldA
	batch := make(chan error, 1)
	var claimed []int
	go func() {
		batch <- s.InTx(ctx, func(q payment.Queries) error {
			var err error
			claimed, err = q.ClaimIdempotencyKeys(ctx, []payment.IdempotencyRecord{rec("b", "own_batch"), rec("a", "own_batch")})
			return err
		})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		must(t, s.db.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting))
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the batch never waited for the held key")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(batchWaits)
	if err := <-first; err != nil {
		t.Fatalf("the first transaction: %v", err)
	}
	if err := <-batch; err != nil {
		t.Fatalf("the batch: %v", err)
	}
	if len(claimed) != 0 {
		t.Fatalf("the batch claimed %v of keys the first committed", claimed)
	}
}

// On PostgreSQL the several-row writes of the batches put their rows in
// arrays: 1, 2 and 3 rows are one statement's text, which a connection
// prepares once. Their VALUES forms prepared one text per row count, on
// every connection of the pool.
func TestBatchWritesAreOneStatementTextPerShape(t *testing.T) {
	eng, ok := storetest.Postgres(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	s, u, now := withUser(t, eng, "shapes")
	must(t, s.InTx(ctx, func(q payment.Queries) error {
		st := q.(*Store)
		prepared := func(prefix string) (n int) {
			must(t, st.tx.Tx.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1`, prefix+"%").Scan(&n))
			return n
		}
		shapes := map[string]int{}
		for _, prefix := range []string{"WITH p AS (INSERT INTO payments", "WITH v (id, version", "WITH t AS (INSERT INTO ledger_transactions",
			"UPDATE idempotency_keys k SET status = 'DONE'", "INSERT INTO idempotency_keys"} {
			shapes[prefix] = prepared(prefix)
		}
		for n := 1; n <= 3; n++ {
			var ps []payment.Payment
			var events []payment.PaymentEvent
			var txs []payment.LedgerTransaction
			var keys []payment.IdempotencyRecord
			var done []payment.IdempotencyCompletion
			for range n {
				o := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderWalletTopUp, Status: payment.OrderInDoubt,
					Name: "top-up", Amount: payment.Won(1000), ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
				must(t, st.InsertOrder(ctx, o))
				p := payment.Payment{ID: payment.NewID("pay", now), OrderID: o.ID, Method: payment.MethodCard, Status: payment.PaymentPending,
					Amount: payment.Won(1000), PGPaymentKey: payment.NewID("pk_", now), CreatedAt: now, UpdatedAt: now}
				ps = append(ps, p)
				events = append(events, payment.PaymentEvent{ID: payment.NewID("pev", now), PaymentID: p.ID, ToStatus: payment.PaymentPending,
					Source: "test", CreatedAt: now})
				txs = append(txs, payment.LedgerTransaction{ID: payment.NewID("ltx", now), Kind: "ADJUSTMENT", Description: "shape", CreatedAt: now,
					Entries: []payment.LedgerEntry{{ID: payment.NewID("ent", now), AccountID: payment.AccountIDRevenue, Amount: 1},
						{ID: payment.NewID("ent", now), AccountID: payment.AccountIDAdjustments, Amount: -1}}})
				key := payment.IdempotencyRecord{UserID: u.ID, Key: payment.NewID("key", now), Operation: "op", RequestHash: "h", Status: payment.IdemRunning,
					Owner: "o", LeaseUntil: now.Add(time.Minute), CreatedAt: now}
				keys = append(keys, key)
				done = append(done, payment.IdempotencyCompletion{UserID: u.ID, Key: key.Key, Owner: "o", Response: []byte(`{}`)})
			}
			ids, err := st.InsertPayments(ctx, ps, events)
			must(t, err)
			for i := range ps {
				ps[i].Status = payment.PaymentFailed
			}
			written, err := st.UpdatePayments(ctx, ps, now, nil)
			must(t, err)
			must(t, st.InsertLedgerTransactions(ctx, txs))
			claimed, err := st.ClaimIdempotencyKeys(ctx, keys)
			must(t, err)
			completed, err := st.CompleteIdempotencyKeys(ctx, done, now)
			must(t, err)
			if len(ids) != n || len(written) != n || len(claimed) != n || len(completed) != n {
				t.Fatalf("%d rows: inserted %d, updated %d, keys claimed %d, completed %d", n, len(ids), len(written), len(claimed), len(completed))
			}
		}
		for prefix, before := range shapes {
			if grew := prepared(prefix) - before; grew > 1 {
				t.Errorf("%q: 1, 2 and 3 rows prepared %d statements, want one at most", prefix, grew)
			}
		}
		return nil
	}))
}

// settleFixture is two card payments IN_DOUBT on their orders, each with
// its confirm's key claimed, and the settle batch that approves both.
func settleFixture(t *testing.T, s *Store, u payment.User, now time.Time) payment.CardSettleWrite {
	t.Helper()
	ctx := context.Background()
	w := payment.CardSettleWrite{Now: now.Add(time.Second)}
	for i := range 2 {
		o := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderPurchase, Status: payment.OrderInDoubt,
			Name: "tea", Amount: payment.Won(1000), ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
		must(t, s.InsertOrder(ctx, o)) // PENDING
		if moved, err := s.TransitionOrders(ctx, []string{o.ID}, payment.OrderPending, payment.OrderInDoubt, now); err != nil || len(moved) != 1 {
			t.Fatalf("order to IN_DOUBT: %v %v", moved, err)
		}
		p := payment.Payment{ID: payment.NewID("pay", now), OrderID: o.ID, Method: payment.MethodCard, Status: payment.PaymentInDoubt,
			Amount: payment.Won(1000), PGPaymentKey: payment.NewID("pk_", now), ConfirmSentAt: &now, CreatedAt: now, UpdatedAt: now}
		must(t, s.InsertPayment(ctx, p))
		key := payment.IdempotencyRecord{UserID: u.ID, Key: fmt.Sprintf("confirm-%d-%s", i, p.ID), Operation: "confirmPayment", RequestHash: "h",
			Status: payment.IdemRunning, Owner: "own_" + p.ID, LeaseUntil: now.Add(time.Minute), CreatedAt: now}
		if ok, err := s.ClaimIdempotencyKey(ctx, key); err != nil || !ok {
			t.Fatalf("claim %s: %v %v", key.Key, ok, err)
		}
		p.Status, p.ApprovedAt, p.UpdatedAt = payment.PaymentDone, &w.Now, w.Now
		w.Payments = append(w.Payments, p)
		w.Events = append(w.Events, payment.PaymentEvent{ID: payment.NewID("pev", now), PaymentID: p.ID, FromStatus: payment.PaymentInDoubt,
			ToStatus: payment.PaymentDone, Source: "test", Code: payment.EventApproved, Message: "approved", CreatedAt: w.Now})
		w.Orders = append(w.Orders, o.ID)
		w.Ledger = append(w.Ledger, payment.LedgerTransaction{ID: payment.NewID("ltx", now), Kind: "CARD_PAYMENT", OrderID: o.ID,
			Description: "card payment", CreatedAt: w.Now, Entries: []payment.LedgerEntry{
				{ID: payment.NewID("ent", now), AccountID: payment.AccountIDPGClearing, Amount: -1000},
				{ID: payment.NewID("ent", now), AccountID: payment.AccountIDRevenue, Amount: 1000},
			}})
		w.Answers = append(w.Answers, payment.IdempotencyCompletion{UserID: u.ID, Key: key.Key, Owner: key.Owner, Response: []byte(`{"v":1}`)})
	}
	return w
}

// settleWritten tells whether w was written: every payment DONE with its
// event, every order PAID, every ledger transaction and answer stored. It
// fails t when w is written in part.
func settleWritten(t *testing.T, s *Store, w payment.CardSettleWrite) bool {
	t.Helper()
	ctx := context.Background()
	var parts []bool
	for i, p := range w.Payments {
		got, err := s.Payment(ctx, p.ID)
		must(t, err)
		events, err := s.PaymentEvents(ctx, p.ID)
		must(t, err)
		parts = append(parts, got.Status == payment.PaymentDone && got.Version == p.Version+1, len(events) == 1)
		o, err := s.Order(ctx, w.Orders[i])
		must(t, err)
		parts = append(parts, o.Status == payment.OrderPaid, ledgerCount(t, s, w.Ledger[i].ID) == 1)
	}
	for _, a := range w.Answers {
		r, err := s.IdempotencyKey(ctx, a.UserID, a.Key)
		must(t, err)
		parts = append(parts, r.Status == payment.IdemDone && string(r.Response) == `{"v":1}`)
	}
	all, none := !slices.Contains(parts, false), !slices.Contains(parts, true)
	if !all && !none {
		t.Fatalf("settle batch written in part: %v", parts)
	}
	return all
}

// A settle batch at once writes everything it holds or nothing: a payment
// whose version moved, an order no longer IN_DOUBT or a key taken over by
// another request each leave every row of the batch as it was.
func TestSettleCardPaymentsIsAllOrNothing(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s, u, now := withUser(t, eng, "settle")
			for _, tc := range []struct {
				name  string
				moved func(t *testing.T, w payment.CardSettleWrite)
			}{
				{"as held", func(*testing.T, payment.CardSettleWrite) {}},
				{"a payment moved", func(t *testing.T, w payment.CardSettleWrite) {
					p, err := s.Payment(ctx, w.Payments[1].ID)
					must(t, err)
					p.ConfirmAttempt++ // as the probe re-sending its confirm
					if ok, err := s.UpdatePayment(ctx, p, now); err != nil || !ok {
						t.Fatalf("move payment: %v %v", ok, err)
					}
				}},
				{"an order moved", func(t *testing.T, w payment.CardSettleWrite) {
					if moved, err := s.TransitionOrders(ctx, w.Orders[1:], payment.OrderInDoubt, payment.OrderFailed, now); err != nil || len(moved) != 1 {
						t.Fatalf("move order: %v %v", moved, err)
					}
				}},
				{"a key taken over", func(_ *testing.T, w payment.CardSettleWrite) {
					w.Answers[1].Owner = "own_lost"
				}},
				// Approvals with no confirm's key to answer (as held).
				{"no answers", nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					w := settleFixture(t, s, u, now)
					if tc.moved == nil {
						w.Answers = nil
					} else {
						tc.moved(t, w)
					}
					done, err := s.SettleCardPayments(ctx, w)
					must(t, err)
					if want := tc.name == "as held" || tc.name == "no answers"; done != want || settleWritten(t, s, w) != want {
						t.Fatalf("done %v, want %v", done, want)
					}
				})
			}
			ledgerBalanced(t, s)
		})
	}
}

// A payment another transaction moves while the statement waits for its
// row lock is seen as moved: the statement, which ran on the snapshot it
// started with, writes nothing.
func TestSettleCardPaymentsSeesAPaymentMovedWhileItWaited(t *testing.T) {
	eng, ok := storetest.Postgres(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	s, u, now := withUser(t, eng, "settle-wait")
	w := settleFixture(t, s, u, now)
	tx, err := s.db.DB.BeginTx(ctx, nil)
	must(t, err)
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE payments SET version = version + 1, confirm_attempt = confirm_attempt + 1 WHERE id = $1`, w.Payments[1].ID); err != nil {
		t.Fatal(err)
	}
	type result struct {
		done bool
		err  error
	}
	settled := make(chan result, 1)
	go func() {
		done, err := s.SettleCardPayments(ctx, w)
		settled <- result{done, err}
	}()
	// The statement waits for the row lock the transaction holds.
	deadline := time.Now().Add(10 * time.Second)
	for waiting := 0; waiting == 0; {
		must(t, s.db.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH v (id, version%'`).Scan(&waiting))
		if time.Now().After(deadline) {
			t.Fatal("the settle statement did not wait for the payment's row lock within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	must(t, tx.Commit())
	select {
	case r := <-settled:
		must(t, r.err)
		if r.done || settleWritten(t, s, w) {
			t.Fatal("a payment moved while the statement waited was settled over")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the settle statement did not end within 10 s of the commit")
	}
}
