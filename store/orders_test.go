package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/storetest"
)

// Order reads an order and its lines in one statement: a purchase has its
// lines in product order, a top-up none, and an unknown id is NOT_FOUND.
func TestOrderComesWithItsLines(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s, u, now := withUser(t, eng, "lines")
			var items []payment.OrderItem
			for _, name := range []string{"tea", "cake"} {
				p, err := s.UpsertProduct(ctx, payment.Product{ID: payment.NewID("prd", now), SKU: name, Name: name,
					Price: payment.Won(1000), Stock: 5, CreatedAt: now, UpdatedAt: now})
				must(t, err)
				items = append(items, payment.OrderItem{ProductID: p.ID, Name: name, Quantity: int64(len(items) + 1), UnitPrice: payment.Won(1000)})
			}
			purchase := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderPurchase, Status: payment.OrderPending,
				Name: "tea and 1 more", Amount: payment.Won(3000), Items: items, ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
			must(t, s.InsertOrder(ctx, purchase))
			topUp := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderWalletTopUp, Status: payment.OrderPending,
				Name: "top-up", Amount: payment.Won(5000), ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
			must(t, s.InsertOrder(ctx, topUp))

			got, err := s.Order(ctx, purchase.ID)
			must(t, err)
			if got.ID != purchase.ID || got.Amount != purchase.Amount || len(got.Items) != 2 ||
				got.Items[0].ProductID > got.Items[1].ProductID {
				t.Fatalf("purchase read as %+v", got)
			}
			for _, it := range got.Items {
				want := items[0]
				if it.ProductID == items[1].ProductID {
					want = items[1]
				}
				if it != want {
					t.Errorf("line %+v, want %+v", it, want)
				}
			}
			got, err = s.Order(ctx, topUp.ID)
			must(t, err)
			if got.ID != topUp.ID || got.Kind != payment.OrderWalletTopUp || got.Items != nil {
				t.Fatalf("top-up read as %+v", got)
			}
			if _, err := s.Order(ctx, "ord_missing"); !errors.Is(err, payment.ErrNotFound) {
				t.Fatalf("unknown order: %v, want NOT_FOUND", err)
			}
		})
	}
}

// The batch reads of orders match the single reads, on both engines:
// OrdersByIDs (a confirm batch's) reads every order that exists with its
// lines, as Order reads it, and OrdersWithWallets (a wallet batch's) the
// same orders and each owner's wallet once, as Wallet reads it, none for an
// owner without one; an id that matches nothing is left out.
func TestOrderBatchReadsMatchSingleReads(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s, u, now := withUser(t, eng, "batch-orders")
			owners := []payment.User{u}
			var walletIDs []string
			for i := range 3 { // owners 0 and 1 have a wallet, owner 2 none
				if i > 0 {
					owners = append(owners, payment.User{ID: payment.NewID("usr", now), Name: fmt.Sprintf("owner-%d", i), CreatedAt: now})
					must(t, s.InsertUserIfAbsent(ctx, owners[i]))
				}
				if i == 2 {
					break
				}
				acc := payment.LedgerAccount{ID: payment.NewID("acc", now), Kind: payment.AccountWallet, Currency: payment.KRW, CreatedAt: now}
				must(t, s.InsertLedgerAccount(ctx, acc))
				w := payment.Wallet{ID: payment.NewID("wal", now), UserID: owners[i].ID, AccountID: acc.ID, Limit: payment.Won(100_000), CreatedAt: now}
				_, err := s.InsertWalletIfAbsent(ctx, w)
				must(t, err)
				walletIDs = append(walletIDs, w.ID)
			}
			var orderIDs []string
			for i := range 4 { // order i has i lines; order 0 is a top-up; orders 0 and 1 are owner 0's
				o := payment.Order{ID: payment.NewID("ord", now), UserID: owners[max(i-1, 0)].ID, Kind: payment.OrderPurchase, Status: payment.OrderPending,
					Name: "order", Amount: payment.Won(int64(1000 * (i + 1))), ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
				if i == 0 {
					o.Kind = payment.OrderWalletTopUp
				}
				for j := range i {
					p, err := s.UpsertProduct(ctx, payment.Product{ID: payment.NewID("prd", now), SKU: fmt.Sprintf("sku-%d-%d", i, j), Name: "tea",
						Price: payment.Won(1000), Stock: 5, CreatedAt: now, UpdatedAt: now})
					must(t, err)
					o.Items = append(o.Items, payment.OrderItem{ProductID: p.ID, Name: "tea", Quantity: int64(j + 1), UnitPrice: payment.Won(1000)})
				}
				must(t, s.InsertOrder(ctx, o))
				orderIDs = append(orderIDs, o.ID)
			}
			asked := append([]string{payment.NewID("ord", now)}, orderIDs...)
			sameOrders := func(what string, orders []payment.Order) {
				t.Helper()
				if len(orders) != len(orderIDs) {
					t.Fatalf("%s read %d orders, want %d", what, len(orders), len(orderIDs))
				}
				for _, got := range orders {
					want, err := s.Order(ctx, got.ID)
					must(t, err)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s: order %s: batch %+v, single %+v", what, got.ID, got, want)
					}
				}
			}
			orders, err := s.OrdersByIDs(ctx, asked)
			must(t, err)
			sameOrders("OrdersByIDs", orders)
			orders, wallets, err := s.OrdersWithWallets(ctx, asked)
			must(t, err)
			sameOrders("OrdersWithWallets", orders)
			if len(wallets) != len(walletIDs) {
				t.Fatalf("read wallets %+v, want %v", wallets, walletIDs)
			}
			for _, got := range wallets {
				want, err := s.Wallet(ctx, got.ID)
				must(t, err)
				if got != want {
					t.Errorf("wallet %s: batch %+v, single %+v", got.ID, got, want)
				}
			}
			if none, err := s.OrdersByIDs(ctx, nil); err != nil || len(none) != 0 {
				t.Errorf("no ids: %v, %v", none, err)
			}
		})
	}
}

// A payment's write and its history go together, on both engines (one
// statement on PostgreSQL): an insert with its events, an update with its
// event, and a stale update that writes neither; a ledger transaction
// with its entries, or nothing when an entry is refused.
func TestPaymentAndLedgerWritesCarryTheirRows(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s, u, now := withUser(t, eng, "history")
			o := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderWalletTopUp, Status: payment.OrderInDoubt,
				Name: "top-up", Amount: payment.Won(1000), ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
			must(t, s.InsertOrder(ctx, o))
			p := payment.Payment{ID: payment.NewID("pay", now), OrderID: o.ID, Method: payment.MethodCard, Status: payment.PaymentInDoubt,
				Amount: payment.Won(1000), PGPaymentKey: "pk_history", PGIdempotencyKey: "base", ConfirmSentAt: &now, CreatedAt: now, UpdatedAt: now}
			at := now
			event := func(from, to payment.PaymentStatus, code payment.EventCode) payment.PaymentEvent {
				at = at.Add(time.Millisecond) // history reads in id order, and ids start with the time
				return payment.PaymentEvent{ID: payment.NewID("pev", at), PaymentID: p.ID, FromStatus: from, ToStatus: to,
					Source: "test", Code: code, Message: string(code), Detail: "detail", CreatedAt: at}
			}
			events := func(id string) []payment.PaymentEvent {
				t.Helper()
				got, err := s.PaymentEvents(ctx, id)
				must(t, err)
				return got
			}

			sent := event(payment.PaymentPending, payment.PaymentInDoubt, payment.EventConfirmSent)
			must(t, s.InTx(ctx, func(q payment.Queries) error { return q.InsertPayment(ctx, p, sent) }))
			got, err := s.Payment(ctx, p.ID)
			must(t, err)
			if got.Status != payment.PaymentInDoubt || got.Version != 0 || got.ConfirmSentAt == nil || !got.ConfirmSentAt.Equal(now) {
				t.Fatalf("inserted payment read as %+v", got)
			}
			if h := events(p.ID); !reflect.DeepEqual(h, []payment.PaymentEvent{sent}) {
				t.Fatalf("history after the insert %+v, want %+v", h, sent)
			}

			// Another payment with the same key: refused by the unique
			// index, and its event is not written either.
			dup := p
			dup.ID = payment.NewID("pay", now)
			dupSent := sent
			dupSent.ID, dupSent.PaymentID = payment.NewID("pev", at), dup.ID
			err = s.InTx(ctx, func(q payment.Queries) error { return q.InsertPayment(ctx, dup, dupSent) })
			if !errors.Is(err, payment.ErrPaymentKeyTaken) {
				t.Fatalf("a taken key: %v, want ErrPaymentKeyTaken", err)
			}
			if h := events(dup.ID); len(h) != 0 {
				t.Fatalf("the refused payment left history %+v", h)
			}

			approved := event(payment.PaymentInDoubt, payment.PaymentDone, payment.EventApproved)
			must(t, s.InTx(ctx, func(q payment.Queries) error {
				cur, err := q.LockPayment(ctx, p.ID)
				if err != nil {
					return err
				}
				cur.Status, cur.ApprovedAt = payment.PaymentDone, &now
				ok, err := q.UpdatePayment(ctx, cur, now, approved)
				if err != nil || !ok {
					return fmt.Errorf("update: %v %v", ok, err)
				}
				// The same version again: stale, so neither row is written.
				stale := event(payment.PaymentInDoubt, payment.PaymentDone, payment.EventApproved)
				cur.FailureCode = "STALE"
				if ok, err := q.UpdatePayment(ctx, cur, now, stale); err != nil || ok {
					return fmt.Errorf("stale update: %v %v, want false", ok, err)
				}
				return nil
			}))
			got, err = s.Payment(ctx, p.ID)
			must(t, err)
			if got.Status != payment.PaymentDone || got.Version != 1 || got.FailureCode != "" {
				t.Fatalf("updated payment read as %+v", got)
			}
			if h := events(p.ID); !reflect.DeepEqual(h, []payment.PaymentEvent{sent, approved}) {
				t.Fatalf("history after the updates %+v, want %+v then %+v", h, sent, approved)
			}

			// Taking a key another payment holds: refused by the unique
			// index, with no event written.
			other := p
			other.ID, other.PGPaymentKey = payment.NewID("pay", now), "pk_other"
			must(t, s.InTx(ctx, func(q payment.Queries) error { return q.InsertPayment(ctx, other) }))
			err = s.InTx(ctx, func(q payment.Queries) error {
				cur, err := q.LockPayment(ctx, p.ID)
				if err != nil {
					return err
				}
				cur.PGPaymentKey = other.PGPaymentKey
				_, err = q.UpdatePayment(ctx, cur, now, event(payment.PaymentDone, payment.PaymentDone, payment.EventApproved))
				return err
			})
			if !errors.Is(err, payment.ErrPaymentKeyTaken) {
				t.Fatalf("an update taking another payment's key: %v, want ErrPaymentKeyTaken", err)
			}
			if h := events(p.ID); len(h) != 2 {
				t.Fatalf("the refused update left history %+v", h)
			}

			entries := func(txID string) (n int, sum int64) {
				t.Helper()
				must(t, s.db.DB.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger_entries WHERE transaction_id = $1", txID).Scan(&n, &sum))
				return n, sum
			}
			ltx := payment.LedgerTransaction{ID: payment.NewID("ltx", now), Kind: "CARD_PAYMENT", OrderID: o.ID, Description: "card", CreatedAt: now,
				Entries: []payment.LedgerEntry{
					{ID: payment.NewID("ent", now), AccountID: payment.AccountIDPGClearing, Amount: -1000},
					{ID: payment.NewID("ent", now), AccountID: payment.AccountIDRevenue, Amount: 1000},
				}}
			must(t, s.InTx(ctx, func(q payment.Queries) error { return q.InsertLedgerTransaction(ctx, ltx) }))
			if n, sum := entries(ltx.ID); n != 2 || sum != 0 {
				t.Fatalf("ledger transaction has %d entries summing to %d, want 2 and 0", n, sum)
			}
			bad := ltx
			bad.ID = payment.NewID("ltx", now)
			bad.Entries = []payment.LedgerEntry{
				{ID: payment.NewID("ent", now), AccountID: payment.AccountIDRevenue, Amount: -5},
				{ID: payment.NewID("ent", now), AccountID: "acc_missing", Amount: 5},
			}
			if err := s.InTx(ctx, func(q payment.Queries) error { return q.InsertLedgerTransaction(ctx, bad) }); err == nil {
				t.Fatal("an entry on a missing account was accepted")
			}
			// Refused inside a transaction and outside one (the store's
			// own): nothing of it is left either way.
			alone := bad
			alone.ID = payment.NewID("ltx", now)
			alone.Entries = []payment.LedgerEntry{
				{ID: payment.NewID("ent", now), AccountID: payment.AccountIDRevenue, Amount: -5},
				{ID: payment.NewID("ent", now), AccountID: "acc_missing", Amount: 5},
			}
			if err := s.InsertLedgerTransaction(ctx, alone); err == nil {
				t.Fatal("an entry on a missing account was accepted outside a transaction")
			}
			for _, id := range []string{bad.ID, alone.ID} {
				var n int
				must(t, s.db.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM ledger_transactions WHERE id = $1", id).Scan(&n))
				if n1, _ := entries(id); n != 0 || n1 != 0 {
					t.Fatalf("a refused ledger transaction left %d transaction rows and %d entries", n, n1)
				}
			}

			// A payment whose event is refused (its id taken), outside a
			// transaction: the payment is not left without its history.
			lone := p
			lone.ID, lone.PGPaymentKey = payment.NewID("pay", now), "pk_lone"
			taken := sent
			taken.PaymentID = lone.ID // sent's id is taken
			if err := s.InsertPayment(ctx, lone, taken); err == nil {
				t.Fatal("an event with a taken id was accepted")
			}
			if _, err := s.Payment(ctx, lone.ID); !errors.Is(err, payment.ErrNotFound) {
				t.Fatalf("the payment of a refused event: %v, want NOT_FOUND", err)
			}
		})
	}
}
