package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pago/pago/payment"
)

// A list's payments and their events are read once per list, not per row.
func TestOrderListReadsPaymentsAndEventsOnce(t *testing.T) {
	svc := &fakeService{payments: map[string][]payment.Payment{}, events: map[string][]payment.PaymentEvent{}}
	for i := range 5 {
		o := testOrder(fmt.Sprintf("ord_01J0000000000000000000000%d", i), payment.OrderPurchase, payment.Won(1000))
		svc.orders = append(svc.orders, o)
		for j := range 2 {
			p := payment.Payment{ID: fmt.Sprintf("pay_01J000000000000000000000%d%d", i, j), OrderID: o.ID,
				Method: payment.MethodCard, Status: payment.PaymentDone, Amount: payment.Won(500)}
			svc.payments[o.ID] = append(svc.payments[o.ID], p)
			svc.events[p.ID] = []payment.PaymentEvent{{ID: "pev_" + p.ID, PaymentID: p.ID, FromStatus: payment.PaymentPending,
				ToStatus: payment.PaymentDone, Source: "wallet", Detail: "paid", CreatedAt: testTime}}
		}
	}
	var out struct {
		Orders struct {
			Nodes []struct {
				ID       string
				Payments []struct {
					ID     string
					Events []struct{ To string }
				}
			}
		}
	}
	errs := rawPost(t, newClient(t, svc, alice), `{ orders { nodes { id payments { id events { to } } } } }`, &out)
	if len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	if n := len(out.Orders.Nodes); n != 5 {
		t.Fatalf("%d orders, want 5", n)
	}
	for _, o := range out.Orders.Nodes {
		if len(o.Payments) != 2 {
			t.Fatalf("order %s: %d payments, want 2", o.ID, len(o.Payments))
		}
		for _, p := range o.Payments {
			if !strings.HasSuffix(p.ID, o.ID[len(o.ID)-1:]+p.ID[len(p.ID)-1:]) || len(p.Events) != 1 || p.Events[0].To != "DONE" {
				t.Fatalf("order %s payment %+v", o.ID, p)
			}
		}
	}
	if n := svc.callsTo("PaymentsByOrders"); n != 1 {
		t.Errorf("payments read %d times for one list, want 1", n)
	}
	if n := svc.callsTo("PaymentEventsByPayments"); n != 1 {
		t.Errorf("events read %d times for one list, want 1", n)
	}
}

// A payment's history shows customers its code and words; the internal
// record (PG answers, network errors) only to operators.
func TestPaymentEventsHideInternalDetailFromCustomers(t *testing.T) {
	svc := &fakeService{payments: map[string][]payment.Payment{}, events: map[string][]payment.PaymentEvent{}}
	o := testOrder("ord_01J00000000000000000000000", payment.OrderPurchase, payment.Won(1000))
	svc.orders = []payment.Order{o}
	p := payment.Payment{ID: "pay_01J00000000000000000000000", OrderID: o.ID, Method: payment.MethodCard,
		Status: payment.PaymentPending, Amount: payment.Won(1000)}
	svc.payments[o.ID] = []payment.Payment{p}
	svc.events[p.ID] = []payment.PaymentEvent{{ID: "pev_1", PaymentID: p.ID, FromStatus: payment.PaymentInDoubt,
		ToStatus: payment.PaymentPending, Source: "redirect", Code: payment.EventNotSent,
		Message: "The payment gateway could not be reached; nothing was charged.",
		Detail:  `Post "http://10.0.0.9/v1/payments/confirm": dial tcp 10.0.0.9:443: connect: connection refused`, CreatedAt: testTime}}
	type events struct {
		Orders struct {
			Nodes []struct {
				Payments []struct {
					Events []struct {
						Code, Detail   string
						InternalDetail *string
					}
				}
			}
		}
	}
	const q = `{ orders { nodes { payments { events { code detail internalDetail } } } } }`
	for _, who := range []struct {
		user  payment.User
		sees  bool
		label string
	}{{alice, false, "customer"}, {payment.User{ID: "usr_ops", Name: "ops", IsAdmin: true}, true, "operator"}} {
		var out events
		if errs := rawPost(t, newClient(t, svc, who.user), q, &out); len(errs) > 0 {
			t.Fatalf("%s: errors %+v", who.label, errs)
		}
		e := out.Orders.Nodes[0].Payments[0].Events[0]
		if e.Code != "NOT_SENT" || strings.Contains(e.Detail, "dial tcp") {
			t.Fatalf("%s sees %+v", who.label, e)
		}
		if (e.InternalDetail != nil) != who.sees {
			t.Fatalf("%s: internalDetail %v, want shown=%v", who.label, e.InternalDetail, who.sees)
		}
	}
}
