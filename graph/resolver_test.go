package graph_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pago/pago/payment"
)

func TestMeIsTheCaller(t *testing.T) {
	var out struct{ Me struct{ ID, Name string } }
	if errs := rawPost(t, newClient(t, &fakeService{}, alice), `{ me { id name } }`, &out); len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	if out.Me.ID != alice.ID || out.Me.Name != "alice" {
		t.Fatalf("me = %+v", out.Me)
	}

	errs := rawPost(t, newClient(t, &fakeService{}, payment.User{}), `{ me { id } }`, nil)
	if len(errs) != 1 || errs[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Fatalf("anonymous me: %+v, want UNAUTHENTICATED", errs)
	}
}

func TestWalletNullBeforeCreateWallet(t *testing.T) {
	var out struct {
		Wallet *struct {
			Balance int64
			Limit   int64
		}
	}
	svc := &fakeService{}
	if errs := rawPost(t, newClient(t, svc, alice), `{ wallet { balance limit } }`, &out); len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	if out.Wallet != nil {
		t.Fatalf("wallet = %+v, want null (not found is no error)", out.Wallet)
	}

	svc.wallet = &payment.Wallet{ID: "wal_01J00000000000000000000001", Balance: payment.Won(12_000), Limit: payment.Won(100_000)}
	if errs := rawPost(t, newClient(t, svc, alice), `{ wallet { balance limit } }`, &out); len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	if out.Wallet == nil || out.Wallet.Balance != 12_000 || out.Wallet.Limit != 100_000 {
		t.Fatalf("wallet = %+v, want balance 12000 limit 100000", out.Wallet)
	}
}

func TestCreateOrderPassesInputAndAnswersOrder(t *testing.T) {
	svc := &fakeService{}
	var out struct {
		CreateOrder struct {
			Order struct {
				ID, Kind, Status, CheckoutURL string
				Amount                        int64
				Items                         []any
			}
		}
	}
	errs := rawPost(t, newClient(t, svc, alice),
		`mutation { createOrder(input: {idempotencyKey: "k1", kind: WALLET_TOPUP, amount: 30000}) {
			order { id kind status amount checkoutUrl items { name } } } }`, &out)
	if len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	o := out.CreateOrder.Order
	if o.Kind != "WALLET_TOPUP" || o.Status != "PENDING" || o.Amount != 30_000 || o.CheckoutURL != "/checkout/"+o.ID || o.Items == nil {
		t.Fatalf("order = %+v", o)
	}
	if svc.lastCreate.Kind != payment.OrderWalletTopUp || svc.lastCreate.Amount == nil || *svc.lastCreate.Amount != 30_000 {
		t.Fatalf("service got %+v", svc.lastCreate)
	}

	// kind defaults to PURCHASE, as the schema says.
	rawPost(t, newClient(t, svc, alice),
		`mutation { createOrder(input: {idempotencyKey: "k2", items: [{productId: "prd_01J00000000000000000000001", quantity: 2}]}) { order { id } } }`, nil)
	if svc.lastCreate.Kind != payment.OrderPurchase || len(svc.lastCreate.Items) != 1 || svc.lastCreate.Items[0].Quantity != 2 {
		t.Fatalf("service got %+v", svc.lastCreate)
	}
}

// payWithWallet's errors reach the client as the domain error's code, message
// and pgCode; anything else is INTERNAL with none of its text.
func TestPayWithWalletErrorMapping(t *testing.T) {
	const q = `mutation { payWithWallet(input: {idempotencyKey: "k", orderId: "ord_01J00000000000000000000001"}) { order { id } } }`
	for _, tc := range []struct {
		name    string
		err     error
		code    string
		message string
		pgCode  string
		fields  []any
	}{
		{name: "insufficient", err: fmt.Errorf("pay: %w", &payment.Error{Code: payment.CodeInsufficientBalance, Message: "the balance is 1,000 KRW"}),
			code: "INSUFFICIENT_BALANCE", message: "the balance is 1,000 KRW"},
		{name: "declined", err: &payment.Error{Code: payment.CodePaymentDeclined, Message: "the card was declined", PGCode: "REJECT_CARD_PAYMENT"},
			code: "PAYMENT_DECLINED", message: "the card was declined", pgCode: "REJECT_CARD_PAYMENT"},
		{name: "bad input", err: payment.BadInput("orderId", "orderId is not a valid id"),
			code: "BAD_USER_INPUT", message: "orderId is not a valid id", fields: []any{"orderId"}},
		{name: "busy", err: payment.ErrLockBusy, code: "REQUEST_IN_PROGRESS", message: payment.ErrLockBusy.Message},
		{name: "internal", err: errors.New(`Post "http://127.0.0.1:1/v1/payments/confirm": dial tcp: connection refused`),
			code: "INTERNAL", message: "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := rawPost(t, newClient(t, &fakeService{payErr: tc.err}, alice), q, nil)
			if len(errs) != 1 {
				t.Fatalf("errors: %+v, want one", errs)
			}
			e := errs[0]
			if e.Extensions["code"] != tc.code || e.Message != tc.message {
				t.Errorf("error = %q %v, want %q %s", e.Message, e.Extensions, tc.message, tc.code)
			}
			if got, _ := e.Extensions["pgCode"].(string); got != tc.pgCode {
				t.Errorf("pgCode = %q, want %q", got, tc.pgCode)
			}
			if tc.fields != nil && fmt.Sprint(e.Extensions["fields"]) != fmt.Sprint(tc.fields) {
				t.Errorf("fields = %v, want %v", e.Extensions["fields"], tc.fields)
			}
			if len(e.Path) != 1 || e.Path[0] != "payWithWallet" {
				t.Errorf("path = %v", e.Path)
			}
			b, _ := json.Marshal(e)
			for _, leak := range []string{"dial tcp", "http://", "payment.Error", "*errors"} {
				if strings.Contains(string(b), leak) {
					t.Errorf("error %s shows %q", b, leak)
				}
			}
		})
	}
}

func TestOrdersPagination(t *testing.T) {
	svc := &fakeService{orders: []payment.Order{
		testOrder("ord_01J00000000000000000000003", payment.OrderPurchase, payment.Won(3000)),
		testOrder("ord_01J00000000000000000000002", payment.OrderPurchase, payment.Won(2000)),
	}}
	var out struct {
		Orders struct {
			Edges []struct {
				Cursor string
				Node   struct{ ID string }
			}
			Nodes    []struct{ ID string }
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
	}
	c := newClient(t, svc, alice)
	errs := rawPost(t, c, `{ orders(first: 2, after: "cur", status: PAID) { edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor } } }`, &out)
	if len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	if svc.lastPage != (payment.Page{First: 2, After: "cur"}) || svc.lastStatus != payment.OrderPaid {
		t.Fatalf("service got page %+v status %q", svc.lastPage, svc.lastStatus)
	}
	o := out.Orders
	if len(o.Edges) != 2 || len(o.Nodes) != 2 || o.Edges[0].Node.ID != svc.orders[0].ID || o.Nodes[1].ID != svc.orders[1].ID ||
		o.Edges[1].Cursor != "cursor-"+svc.orders[1].ID {
		t.Fatalf("orders = %+v", o)
	}
	if !o.PageInfo.HasNextPage || o.PageInfo.EndCursor == nil || *o.PageInfo.EndCursor != o.Edges[1].Cursor {
		t.Fatalf("pageInfo = %+v, want hasNextPage and endCursor = the last edge's", o.PageInfo)
	}

	// No arguments: the service's defaults; an explicit first: 0 is out of
	// range, not the default.
	rawPost(t, c, `{ orders { nodes { id } } }`, nil)
	if svc.lastPage != (payment.Page{}) || svc.lastStatus != "" {
		t.Fatalf("no arguments: service got page %+v status %q", svc.lastPage, svc.lastStatus)
	}
	rawPost(t, c, `{ orders(first: 0) { nodes { id } } }`, nil)
	if svc.lastPage.First != -1 {
		t.Fatalf("first: 0 reached the service as %d, want -1 (refused there)", svc.lastPage.First)
	}
}
