package payment_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store"
	"github.com/pago/pago/store/storetest"
)

// TestSimStoreConformance keeps the simulation's in-memory store honest:
// the real store (SQLite always, PostgreSQL when reachable) and the model
// go through the same seeded sequence of conditional writes — stale and
// future versions, over-debits, credits past the limit, duplicate history
// rows, stock, order and payment transitions, idempotency claims — and must
// answer alike. A change to the SQL of DebitWallet or CreditWallet (a
// read-modify-write, a dropped condition) fails here even though the
// simulation itself never runs that SQL.
func TestSimStoreConformance(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			real, err := store.Open(ctx, eng.NewDatabase(t))
			require.NoError(t, err)
			t.Cleanup(func() { real.Close() })
			require.NoError(t, real.Migrate(ctx, slog.New(slog.DiscardHandler)))
			mem := &memStore{db: newMemDB(newSim(1))}
			for seed := range uint64(12) {
				c := &conformance{t: t, ctx: ctx, engine: eng.Name, seed: seed, real: real, mem: mem,
					rng: rand.New(rand.NewPCG(seed, 7)), prefix: fmt.Sprintf("c%d_", seed)}
				c.run()
			}
		})
	}
}

type conformance struct {
	t         *testing.T
	ctx       context.Context
	engine    string
	seed      uint64
	real, mem payment.Store
	rng       *rand.Rand
	prefix    string
	n         int // ids made
	steps     int // answers compared
}

// same runs op on both stores and fails if they answer differently.
func (c *conformance) same(what string, op func(q payment.Queries) string) string {
	c.t.Helper()
	c.steps++
	a, b := op(c.real), op(c.mem)
	if a != b {
		c.t.Fatalf("seed %d, step %d: %s: the real store (%s) answers %q, the simulation's store %q\n"+
			"    replay: go test ./payment -run TestSimStoreConformance -v", c.seed, c.steps, what, c.engine, a, b)
	}
	return a
}

func (c *conformance) id(kind string) string {
	c.n++
	return fmt.Sprintf("%s_%s%d", kind, c.prefix, c.n)
}

// answer is a write's result as both stores must give it.
func answer(ok bool, err error) string { return fmt.Sprintf("%v %s", ok, errClass(err)) }

func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, payment.ErrNotFound):
		return "not found"
	case errors.Is(err, payment.ErrSplitUnderWay):
		return "split under way" // the unique index on an order's open hold
	default:
		return "refused" // a constraint: the wording differs by engine
	}
}

func (c *conformance) run() {
	ctx, rng := c.ctx, c.rng
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tick := func() time.Time { now = now.Add(time.Second); return now }
	limit := int64(10_000)

	var users []payment.User
	for i := range 3 {
		u := payment.User{ID: c.id("usr"), Name: fmt.Sprintf("%suser%d", c.prefix, i), CreatedAt: tick()}
		users = append(users, u)
		c.same("insert user", func(q payment.Queries) string { return errClass(q.InsertUserIfAbsent(ctx, u)) })
		dup := u
		dup.ID = c.id("usr")
		c.same("insert user again", func(q payment.Queries) string {
			err := q.InsertUserIfAbsent(ctx, dup)
			got, gerr := q.UserByName(ctx, u.Name)
			return errClass(err) + " " + errClass(gerr) + " " + fmt.Sprint(got.ID == u.ID)
		})
	}

	var wallets []payment.Wallet
	for _, u := range users {
		acc := payment.LedgerAccount{ID: c.id("acc"), Kind: payment.AccountWallet, Currency: payment.KRW, CreatedAt: tick()}
		c.same("insert account", func(q payment.Queries) string { return errClass(q.InsertLedgerAccount(ctx, acc)) })
		w := payment.Wallet{ID: c.id("wal"), UserID: u.ID, AccountID: acc.ID, Limit: payment.Won(limit), CreatedAt: tick()}
		c.same("insert wallet", func(q payment.Queries) string { return answer(q.InsertWalletIfAbsent(ctx, w)) })
		second := w
		second.ID = c.id("wal")
		c.same("second wallet for a user", func(q payment.Queries) string { return answer(q.InsertWalletIfAbsent(ctx, second)) })
		orphan := w
		orphan.ID, orphan.UserID, orphan.AccountID = c.id("wal"), users[0].ID+"x", "acc_missing"
		c.same("wallet without account", func(q payment.Queries) string { return answer(q.InsertWalletIfAbsent(ctx, orphan)) })
		wallets = append(wallets, w)
	}
	ltx := payment.LedgerTransaction{ID: c.id("ltx"), Kind: "ADJUSTMENT", Description: "conformance", CreatedAt: tick(),
		Entries: []payment.LedgerEntry{{ID: c.id("ent"), AccountID: wallets[0].AccountID, Amount: 1}, {ID: c.id("ent"), AccountID: payment.AccountIDAdjustments, Amount: -1}}}
	c.same("insert ledger transaction", func(q payment.Queries) string { return errClass(q.InsertLedgerTransaction(ctx, ltx)) })

	prd := payment.Product{ID: c.id("prd"), SKU: c.prefix + "sku", Name: "thing", Price: payment.Won(1_000), Stock: 3, UpdatedAt: tick()}
	c.same("upsert product", func(q payment.Queries) string {
		p, err := q.UpsertProduct(ctx, prd)
		return fmt.Sprintf("%s %d %d", errClass(err), p.Stock, p.Supplied)
	})
	order := payment.Order{ID: c.id("ord"), UserID: users[0].ID, Kind: payment.OrderPurchase, Name: "thing", Amount: payment.Won(1_000),
		Items: []payment.OrderItem{{ProductID: prd.ID, Name: "thing", Quantity: 1, UnitPrice: payment.Won(1_000)}}, ExpiresAt: now.Add(time.Hour), CreatedAt: tick()}
	c.same("insert order", func(q payment.Queries) string { return errClass(q.InsertOrder(ctx, order)) })
	pay := payment.Payment{ID: c.id("pay"), OrderID: order.ID, Method: payment.MethodCard, Status: payment.PaymentInDoubt, Amount: payment.Won(1_000),
		PGPaymentKey: c.prefix + "pk", PGIdempotencyKey: "idem", CreatedAt: tick()}
	// Created past PENDING, with its event; the failure, attempt and
	// refund decision start empty whatever the caller set.
	pay.FailureCode, pay.FailureMessage, pay.ConfirmAttempt, pay.RefundDecidedAt = "SET", "set", 3, &now
	sent := func(p payment.Payment) payment.PaymentEvent {
		at := tick()
		return payment.PaymentEvent{ID: c.id("pev"), PaymentID: p.ID, FromStatus: payment.PaymentPending, ToStatus: p.Status,
			Source: "conform", Code: payment.EventConfirmSent, Message: "m", CreatedAt: at}
	}
	c.same("insert payment", func(q payment.Queries) string { return errClass(q.InsertPayment(ctx, pay, sent(pay))) })
	dupPay := pay
	dupPay.ID = c.id("pay")
	c.same("second payment for a PG key", func(q payment.Queries) string { return errClass(q.InsertPayment(ctx, dupPay, sent(dupPay))) })
	c.same("inserted payments", func(q payment.Queries) string {
		p, err := q.PaymentByPGKey(ctx, pay.PGPaymentKey)
		events, eerr := q.PaymentEvents(ctx, pay.ID)
		dupEvents, derr := q.PaymentEvents(ctx, dupPay.ID)
		return fmt.Sprintf("%s %v %s v%d %q %q %d %v, %d events %s, the refused one %d events %s", errClass(err), p.ID == pay.ID, p.Status, p.Version,
			p.FailureCode, p.FailureMessage, p.ConfirmAttempt, p.RefundDecidedAt == nil, len(events), errClass(eerr), len(dupEvents), errClass(derr))
	})

	// Several at once: a payment whose key is taken is left out with its
	// event, the others written with theirs.
	more := []payment.Payment{pay, pay, pay}
	more[0].ID, more[0].PGPaymentKey = c.id("pay"), c.prefix+"pk2"
	more[1].ID = c.id("pay") // pay's key: taken
	more[2].ID, more[2].PGPaymentKey = c.id("pay"), c.prefix+"pk3"
	moreEvents := []payment.PaymentEvent{sent(more[0]), sent(more[1]), sent(more[2])}
	c.same("insert payments, one key taken", func(q payment.Queries) string {
		ids, err := q.InsertPayments(ctx, more, moreEvents)
		slices.Sort(ids)
		var events []int
		for _, p := range more {
			es, _ := q.PaymentEvents(ctx, p.ID)
			events = append(events, len(es))
		}
		return fmt.Sprint(len(ids), slices.Contains(ids, more[1].ID), events, " ", errClass(err))
	})
	// The batch reads: each row asked for once, however often listed,
	// and none for an id that does not exist. Their ids are pago's own
	// (NewID), which SQLite's form reads by width.
	order2 := order
	order2.ID = payment.NewID("ord", tick())
	c.same("insert an order for the batch reads", func(q payment.Queries) string { return errClass(q.InsertOrder(ctx, order2)) })
	pays2 := []payment.Payment{pay, pay}
	for i := range pays2 {
		pays2[i].ID, pays2[i].OrderID, pays2[i].PGPaymentKey = payment.NewID("pay", tick()), order2.ID, fmt.Sprintf("%spk2_%d", c.prefix, i)
		c.same(fmt.Sprintf("insert payment %d for the batch reads", i), func(q payment.Queries) string {
			return errClass(q.InsertPayment(ctx, pays2[i], sent(pays2[i])))
		})
	}
	names := map[string]string{order2.ID: "order", pays2[0].ID: "pay0", pays2[1].ID: "pay1"}
	named := func(ids ...string) string {
		for i, id := range ids {
			ids[i] = cmp.Or(names[id], "other")
		}
		slices.Sort(ids)
		return fmt.Sprint(ids)
	}
	missing := payment.NewID("ord", tick())
	c.same("batch reads", func(q payment.Queries) string {
		b := q.(payment.BatchQueries)
		os, oerr := b.OrdersByIDs(ctx, []string{order2.ID, missing, order2.ID})
		ps, perr := b.PaymentsByOrders(ctx, []string{order2.ID, missing, order2.ID})
		ks, kerr := b.PaymentsByPGKeys(ctx, []string{pays2[1].PGPaymentKey, "missing", pays2[0].PGPaymentKey, pays2[1].PGPaymentKey})
		var out []string
		items := 0
		for _, o := range os {
			out = append(out, o.ID)
			items += len(o.Items)
		}
		read := named(out...) + fmt.Sprint(items, errClass(oerr))
		out = nil
		for _, p := range ps {
			out = append(out, p.ID)
		}
		read += " " + named(out...) + errClass(perr)
		out = nil
		for _, p := range ks {
			out = append(out, p.ID)
		}
		return read + " " + named(out...) + errClass(kerr)
	})
	c.same("a wallet batch's read", func(q payment.Queries) string {
		os, ws, err := q.OrdersWithWallets(ctx, []string{order2.ID, missing, order2.ID})
		var ids []string
		items := 0
		for _, o := range os {
			ids = append(ids, o.ID)
			items += len(o.Items)
		}
		out := named(ids...) + fmt.Sprint(" ", items, " wallets")
		for _, w := range ws {
			out += fmt.Sprint(" ", w.ID == wallets[0].ID, w.Balance, w.Version)
		}
		return out + errClass(err)
	})
	c.same("lock payments", func(q payment.Queries) string {
		var out string
		err := q.(payment.Store).InTx(ctx, func(q payment.Queries) error {
			ps, err := q.LockPayments(ctx, []string{more[2].ID, "pay_" + c.prefix + "missing", pay.ID, more[0].ID})
			for _, p := range ps {
				out += fmt.Sprintf("%v %s v%d;", p.ID == pay.ID, p.Status, p.Version)
			}
			return err
		})
		return out + " " + errClass(err)
	})

	owner := "own_" + c.prefix
	hash := "h1"
	claim := func(key, own, h string, lease time.Time) payment.IdempotencyRecord {
		return payment.IdempotencyRecord{UserID: users[0].ID, Key: key, Operation: "op", RequestHash: h, Owner: own, LeaseUntil: lease, CreatedAt: now}
	}

	orderStatuses := []payment.OrderStatus{payment.OrderPending, payment.OrderInDoubt, payment.OrderPaid, payment.OrderFailed, payment.OrderCanceled}
	paymentStatuses := []payment.PaymentStatus{payment.PaymentPending, payment.PaymentInDoubt, payment.PaymentDone, payment.PaymentFailed}
	walletState := func(id string) func(q payment.Queries) string {
		return func(q payment.Queries) string {
			w, err := q.Wallet(ctx, id)
			return fmt.Sprintf("%s balance %d version %d", errClass(err), w.Balance.Amount, w.Version)
		}
	}

	for range 150 {
		w := wallets[rng.IntN(len(wallets))]
		cur, err := c.mem.Wallet(ctx, w.ID)
		require.NoError(c.t, err)
		version := []int64{cur.Version, cur.Version, cur.Version - 1, cur.Version + 1, 0}[rng.IntN(5)]
		bal, room := cur.Balance.Amount, limit-cur.Balance.Amount
		switch op := rng.IntN(11); op {
		case 10:
			// A wallet batch's write with its answers: a key maybe
			// stored, a fresh one, maybe the fresh one twice; the debit at
			// the version read or a stale one. Taken or stale, the caller
			// rolls it all back.
			fresh := c.id("key")
			rs := []payment.IdempotencyRecord{claim(fresh, owner, hash, now)}
			if rng.IntN(2) == 0 {
				rs = append(rs, claim(fmt.Sprintf("k%d", rng.IntN(3)), owner, hash, now))
			}
			if rng.IntN(3) == 0 {
				rs = append(rs, claim(fresh, owner, "h2", now))
			}
			for i := range rs {
				rs[i].Response = []byte(fmt.Sprintf(`{"v":1,"result":%d}`, i))
			}
			amount := min(bal, 1+rng.Int64N(3))
			c.same(fmt.Sprintf("WriteWalletPayments(version %d of %d, %d of %d, %d answers)", version, cur.Version, amount, bal, len(rs)), func(q payment.Queries) string {
				return c.walletWrite(q, payment.WalletPaymentsWrite{Answers: rs, Now: tick(), Paying: []string{order.ID},
					Debits: []payment.WalletDebit{{WalletID: w.ID, Version: version, Amount: amount, Count: 1}}})
			})
			if rng.IntN(2) == 0 {
				// A batch at once (PayFromWallets), at the wallet's
				// version or a stale one, with a fresh answer or one
				// already stored, moving no order or one that does not
				// exist: all written, or nothing.
				rs := []payment.IdempotencyRecord{claim(c.id("key"), owner, hash, now)}
				if rng.IntN(3) == 0 {
					rs[0].Key = fresh
				}
				rs[0].Response = []byte(`{"v":1,"result":"at once"}`)
				var paying []string
				var read []time.Time
				if rng.IntN(3) == 0 {
					paying, read = []string{c.id("ord")}, []time.Time{tick()}
				}
				stale := rng.IntN(3) == 0
				c.same(fmt.Sprintf("PayFromWallets(stale %v, key %s, %d orders)", stale, rs[0].Key, len(paying)), func(q payment.Queries) string {
					cur, err := q.Wallet(ctx, w.ID)
					if err != nil || cur.Balance.Amount < 1 {
						return errClass(err)
					}
					if stale {
						cur.Version--
					}
					done, err := q.(payment.Store).PayFromWallets(ctx, payment.WalletPaymentsWrite{Answers: rs, Now: tick(), Paying: paying, PayingRead: read,
						Debits: []payment.WalletDebit{{WalletID: w.ID, Version: cur.Version, Amount: 1, Count: 1}}})
					return fmt.Sprint(done, " ", errClass(err))
				})
			}
			c.same("wallet after a batch write", walletState(w.ID))
			c.same("the batch's fresh answer", func(q payment.Queries) string {
				r, err := q.IdempotencyKey(ctx, users[0].ID, fresh)
				return fmt.Sprintf("%s %s %s", errClass(err), r.Status, r.Response)
			})
		case 0, 1, 2:
			amount := []int64{bal, bal + 1, 1 + rng.Int64N(max(bal, 1)), 1 + rng.Int64N(2*limit), 1}[rng.IntN(5)]
			c.same(fmt.Sprintf("DebitWallet(version %d of %d, %d of %d)", version, cur.Version, amount, bal), func(q payment.Queries) string {
				return answer(q.DebitWallet(ctx, w.ID, version, amount, tick()))
			})
			c.same("wallet after debit", walletState(w.ID))
		case 3, 4, 5:
			amount := []int64{room, room + 1, 1 + rng.Int64N(max(room, 1)), 1 + rng.Int64N(2*limit), 1}[rng.IntN(5)]
			if amount <= 0 {
				amount = 1
			}
			c.same(fmt.Sprintf("CreditWallet(version %d of %d, %d with room %d)", version, cur.Version, amount, room), func(q payment.Queries) string {
				return answer(q.CreditWallet(ctx, w.ID, version, amount, tick()))
			})
			c.same("wallet after credit", walletState(w.ID))
		case 6:
			// A transaction that debits and then fails leaves nothing behind.
			c.same("debit rolled back", func(q payment.Queries) string {
				st := q.(payment.Store)
				err := st.InTx(ctx, func(q payment.Queries) error {
					if _, err := q.DebitWallet(ctx, w.ID, cur.Version, min(bal, 1), tick()); err != nil {
						return err
					}
					return errors.New("boom")
				})
				return fmt.Sprint(err != nil)
			})
			c.same("wallet after rollback", walletState(w.ID))
			seq := []int64{1, 2, cur.Version + 1, 1 + rng.Int64N(3)}[rng.IntN(4)]
			wtx := payment.WalletTransaction{ID: c.id("wtx"), WalletID: w.ID, Seq: seq, Type: payment.WalletAdjustment, Amount: payment.Won(1),
				BalanceAfter: payment.Won(1), LedgerTransactionID: ltx.ID, CreatedAt: tick()}
			c.same(fmt.Sprintf("history row seq %d", seq), func(q payment.Queries) string { return errClass(q.InsertWalletTransaction(ctx, wtx)) })
		case 7:
			p, err := c.mem.Product(ctx, prd.ID)
			require.NoError(c.t, err)
			qty := []int64{p.Stock, p.Stock + 1, 1}[rng.IntN(3)]
			if qty <= 0 {
				qty = 1
			}
			c.same(fmt.Sprintf("TakeStock(%d of %d)", qty, p.Stock), func(q payment.Queries) string { return answer(q.TakeStock(ctx, prd.ID, qty, tick())) })
			if rng.IntN(2) == 0 {
				c.same("ReturnStock", func(q payment.Queries) string { return errClass(q.ReturnStock(ctx, prd.ID, 1, tick())) })
			}
			c.same("stock", func(q payment.Queries) string {
				p, err := q.Product(ctx, prd.ID)
				return fmt.Sprintf("%s %d %d", errClass(err), p.Stock, p.Supplied)
			})
		case 8:
			from, to := orderStatuses[rng.IntN(len(orderStatuses))], orderStatuses[rng.IntN(len(orderStatuses))]
			c.same(fmt.Sprintf("TransitionOrder(%s→%s)", from, to), func(q payment.Queries) string {
				return answer(q.TransitionOrder(ctx, order.ID, from, to, tick()))
			})
			at := []time.Time{order.ExpiresAt.Add(-time.Second), order.ExpiresAt, order.ExpiresAt.Add(time.Second)}[rng.IntN(3)]
			c.same("ExpireOrder", func(q payment.Queries) string { return answer(q.ExpireOrder(ctx, order.ID, at)) })
			c.same("order status", func(q payment.Queries) string {
				o, err := q.Order(ctx, order.ID)
				return errClass(err) + " " + string(o.Status)
			})
			from2 := orderStatuses[rng.IntN(len(orderStatuses))]
			c.same(fmt.Sprintf("TransitionOrders(%s→%s)", from2, to), func(q payment.Queries) string {
				moved, err := q.TransitionOrders(ctx, []string{order.ID, "ord_" + c.prefix + "missing", order.ID}, from2, to, tick())
				return fmt.Sprint(moved, " ", errClass(err))
			})
			c.same("OpenOrderUsage", func(q payment.Queries) string {
				n, units, err := q.OpenOrderUsage(ctx, order.UserID)
				return fmt.Sprintf("%s %d %d", errClass(err), n, units)
			})
			pt := paymentStatuses[rng.IntN(len(paymentStatuses))]
			stale := rng.IntN(3) == 0
			c.same(fmt.Sprintf("UpdatePayment(→%s, stale %v)", pt, stale), func(q payment.Queries) string {
				var out string
				err := q.(payment.Store).InTx(ctx, func(q payment.Queries) error {
					p, err := q.LockPayment(ctx, pay.ID)
					if err != nil {
						return err
					}
					from := p.Status
					p.Status, p.FailureCode, p.ConfirmAttempt = pt, "CODE_"+string(pt), p.ConfirmAttempt+1
					if stale {
						p.Version--
					}
					at := tick()
					ok, err := q.UpdatePayment(ctx, p, at, payment.PaymentEvent{ID: payment.NewID("pev", at), PaymentID: p.ID,
						FromStatus: from, ToStatus: pt, Source: "conform", Code: payment.EventApproved, Message: "m", CreatedAt: at})
					out = answer(ok, err)
					return err
				})
				return out + " " + errClass(err)
			})
			c.same(fmt.Sprintf("UpdatePayments(→%s, one stale)", pt), func(q payment.Queries) string {
				var out string
				err := q.(payment.Store).InTx(ctx, func(q payment.Queries) error {
					ps, err := q.LockPayments(ctx, []string{more[0].ID, more[2].ID})
					if err != nil || len(ps) != 2 {
						return fmt.Errorf("locked %d: %w", len(ps), err)
					}
					at := tick()
					var events []payment.PaymentEvent
					for i := range ps {
						events = append(events, payment.PaymentEvent{ID: payment.NewID("pev", at), PaymentID: ps[i].ID,
							FromStatus: ps[i].Status, ToStatus: pt, Source: "conform", Code: payment.EventApproved, Message: "m", CreatedAt: at})
						ps[i].Status, ps[i].ApprovedAt = pt, &at
					}
					ps[1].Version-- // stale
					ids, err := q.UpdatePayments(ctx, ps, at, events)
					out = fmt.Sprint(len(ids), slices.Contains(ids, ps[0].ID))
					for _, p := range ps {
						es, _ := q.PaymentEvents(ctx, p.ID)
						got, _ := q.Payment(ctx, p.ID)
						out += fmt.Sprintf(" %s v%d %d events", got.Status, got.Version, len(es))
					}
					return err
				})
				return out + " " + errClass(err)
			})
			// A settle batch at once of pay: at its version or a stale
			// one, its order as the steps above left it, its answer under
			// a key its owner holds or one taken over. All written, or
			// nothing.
			key, at := c.id("key"), tick()
			ledger := payment.LedgerTransaction{ID: c.id("ltx"), Kind: "CARD_PAYMENT", OrderID: order.ID, Description: "card payment", CreatedAt: at,
				Entries: []payment.LedgerEntry{{ID: c.id("ent"), AccountID: payment.AccountIDPGClearing, Amount: -1_000},
					{ID: c.id("ent"), AccountID: payment.AccountIDRevenue, Amount: 1_000}}}
			event := payment.PaymentEvent{ID: c.id("pev"), PaymentID: pay.ID, FromStatus: payment.PaymentInDoubt, ToStatus: payment.PaymentDone,
				Source: "conform", Code: payment.EventApproved, Message: "m", CreatedAt: at}
			stale, lost := rng.IntN(3) == 0, rng.IntN(4) == 0
			c.same(fmt.Sprintf("SettleCardPayments(stale %v, key lost %v)", stale, lost), func(q payment.Queries) string {
				if ok, err := q.ClaimIdempotencyKey(ctx, claim(key, owner, hash, at.Add(time.Minute))); err != nil || !ok {
					return answer(ok, err)
				}
				p, err := q.Payment(ctx, pay.ID)
				if err != nil {
					return errClass(err)
				}
				if stale {
					p.Version--
				}
				p.Status, p.ApprovedAt = payment.PaymentDone, &at
				answer := payment.IdempotencyCompletion{UserID: users[0].ID, Key: key, Owner: owner, Response: []byte(`{"v":1,"result":"settled"}`)}
				if lost {
					answer.Owner += "2"
				}
				done, err := q.(payment.Store).SettleCardPayments(ctx, payment.CardSettleWrite{Payments: []payment.Payment{p}, Events: []payment.PaymentEvent{event},
					Orders: []string{order.ID}, Ledger: []payment.LedgerTransaction{ledger}, Answers: []payment.IdempotencyCompletion{answer}, Now: at})
				got, perr := q.Payment(ctx, pay.ID)
				events, eerr := q.PaymentEvents(ctx, pay.ID)
				o, oerr := q.Order(ctx, order.ID)
				r, rerr := q.IdempotencyKey(ctx, users[0].ID, key)
				return fmt.Sprintf("%v %s, payment %s v%d %d events, order %s, key %s %s %s %s %s %s", done, errClass(err), got.Status, got.Version, len(events),
					o.Status, r.Status, errClass(perr), errClass(eerr), errClass(oerr), errClass(rerr), string(r.Response))
			})
			c.same("payment", func(q payment.Queries) string {
				p, err := q.PaymentByPGKey(ctx, pay.PGPaymentKey)
				events, eerr := q.PaymentEvents(ctx, pay.ID)
				return fmt.Sprintf("%s %s %d %s %d, %d events %s", errClass(err), p.Status, p.Version, p.FailureCode, p.ConfirmAttempt, len(events), errClass(eerr))
			})
		case 9:
			key := fmt.Sprintf("k%d", rng.IntN(3))
			lease := now.Add(time.Duration(rng.IntN(3)-1) * time.Minute)
			who := []string{owner, owner + "2"}[rng.IntN(2)]
			h := []string{hash, "h2"}[rng.IntN(2)]
			switch rng.IntN(7) {
			case 6:
				// Claims together: a key maybe held, a fresh one twice
				// (claimed by the first), another fresh one.
				fresh, other := c.id("key"), c.id("key")
				c.same("ClaimIdempotencyKeys", func(q payment.Queries) string {
					claimed, err := q.ClaimIdempotencyKeys(ctx, []payment.IdempotencyRecord{claim(key, who, h, lease),
						claim(fresh, who, h, lease), claim(fresh, owner+"3", h, lease), claim(other, who, "h4", lease)})
					r, rerr := q.IdempotencyKey(ctx, users[0].ID, fresh)
					return fmt.Sprint(claimed, " ", errClass(err), " ", r.Owner, r.Status, " ", errClass(rerr))
				})
			case 5:
				c.same("CompleteIdempotencyKeys", func(q payment.Queries) string {
					done, err := q.CompleteIdempotencyKeys(ctx, []payment.IdempotencyCompletion{
						{UserID: users[0].ID, Key: key, Owner: who, Response: []byte(`{"result":2}`)},
						{UserID: users[0].ID, Key: c.id("key"), Owner: who, Response: []byte(`{"result":3}`)},
					}, tick())
					return fmt.Sprint(done, " ", errClass(err))
				})
			case 4:
				// A batch's answers: a key maybe known, a fresh one, and a
				// key twice (kept once).
				fresh := c.id("key")
				c.same("InsertIdempotencyDoneMany", func(q payment.Queries) string {
					rs := []payment.IdempotencyRecord{claim(key, who, h, lease), claim(fresh, who, h, lease), claim(fresh, who, "h3", lease)}
					for i := range rs {
						rs[i].Response = []byte(fmt.Sprintf(`{"v":1,"result":%d}`, i))
					}
					taken, err := q.InsertIdempotencyDoneMany(ctx, rs)
					return fmt.Sprint(taken, " ", errClass(err))
				})
				c.same("the fresh key's answer", func(q payment.Queries) string {
					r, err := q.IdempotencyKey(ctx, users[0].ID, fresh)
					return fmt.Sprintf("%s %s %s %s", errClass(err), r.Status, r.RequestHash, r.Response)
				})
			case 0:
				c.same("ClaimIdempotencyKey", func(q payment.Queries) string { return answer(q.ClaimIdempotencyKey(ctx, claim(key, who, h, lease))) })
			case 1:
				c.same("TakeOverIdempotencyKey", func(q payment.Queries) string {
					return answer(q.TakeOverIdempotencyKey(ctx, claim(key, who, h, now.Add(time.Hour)), now))
				})
			case 2:
				c.same("CompleteIdempotencyKey", func(q payment.Queries) string {
					return answer(q.CompleteIdempotencyKey(ctx, users[0].ID, key, who, []byte(`{"result":1}`), tick()))
				})
			case 3:
				c.same("ReleaseIdempotencyKey", func(q payment.Queries) string {
					return errClass(q.ReleaseIdempotencyKey(ctx, users[0].ID, key, who))
				})
			}
			c.same("idempotency key", func(q payment.Queries) string {
				r, err := q.IdempotencyKey(ctx, users[0].ID, key)
				return fmt.Sprintf("%s %s %s %s %s", errClass(err), r.Status, r.Owner, r.RequestHash, r.Response)
			})
		}
	}
	c.refunds(users[0], wallets[0], order, pay, ltx, tick)
	c.holds(wallets[1], order, pay, ltx, tick)
}

// walletWrite is a wallet batch's write of w in a transaction of its own,
// rolled back unless it is done, and what it answered.
func (c *conformance) walletWrite(q payment.Queries, w payment.WalletPaymentsWrite) string {
	var got payment.WalletPaymentsWritten
	err := q.(payment.Store).InTx(c.ctx, func(q payment.Queries) error {
		var err error
		if got, err = q.WriteWalletPayments(c.ctx, w); err == nil && !got.Done {
			err = errors.New("rolled back")
		}
		return err
	})
	return fmt.Sprint(got.Taken, " ", got.Splits, " ", got.Done, " ", err != nil)
}

// holds compares the holds' writes: one OPEN hold per order (a unique
// index), a hold resolves once, and the HOLD wallet transaction carries
// its hold's status.
func (c *conformance) holds(w payment.Wallet, order payment.Order, pay payment.Payment, ltx payment.LedgerTransaction, tick func() time.Time) {
	ctx := c.ctx
	wtx := func() payment.WalletTransaction {
		c.n++
		t := payment.WalletTransaction{ID: c.id("wtx"), WalletID: w.ID, Seq: 1_000_000 + int64(c.n), Type: payment.WalletHold,
			Amount: payment.Won(-1), BalanceAfter: payment.Won(0), LedgerTransactionID: ltx.ID, CreatedAt: tick()}
		c.same("HOLD wallet transaction", func(q payment.Queries) string { return errClass(q.InsertWalletTransaction(ctx, t)) })
		return t
	}
	split := func() payment.Payment {
		p := payment.Payment{ID: c.id("pay"), OrderID: order.ID, Method: payment.MethodSplit, Status: payment.PaymentPending,
			Amount: payment.Won(1_000), WalletAmount: payment.Won(1), CreatedAt: tick()}
		c.same("insert split payment", func(q payment.Queries) string { return errClass(q.InsertPayment(ctx, p)) })
		return p
	}
	hold := func(t payment.WalletTransaction, p payment.Payment) payment.Hold {
		return payment.Hold{ID: c.id("hld"), WalletID: w.ID, PaymentID: p.ID, OrderID: order.ID, Amount: payment.Won(1),
			HoldTransactionID: t.ID, CreatedAt: tick()}
	}
	t1, t2 := wtx(), wtx()
	p1, p2 := split(), split()
	c.same("a wallet batch's write finds the splits under way", func(q payment.Queries) string {
		cur, err := q.Wallet(ctx, w.ID)
		if err != nil {
			return errClass(err)
		}
		return c.walletWrite(q, payment.WalletPaymentsWrite{Now: tick(), Paying: []string{order.ID, c.id("ord")},
			Debits: []payment.WalletDebit{{WalletID: w.ID, Version: cur.Version, Amount: 0, Count: 1}}})
	})
	h1, h2 := hold(t1, p1), hold(t2, p2)
	again := hold(t2, p1)
	again.ID = c.id("hld")
	c.same("InsertHold", func(q payment.Queries) string { return errClass(q.InsertHold(ctx, h1)) })
	c.same("a second open hold for the order", func(q payment.Queries) string { return errClass(q.InsertHold(ctx, h2)) })
	for _, to := range []payment.HoldStatus{payment.HoldPosted, payment.HoldReleased} {
		c.same("ResolveHold "+string(to), func(q payment.Queries) string { return answer(q.ResolveHold(ctx, h1.ID, to, tick())) })
	}
	c.same("a second hold for a payment", func(q payment.Queries) string { return errClass(q.InsertHold(ctx, again)) })
	c.same("a new hold once the first is resolved", func(q payment.Queries) string { return errClass(q.InsertHold(ctx, h2)) })
	c.same("ResolveHold RELEASED", func(q payment.Queries) string { return answer(q.ResolveHold(ctx, h2.ID, payment.HoldReleased, tick())) })
	c.same("holds of the order", func(q payment.Queries) string {
		hs, err := q.HoldsByOrder(ctx, order.ID)
		out := errClass(err)
		for _, h := range hs {
			out += fmt.Sprintf(" %s:%s:%d:%v", h.ID, h.Status, h.Amount.Amount, h.ResolvedAt != nil)
		}
		return out
	})
	c.same("HOLD transactions carry their hold's status", func(q payment.Queries) string {
		ts, err := q.WalletTransactions(ctx, w.ID, 1<<62, 100)
		out := errClass(err)
		for _, t := range ts {
			if t.ID == t1.ID || t.ID == t2.ID {
				out += fmt.Sprintf(" %s:%s", t.ID, t.HoldStatus)
			}
		}
		return out
	})
}

// refunds compares the refunds' writes: the insert and its constraints,
// the version fence, one refund per PG cancel, the order's refunded
// amount within its amount, and the credit that may pass the ceiling.
func (c *conformance) refunds(u payment.User, w payment.Wallet, order payment.Order, pay payment.Payment, ltx payment.LedgerTransaction, tick func() time.Time) {
	ctx, rng := c.ctx, c.rng
	refund := func(amount int64) payment.Refund {
		now := tick()
		return payment.Refund{ID: c.id("rfd"), PaymentID: pay.ID, OrderID: order.ID, Method: payment.MethodCard, Amount: payment.Won(amount),
			Reason: "r", RequestedBy: u.ID, CreatedAt: now}
	}
	state := func(id string) func(q payment.Queries) string {
		return func(q payment.Queries) string {
			r, err := q.Refund(ctx, id)
			return fmt.Sprintf("%s %s %d %d %s %s %v", errClass(err), r.Status, r.Attempt, r.Version, r.PGTransactionKey, r.FailureCode, r.SentAt != nil)
		}
	}
	a, b := refund(400), refund(600)
	c.same("insert refund", func(q payment.Queries) string { return errClass(q.InsertRefund(ctx, a)) })
	c.same("insert refund again", func(q payment.Queries) string { return errClass(q.InsertRefund(ctx, a)) })
	c.same("insert second refund", func(q payment.Queries) string { return errClass(q.InsertRefund(ctx, b)) })
	c.same("insert refund of nothing", func(q payment.Queries) string { return errClass(q.InsertRefund(ctx, refund(0))) })
	orphan := refund(1)
	orphan.PaymentID = "pay_missing"
	c.same("insert refund without payment", func(q payment.Queries) string { return errClass(q.InsertRefund(ctx, orphan)) })
	c.same("refunds of the payment", func(q payment.Queries) string {
		rs, err := q.RefundsByPayment(ctx, pay.ID)
		out := errClass(err)
		for _, r := range rs {
			out += fmt.Sprintf(" %s:%d:%s", r.ID, r.Amount.Amount, r.Status)
		}
		return out
	})
	txKey := c.prefix + "tx1"
	for i, id := range []string{a.ID, b.ID, a.ID, b.ID} {
		stale := rng.IntN(3) == 0
		c.same(fmt.Sprintf("UpdateRefund %d (stale %v)", i, stale), func(q payment.Queries) string {
			r, err := q.Refund(ctx, id)
			if err != nil {
				return errClass(err)
			}
			now := tick()
			r.Attempt++
			r.SentAt = &now
			r.Status = []payment.RefundStatus{payment.RefundDone, payment.RefundDone, payment.RefundInDoubt, payment.RefundDone}[i]
			if r.Status == payment.RefundDone {
				r.PGTransactionKey, r.LedgerTransactionID, r.CompletedAt = txKey, ltx.ID, &now // b takes a's cancel: refused
			}
			if stale {
				r.Version--
			}
			return answer(q.UpdateRefund(ctx, r, now))
		})
		c.same("refund", state(id))
	}
	for _, amount := range []int64{0, 400, 600, 1} {
		asRead := rng.IntN(2) == 0
		c.same(fmt.Sprintf("RefundOrder(%d, status as read %v)", amount, asRead), func(q payment.Queries) string {
			o, err := q.Order(ctx, order.ID)
			if err != nil {
				return errClass(err)
			}
			from := o.Status
			if !asRead {
				from = payment.OrderRefunded
			}
			return answer(q.RefundOrder(ctx, order.ID, from, payment.OrderPartiallyRefunded, amount, tick()))
		})
		c.same("order refunded", func(q payment.Queries) string {
			o, err := q.Order(ctx, order.ID)
			return fmt.Sprintf("%s %s %d", errClass(err), o.Status, o.RefundedAmount.Amount)
		})
	}
	for range 4 {
		cur, err := c.mem.Wallet(ctx, w.ID)
		require.NoError(c.t, err)
		version := []int64{cur.Version, cur.Version - 1}[rng.IntN(2)]
		amount := cur.Limit.Amount - cur.Balance.Amount + 1 + rng.Int64N(1_000) // past the ceiling
		c.same(fmt.Sprintf("CreditWalletPastLimit(version %d of %d)", version, cur.Version), func(q payment.Queries) string {
			return answer(q.CreditWalletPastLimit(ctx, w.ID, version, amount, tick()))
		})
		c.same("wallet after refund credit", func(q payment.Queries) string {
			w, err := q.Wallet(ctx, w.ID)
			return fmt.Sprintf("%s balance %d version %d", errClass(err), w.Balance.Amount, w.Version)
		})
	}
}
