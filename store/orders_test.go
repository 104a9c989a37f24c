package store

import (
	"context"
	"errors"
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
