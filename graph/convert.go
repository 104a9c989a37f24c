package graph

import (
	"strconv"

	"github.com/pago/pago/graph/model"
	"github.com/pago/pago/payment"
)

func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func toPage(first *int, after *string) payment.Page {
	var p payment.Page
	if first != nil {
		p.First = *first
		if p.First == 0 {
			p.First = -1 // an explicit 0 is out of range, not "the default"
		}
	}
	if after != nil {
		p.After = *after
	}
	return p
}

func toGQLPageInfo(hasNext bool, cursors []string) *model.PageInfo {
	pi := &model.PageInfo{HasNextPage: hasNext}
	if len(cursors) > 0 {
		pi.EndCursor = &cursors[len(cursors)-1]
	}
	return pi
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toGQLUser(u payment.User) *model.User {
	return &model.User{ID: u.ID, Name: u.Name, IsAdmin: u.IsAdmin}
}

func toGQLWallet(w payment.Wallet) *model.Wallet {
	return &model.Wallet{ID: w.ID, Balance: w.Balance.Amount, Currency: string(w.Balance.Currency),
		Limit: w.Limit.Amount, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func toGQLWalletTransaction(t payment.WalletTransaction) *model.WalletTransaction {
	out := &model.WalletTransaction{ID: t.ID, Type: model.WalletTransactionType(t.Type), Amount: t.Amount.Amount,
		BalanceAfter: t.BalanceAfter.Amount, OrderID: optional(t.OrderID), Reason: optional(t.Reason), CreatedAt: t.CreatedAt}
	if t.HoldStatus != "" {
		st := model.HoldStatus(t.HoldStatus)
		out.HoldStatus = &st
	}
	return out
}

func toGQLProduct(p payment.Product) *model.Product {
	return &model.Product{ID: p.ID, Sku: p.SKU, Name: p.Name, Price: p.Price.Amount, Stock: int(p.Stock)}
}

func (r *Resolver) toGQLOrder(o payment.Order) *model.Order {
	out := &model.Order{ID: o.ID, Kind: model.OrderKind(o.Kind), Status: model.OrderStatus(o.Status), Name: o.Name,
		Amount: o.Amount.Amount, Currency: string(o.Amount.Currency), RefundedAmount: o.RefundedAmount.Amount,
		CheckoutURL: r.Service.CheckoutURL(o.ID), ExpiresAt: o.ExpiresAt, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		Items: []*model.OrderItem{}}
	for _, it := range o.Items {
		out.Items = append(out.Items, &model.OrderItem{ProductID: it.ProductID, Name: it.Name, Quantity: int(it.Quantity), UnitPrice: it.UnitPrice.Amount})
	}
	return out
}

func toGQLPayment(p payment.Payment) *model.Payment {
	out := &model.Payment{ID: p.ID, Method: model.PaymentMethod(p.Method), Status: model.PaymentStatus(p.Status),
		Amount: p.Amount.Amount, RefundedAmount: p.RefundedAmount.Amount, PgPaymentKey: optional(p.PGPaymentKey), ApprovedAt: p.ApprovedAt,
		FailureCode: optional(p.FailureCode), FailureMessage: optional(p.FailureMessage)}
	if p.Method == payment.MethodSplit {
		out.WalletAmount = &p.WalletAmount.Amount
	}
	return out
}

func toGQLRefund(r payment.Refund) *model.Refund {
	return &model.Refund{ID: r.ID, PaymentID: r.PaymentID, Amount: r.Amount.Amount, Status: model.RefundStatus(r.Status),
		Reason: r.Reason, CreatedAt: r.CreatedAt, CompletedAt: r.CompletedAt}
}

// toGQLPaymentEvent shows an event to a client: the code and the words for
// customers to everyone, the internal detail to operators only.
func toGQLPaymentEvent(admin bool) func(e payment.PaymentEvent) *model.PaymentEvent {
	return func(e payment.PaymentEvent) *model.PaymentEvent {
		out := &model.PaymentEvent{From: model.PaymentStatus(e.FromStatus), To: model.PaymentStatus(e.ToStatus), Source: e.Source,
			Code: string(e.Code), Detail: e.Message, At: e.CreatedAt}
		if admin {
			out.InternalDetail = &e.Detail
		}
		return out
	}
}

func fromGQLCreateOrder(in model.CreateOrderInput) payment.CreateOrderInput {
	out := payment.CreateOrderInput{Kind: payment.OrderPurchase, Amount: in.Amount}
	if in.Kind != nil {
		out.Kind = payment.OrderKind(*in.Kind)
	}
	for _, it := range in.Items {
		out.Items = append(out.Items, payment.OrderItemInput{ProductID: it.ProductID, Quantity: int64(it.Quantity)})
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func toGQLRun(r payment.ReconciliationRun) *model.ReconciliationRun {
	return &model.ReconciliationRun{ID: r.ID, Date: r.Date, Status: model.ReconciliationRunStatus(r.Status),
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Checked: int(r.Checked), Matched: int(r.Matched),
		MismatchCount: int(r.MismatchCount), AutoFixed: int(r.AutoFixed), ClearingBalance: r.ClearingBalance,
		PgOwes: r.PGOwes, Error: optional(r.Error)}
}

func toGQLMismatch(m payment.Mismatch) *model.Mismatch {
	return &model.Mismatch{ID: m.ID, RunID: m.RunID, Date: m.Date, Kind: model.MismatchKind(m.Kind),
		Class: model.MismatchClass(m.Class), Status: model.MismatchStatus(m.Status), Rule: m.Rule,
		OrderID: optional(m.OrderID), PaymentKey: optional(m.PaymentKey), TransactionKey: optional(m.TransactionKey),
		PagoAmount: m.PagoAmount, PgAmount: m.PGAmount, Detail: m.Detail, Resolution: optional(m.Resolution),
		ResolvedBy: optional(m.ResolvedBy), ResolvedAt: m.ResolvedAt, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func fromGQLMismatchFilter(status *model.MismatchStatus, class *model.MismatchClass) payment.MismatchFilter {
	var f payment.MismatchFilter
	if status != nil {
		f.Status = payment.MismatchStatus(*status)
	}
	if class != nil {
		f.Class = payment.MismatchClass(*class)
	}
	return f
}

func toGQLFailedJob(j payment.FailedJob) *model.FailedJob {
	return &model.FailedJob{ID: strconv.FormatInt(j.ID, 10), Kind: j.Kind, Attempts: j.Attempts, LastError: j.LastError, FailedAt: j.FailedAt}
}
