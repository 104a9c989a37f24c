package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/pgqueries"
	"github.com/pago/pago/store/queries"
	"github.com/pago/pago/worker"
)

// UpsertProduct implements payment.OrderQueries.
func (s *Store) UpsertProduct(ctx context.Context, p payment.Product) (payment.Product, error) {
	row, err := s.q.UpsertProduct(ctx, queries.UpsertProductParams{
		ID: p.ID, Sku: p.SKU, Name: p.Name, Price: p.Price.Amount, Currency: string(p.Price.Currency),
		Stock: p.Stock, Now: p.UpdatedAt.UTC(),
	})
	if err != nil {
		return payment.Product{}, dbErr(err, "row")
	}
	return productToDomain(row), nil
}

// Products implements payment.OrderQueries.
func (s *Store) Products(ctx context.Context) ([]payment.Product, error) {
	rows, err := s.q.ListProducts(ctx)
	if err != nil {
		return nil, dbErr(err, "row")
	}
	out := make([]payment.Product, len(rows))
	for i, r := range rows {
		out[i] = productToDomain(r)
	}
	return out, nil
}

// Product implements payment.OrderQueries.
func (s *Store) Product(ctx context.Context, id string) (payment.Product, error) {
	row, err := s.q.GetProduct(ctx, id)
	if err != nil {
		return payment.Product{}, dbErr(err, "product")
	}
	return productToDomain(row), nil
}

func productToDomain(r queries.Product) payment.Product {
	return payment.Product{
		ID: r.ID, SKU: r.Sku, Name: r.Name, Price: payment.Money{Amount: r.Price, Currency: payment.Currency(r.Currency)},
		Stock: r.Stock, Supplied: r.Supplied, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// TakeStock implements payment.OrderQueries.
func (s *Store) TakeStock(ctx context.Context, productID string, quantity int64, now time.Time) (bool, error) {
	n, err := s.q.TakeStock(ctx, queries.TakeStockParams{ID: productID, Quantity: quantity, Now: now.UTC()})
	return n == 1, dbErr(err, "row")
}

// ReturnStock implements payment.OrderQueries.
func (s *Store) ReturnStock(ctx context.Context, productID string, quantity int64, now time.Time) error {
	return dbErr(s.q.ReturnStock(ctx, queries.ReturnStockParams{ID: productID, Quantity: quantity, Now: now.UTC()}), "row")
}

// InsertOrder implements payment.OrderQueries.
func (s *Store) InsertOrder(ctx context.Context, o payment.Order) error {
	err := s.q.InsertOrder(ctx, queries.InsertOrderParams{
		ID: o.ID, UserID: o.UserID, Kind: string(o.Kind), Name: o.Name, Amount: o.Amount.Amount,
		Currency: string(o.Amount.Currency), ExpiresAt: o.ExpiresAt.UTC(), CreatedAt: o.CreatedAt.UTC(),
	})
	if err != nil {
		return dbErr(err, "row")
	}
	for _, it := range o.Items {
		err := s.q.InsertOrderItem(ctx, queries.InsertOrderItemParams{
			OrderID: o.ID, ProductID: it.ProductID, Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice.Amount,
		})
		if err != nil {
			return fmt.Errorf("order item: %w", err)
		}
	}
	return nil
}

// Order implements payment.OrderQueries.
func (s *Store) Order(ctx context.Context, id string) (payment.Order, error) {
	rows, err := s.q.GetOrder(ctx, id)
	if err == nil && len(rows) == 0 {
		err = sql.ErrNoRows
	}
	if err != nil {
		return payment.Order{}, dbErr(err, "order")
	}
	return ordersWithLines(rows)[0], nil
}

// OrdersByIDs implements payment.BatchQueries.
func (s *Store) OrdersByIDs(ctx context.Context, orderIDs []string) ([]payment.Order, error) {
	read := byEngine(s, s.q.ListOrdersByIDs, s.pq.ListOrdersByIDs,
		func(r pgqueries.ListOrdersByIDsRow) queries.ListOrdersByIDsRow { return queries.ListOrdersByIDsRow(r) })
	rows, err := batchRead(ctx, orderIDs, read,
		func(r queries.ListOrdersByIDsRow) queries.GetOrderRow { return queries.GetOrderRow(r) }, "orders")
	if err != nil {
		return nil, err
	}
	return ordersWithLines(rows), nil
}

// OrdersWithWallets implements payment.WalletQueries: on PostgreSQL
// one statement, the orders joined to their owners' wallets; on SQLite, in
// process, the orders, then each owner's wallet.
func (s *Store) OrdersWithWallets(ctx context.Context, orderIDs []string) ([]payment.Order, []payment.Wallet, error) {
	if len(orderIDs) == 0 {
		return nil, nil, nil
	}
	var wallets []payment.Wallet
	if s.engine != Postgres {
		orders, err := s.OrdersByIDs(ctx, orderIDs)
		if err != nil {
			return nil, nil, err
		}
		for i, o := range orders {
			if slices.ContainsFunc(orders[:i], func(p payment.Order) bool { return p.UserID == o.UserID }) {
				continue
			}
			w, err := s.WalletByUser(ctx, o.UserID)
			if errors.Is(err, payment.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			wallets = append(wallets, w)
		}
		return orders, wallets, nil
	}
	rows, err := s.pq.ListOrdersWithWalletsByIDs(ctx, orderIDs)
	if err != nil {
		return nil, nil, dbErr(err, "orders")
	}
	lines := make([]queries.GetOrderRow, len(rows))
	for i, r := range rows {
		lines[i] = queries.GetOrderRow{ID: r.ID, UserID: r.UserID, Kind: r.Kind, Status: r.Status, Name: r.Name, Amount: r.Amount,
			Currency: r.Currency, RefundedAmount: r.RefundedAmount, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
			ItemProductID: r.ItemProductID, ItemName: r.ItemName, ItemQuantity: r.ItemQuantity, ItemUnitPrice: r.ItemUnitPrice}
		if r.WalletID.Valid && !slices.ContainsFunc(wallets, func(w payment.Wallet) bool { return w.ID == r.WalletID.String }) {
			wallets = append(wallets, walletToDomain(queries.Wallet{ID: r.WalletID.String, UserID: r.UserID, AccountID: r.WalletAccountID.String,
				Currency: r.WalletCurrency.String, Balance: r.WalletBalance.Int64, BalanceLimit: r.WalletBalanceLimit.Int64,
				Version: r.WalletVersion.Int64, CreatedAt: r.WalletCreatedAt.Time, UpdatedAt: r.WalletUpdatedAt.Time}))
		}
	}
	return ordersWithLines(lines), wallets, nil
}

// ordersWithLines folds GetOrder's rows, one per line and each order's
// rows together, into orders with their lines.
func ordersWithLines(rows []queries.GetOrderRow) []payment.Order {
	var out []payment.Order
	for i, r := range rows {
		if i == 0 || r.ID != rows[i-1].ID {
			out = append(out, orderToDomain(queries.Order{ID: r.ID, UserID: r.UserID, Kind: r.Kind, Status: r.Status, Name: r.Name, Amount: r.Amount,
				Currency: r.Currency, RefundedAmount: r.RefundedAmount, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}))
		}
		if !r.ItemProductID.Valid {
			continue // an order without lines (a top-up)
		}
		o := &out[len(out)-1]
		o.Items = append(o.Items, payment.OrderItem{ProductID: r.ItemProductID.String, Name: r.ItemName.String, Quantity: r.ItemQuantity.Int64,
			UnitPrice: payment.Money{Amount: r.ItemUnitPrice.Int64, Currency: o.Amount.Currency}})
	}
	return out
}

// Orders implements payment.OrderQueries. Items are not loaded: lists show
// orders; the order query shows their lines.
func (s *Store) Orders(ctx context.Context, userID string, status payment.OrderStatus, before string, limit int) ([]payment.Order, error) {
	rows, err := s.q.ListOrders(ctx, queries.ListOrdersParams{UserID: userID, Status: string(status), Before: before, Lim: int32(limit)})
	if err != nil {
		return nil, dbErr(err, "row")
	}
	out := make([]payment.Order, len(rows))
	for i, r := range rows {
		out[i] = orderToDomain(r)
	}
	return out, nil
}

// OpenOrderUsage implements payment.OrderQueries.
func (s *Store) OpenOrderUsage(ctx context.Context, userID string) (int, int64, error) {
	row, err := s.q.OpenOrderUsage(ctx, userID)
	if err != nil {
		return 0, 0, dbErr(err, "row")
	}
	return int(row.Orders), row.Units, nil
}

func orderToDomain(r queries.Order) payment.Order {
	cur := payment.Currency(r.Currency)
	return payment.Order{
		ID: r.ID, UserID: r.UserID, Kind: payment.OrderKind(r.Kind), Status: payment.OrderStatus(r.Status), Name: r.Name,
		Amount: payment.Money{Amount: r.Amount, Currency: cur}, RefundedAmount: payment.Money{Amount: r.RefundedAmount, Currency: cur},
		ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// TransitionOrder implements payment.OrderQueries.
func (s *Store) TransitionOrder(ctx context.Context, id string, from, to payment.OrderStatus, now time.Time) (bool, error) {
	n, err := s.q.TransitionOrder(ctx, queries.TransitionOrderParams{ID: id, FromStatus: string(from), ToStatus: string(to), Now: now.UTC()})
	if n == 1 && err == nil && from != to {
		s.orderChanged(id)
	}
	return n == 1, dbErr(err, "row")
}

// ExpireOrder implements payment.OrderQueries.
func (s *Store) ExpireOrder(ctx context.Context, id string, now time.Time) (bool, error) {
	n, err := s.q.ExpireOrder(ctx, queries.ExpireOrderParams{ID: id, Now: now.UTC()})
	if n == 1 && err == nil {
		s.orderChanged(id)
	}
	return n == 1, dbErr(err, "row")
}

// EnqueueOrderExpiry implements payment.OrderQueries.
func (s *Store) EnqueueOrderExpiry(ctx context.Context, orderID string, at time.Time) error {
	return s.insertJob(ctx, worker.ExpireOrderArgs{OrderID: orderID}, &river.InsertOpts{ScheduledAt: at, MaxAttempts: 10})
}

// InsertPayment implements payment.OrderQueries. On PostgreSQL the
// payment and its history are one statement (a data-modifying WITH; the
// events' foreign key is checked at its end): one round trip.
func (s *Store) InsertPayment(ctx context.Context, p payment.Payment, history ...payment.PaymentEvent) error {
	if s.engine == Postgres && len(history) > 0 {
		var pay rows
		paymentRow(&pay, p)
		events := eventRows(history)
		q := `WITH p AS (INSERT INTO payments (` + paymentColumns + `) VALUES ` + pay.values(0, nil) + ` RETURNING 1)
INSERT INTO payment_events (` + eventColumns + `) SELECT v.* FROM (VALUES ` + events.values(len(pay.args), eventTypes) + `) v, p`
		_, err := s.exec(ctx, q, append(pay.args, events.args...)...)
		return dbErr(err, "row")
	}
	return s.together(ctx, len(history) > 0, func(s *Store) error {
		err := s.q.InsertPayment(ctx, queries.InsertPaymentParams{
			ID: p.ID, OrderID: p.OrderID, Method: string(p.Method), Status: string(p.Status), Amount: p.Amount.Amount,
			PgPaymentKey: nullString(p.PGPaymentKey), PgIdempotencyKey: nullString(p.PGIdempotencyKey),
			ApprovedAt: nullTime(p.ApprovedAt), CreatedAt: p.CreatedAt.UTC(), ConfirmSentAt: nullTime(p.ConfirmSentAt), WalletAmount: p.WalletAmount.Amount,
		})
		if err != nil {
			return dbErr(err, "row")
		}
		for _, e := range history {
			if err := s.InsertPaymentEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Payment implements payment.OrderQueries.
func (s *Store) Payment(ctx context.Context, id string) (payment.Payment, error) {
	row, err := s.q.GetPayment(ctx, id)
	if err != nil {
		return payment.Payment{}, dbErr(err, "payment")
	}
	return paymentToDomain(row), nil
}

// PaymentsByOrder implements payment.OrderQueries.
func (s *Store) PaymentsByOrder(ctx context.Context, orderID string) ([]payment.Payment, error) {
	rows, err := s.q.ListPaymentsByOrder(ctx, orderID)
	if err != nil {
		return nil, dbErr(err, "row")
	}
	out := make([]payment.Payment, len(rows))
	for i, r := range rows {
		out[i] = paymentToDomain(r)
	}
	return out, nil
}

func paymentToDomain(r queries.Payment) payment.Payment {
	return payment.Payment{
		ID: r.ID, OrderID: r.OrderID, Method: payment.PaymentMethod(r.Method), Status: payment.PaymentStatus(r.Status),
		Amount: payment.Won(r.Amount), RefundedAmount: payment.Won(r.RefundedAmount), WalletAmount: payment.Won(r.WalletAmount),
		PGPaymentKey: r.PgPaymentKey.String, PGIdempotencyKey: r.PgIdempotencyKey.String,
		ConfirmAttempt: r.ConfirmAttempt, ConfirmSentAt: timePtr(r.ConfirmSentAt),
		FailureCode: r.FailureCode, FailureMessage: r.FailureMessage, RefundDecidedAt: timePtr(r.RefundDecidedAt),
		ApprovedAt: timePtr(r.ApprovedAt), Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: t.UTC(), Valid: true}
}

// InsertPaymentEvent implements payment.OrderQueries.
func (s *Store) InsertPaymentEvent(ctx context.Context, e payment.PaymentEvent) error {
	return dbErr(s.q.InsertPaymentEvent(ctx, queries.InsertPaymentEventParams{
		ID: e.ID, PaymentID: e.PaymentID, FromStatus: string(e.FromStatus), ToStatus: string(e.ToStatus),
		Source: e.Source, Code: string(e.Code), Message: e.Message, Detail: e.Detail, CreatedAt: e.CreatedAt.UTC(),
	}), "row")
}

// PaymentEvents implements payment.OrderQueries.
func (s *Store) PaymentEvents(ctx context.Context, paymentID string) ([]payment.PaymentEvent, error) {
	rows, err := s.q.ListPaymentEvents(ctx, paymentID)
	if err != nil {
		return nil, dbErr(err, "row")
	}
	out := make([]payment.PaymentEvent, len(rows))
	for i, r := range rows {
		out[i] = paymentEventToDomain(r)
	}
	return out, nil
}

// paymentEventToDomain is the one conversion of a payment_events row.
func paymentEventToDomain(r queries.PaymentEvent) payment.PaymentEvent {
	return payment.PaymentEvent{ID: r.ID, PaymentID: r.PaymentID, FromStatus: payment.PaymentStatus(r.FromStatus),
		ToStatus: payment.PaymentStatus(r.ToStatus), Source: r.Source, Code: payment.EventCode(r.Code), Message: r.Message,
		Detail: r.Detail, CreatedAt: r.CreatedAt.UTC()}
}

// PaymentByPGKey implements payment.OrderQueries.
func (s *Store) PaymentByPGKey(ctx context.Context, paymentKey string) (payment.Payment, error) {
	row, err := s.q.GetPaymentByPGKey(ctx, sql.NullString{String: paymentKey, Valid: true})
	if err != nil {
		return payment.Payment{}, dbErr(err, "payment")
	}
	return paymentToDomain(row), nil
}

// LockPayment implements payment.OrderQueries.
func (s *Store) LockPayment(ctx context.Context, id string) (payment.Payment, error) {
	row, err := s.q.LockPayment(ctx, id)
	if err != nil {
		return payment.Payment{}, dbErr(err, "payment")
	}
	return paymentToDomain(row), nil
}

// UpdatePayment implements payment.OrderQueries. On PostgreSQL the write
// and its history are one statement, whose INSERT reads the UPDATE's row:
// a stale version writes neither, in one round trip.
func (s *Store) UpdatePayment(ctx context.Context, p payment.Payment, now time.Time, history ...payment.PaymentEvent) (bool, error) {
	if s.engine == Postgres && len(history) > 0 {
		written, err := s.UpdatePayments(ctx, []payment.Payment{p}, now, history)
		return len(written) == 1, err
	}
	wrote := false
	err := s.together(ctx, len(history) > 0, func(s *Store) error {
		n, err := s.q.UpdatePayment(ctx, queries.UpdatePaymentParams{
			ID: p.ID, Version: p.Version, Status: string(p.Status), ApprovedAt: nullTime(p.ApprovedAt),
			PgPaymentKey: nullString(p.PGPaymentKey), FailureCode: p.FailureCode, FailureMessage: p.FailureMessage,
			ConfirmAttempt: p.ConfirmAttempt, ConfirmSentAt: nullTime(p.ConfirmSentAt), RefundDecidedAt: nullTime(p.RefundDecidedAt),
			RefundedAmount: p.RefundedAmount.Amount, Now: now.UTC(),
		})
		if err != nil || n != 1 {
			return dbErr(err, "payment")
		}
		for _, e := range history {
			if err := s.InsertPaymentEvent(ctx, e); err != nil {
				return err
			}
		}
		wrote = true
		return nil
	})
	return wrote && err == nil, err
}

// eventColumns and eventTypes are payment_events' columns as eventRows
// lays them out, and their PostgreSQL types.
const eventColumns = "id, payment_id, from_status, to_status, source, code, message, detail, created_at"

var eventTypes = []string{"text", "text", "text", "text", "text", "text", "text", "text", "timestamptz"}

func eventRows(es []payment.PaymentEvent) rows {
	var r rows
	for _, e := range es {
		r.add(e.ID, e.PaymentID, string(e.FromStatus), string(e.ToStatus), e.Source, string(e.Code), e.Message, e.Detail, e.CreatedAt.UTC())
	}
	return r
}

// PaymentsByStatus implements payment.OrderQueries.
func (s *Store) PaymentsByStatus(ctx context.Context, status payment.PaymentStatus, before string, limit int) ([]payment.Payment, error) {
	rows, err := s.q.ListPaymentsByStatus(ctx, queries.ListPaymentsByStatusParams{Status: string(status), Before: before, Lim: int32(limit)})
	if err != nil {
		return nil, dbErr(err, "row")
	}
	out := make([]payment.Payment, len(rows))
	for i, r := range rows {
		out[i] = paymentToDomain(r)
	}
	return out, nil
}

// EnqueuePaymentProbe implements payment.OrderQueries. Probes are not
// unique: a second one for the same payment (a retried confirm) is cheap,
// and settling is idempotent, while a deduplicated one could be the probe
// that already ran and found nothing to do.
func (s *Store) EnqueuePaymentProbe(ctx context.Context, paymentID string, at time.Time) error {
	return s.insertJob(ctx, worker.ProbePaymentArgs{PaymentID: paymentID}, &river.InsertOpts{
		ScheduledAt: at, MaxAttempts: worker.ProbeMaxAttempts,
	})
}

// EnqueueWebhook implements payment.OrderQueries: a webhook delivery is
// worked once per dedupe key however often the PG sends it.
func (s *Store) EnqueueWebhook(ctx context.Context, dedupeKey, paymentKey string) error {
	return s.insertJob(ctx, worker.PGWebhookArgs{DedupeKey: dedupeKey, PaymentKey: paymentKey}, &river.InsertOpts{
		MaxAttempts: 20, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 24 * time.Hour},
	})
}
