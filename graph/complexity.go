package graph

import "github.com/pago/pago/graph/model"

// List fields cost their children once per item they can return, so that
// 60 aliases of orders(first: 100){nodes{payments{events}}} cost what they
// would fetch. Paged lists count their page size (first, default 20;
// outside 1–100 the resolver refuses with BAD_USER_INPUT, so the cost is
// clamped rather than made to refuse first); the unpaged lists count a
// typical upper size.
const (
	defaultPage       = 20
	maxPage           = 100
	orderItemsCost    = 10 // lines per order (at most 50, rarely more than a few)
	orderPaymentsCost = 4  // payments per order (a decline and a retry, a split)
	paymentEventsCost = 8  // transitions per payment
	productsCost      = 20 // catalogue size
)

func pageSize(first *int) int {
	if first == nil || *first < 1 {
		return defaultPage
	}
	return min(*first, maxPage)
}

func listCost(items, child int) int { return satAdd(1, satMul(items, max(child, 1))) }

// complexityRoot is the complexity functions of the fields above; every
// other field costs 1 plus its children.
func complexityRoot() ComplexityRoot {
	var c ComplexityRoot
	c.Query.Orders = func(child int, first *int, _ *string, _ *model.OrderStatus) int {
		return listCost(pageSize(first), child)
	}
	c.Query.WalletTransactions = func(child int, first *int, _ *string) int { return listCost(pageSize(first), child) }
	c.Query.InDoubtPayments = func(child int, first *int, _ *string) int { return listCost(pageSize(first), child) }
	c.Query.Products = func(child int) int { return listCost(productsCost, child) }
	c.Order.Items = func(child int) int { return listCost(orderItemsCost, child) }
	c.Order.Payments = func(child int) int { return listCost(orderPaymentsCost, child) }
	c.Payment.Events = func(child int) int { return listCost(paymentEventsCost, child) }
	return c
}
