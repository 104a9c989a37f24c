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

// A wallet batch reads its orders and its wallets in one query each, on
// both engines: every order that exists with its lines, as Order reads it,
// and every wallet, as Wallet reads it; an id that matches nothing is left
// out.
func TestOrdersAndWalletsByIDsMatchSingleReads(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s, u, now := withUser(t, eng, "batch-orders")
			var orderIDs []string
			for i := range 4 { // order i has i lines; order 0 is a top-up
				o := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderPurchase, Status: payment.OrderPending,
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
			var walletIDs []string
			for i := range 3 {
				owner := u
				if i > 0 {
					owner = payment.User{ID: payment.NewID("usr", now), Name: fmt.Sprintf("owner-%d", i), CreatedAt: now}
					must(t, s.InsertUserIfAbsent(ctx, owner))
				}
				acc := payment.LedgerAccount{ID: payment.NewID("acc", now), Kind: payment.AccountWallet, Currency: payment.KRW, CreatedAt: now}
				must(t, s.InsertLedgerAccount(ctx, acc))
				w := payment.Wallet{ID: payment.NewID("wal", now), UserID: owner.ID, AccountID: acc.ID, Limit: payment.Won(100_000), CreatedAt: now}
				_, err := s.InsertWalletIfAbsent(ctx, w)
				must(t, err)
				walletIDs = append(walletIDs, w.ID)
			}
			missingOrder, missingWallet := payment.NewID("ord", now), payment.NewID("wal", now)

			orders, err := s.OrdersByIDs(ctx, append([]string{missingOrder}, orderIDs...))
			must(t, err)
			if len(orders) != len(orderIDs) {
				t.Fatalf("read %d orders, want %d", len(orders), len(orderIDs))
			}
			for _, got := range orders {
				want, err := s.Order(ctx, got.ID)
				must(t, err)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("order %s: batch %+v, single %+v", got.ID, got, want)
				}
			}
			wallets, err := s.WalletsByIDs(ctx, append(walletIDs, missingWallet))
			must(t, err)
			if len(wallets) != len(walletIDs) {
				t.Fatalf("read %d wallets, want %d", len(wallets), len(walletIDs))
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
