package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// UpsertProductInput creates or updates a product by SKU.
type UpsertProductInput struct {
	SKU   string
	Name  string
	Price int64
	Stock int64
}

// UpsertProduct creates or updates a product (operators only). Setting the
// stock of an existing product moves its supplied count by the difference.
func (s *Service) UpsertProduct(ctx context.Context, key string, in UpsertProductInput) (Product, error) {
	admin, err := requireAdmin(ctx)
	if err != nil {
		return Product{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case !skuPattern.MatchString(in.SKU):
		return Product{}, BadInput("sku", "sku must be 1–64 letters, digits, '.', '_' or '-'")
	case in.Name == "" || utf8.RuneCountInString(in.Name) > 200:
		return Product{}, BadInput("name", "name must be 1–200 characters")
	case in.Price <= 0:
		return Product{}, BadInput("price", "price must be positive")
	case in.Stock < 0 || in.Stock > 1_000_000_000:
		return Product{}, BadInput("stock", "stock must be between 0 and 1,000,000,000")
	}
	return Run(ctx, s.idem, admin.ID, key, "upsertProduct", in, func(ctx context.Context, call *Call) (Product, error) {
		var p Product
		err := s.store.InTx(ctx, func(q Queries) error {
			now := s.now().UTC()
			var err error
			p, err = q.UpsertProduct(ctx, Product{ID: NewID("prd", now), SKU: in.SKU, Name: in.Name,
				Price: Won(in.Price), Stock: in.Stock, CreatedAt: now, UpdatedAt: now})
			if err != nil {
				return fmt.Errorf("upsert product %s: %w", in.SKU, err)
			}
			return call.Complete(ctx, q, p)
		})
		return p, err
	})
}

// Products lists the catalogue.
func (s *Service) Products(ctx context.Context) ([]Product, error) {
	return s.store.Products(ctx)
}

// OrderItemInput asks for quantity of a product.
type OrderItemInput struct {
	ProductID string
	Quantity  int64
}

// CreateOrderInput is a purchase (Items) or a wallet top-up (Amount).
type CreateOrderInput struct {
	Kind   OrderKind
	Items  []OrderItemInput
	Amount *int64
}

const (
	maxOrderLines = 50
	maxQuantity   = 1000
)

func (s *Service) validateOrder(in *CreateOrderInput) error {
	switch in.Kind {
	case OrderPurchase:
		if in.Amount != nil {
			return BadInput("amount", "amount is for WALLET_TOPUP orders; a purchase is priced from its items")
		}
		if len(in.Items) == 0 || len(in.Items) > maxOrderLines {
			return BadInput("items", "a purchase needs 1–%d items", maxOrderLines)
		}
		merged := map[string]int64{}
		for _, it := range in.Items {
			if err := checkID("items.productId", it.ProductID); err != nil {
				return err
			}
			if it.Quantity <= 0 || it.Quantity > maxQuantity {
				return BadInput("items.quantity", "quantity must be between 1 and %d", maxQuantity)
			}
			merged[it.ProductID] += it.Quantity
			if merged[it.ProductID] > maxQuantity {
				return BadInput("items.quantity", "quantity must be between 1 and %d", maxQuantity)
			}
		}
		// One line per product, in id order: stock rows are always locked in
		// the same order, so two orders cannot deadlock.
		in.Items = in.Items[:0]
		for id, qty := range merged {
			in.Items = append(in.Items, OrderItemInput{ProductID: id, Quantity: qty})
		}
		slices.SortFunc(in.Items, func(a, b OrderItemInput) int { return cmp.Compare(a.ProductID, b.ProductID) })
	case OrderWalletTopUp:
		if len(in.Items) > 0 {
			return BadInput("items", "a WALLET_TOPUP order takes an amount, not items")
		}
		if in.Amount == nil || *in.Amount <= 0 {
			return BadInput("amount", "a WALLET_TOPUP order needs a positive amount")
		}
		if *in.Amount > s.cfg.WalletLimit.Amount {
			return BadInput("amount", "a top-up cannot exceed the wallet limit of %s", s.cfg.WalletLimit)
		}
	default:
		return BadInput("kind", "kind must be PURCHASE or WALLET_TOPUP")
	}
	return nil
}

// CreateOrder creates a PENDING order. A purchase takes its stock with one
// conditional UPDATE per item in the order's transaction (all or nothing,
// OUT_OF_STOCK otherwise) and schedules its expiry in the same transaction.
func (s *Service) CreateOrder(ctx context.Context, key string, in CreateOrderInput) (Order, error) {
	u, err := caller(ctx)
	if err != nil {
		return Order{}, err
	}
	if err := s.validateOrder(&in); err != nil {
		return Order{}, err
	}
	return Run(ctx, s.idem, u.ID, key, "createOrder", in, func(ctx context.Context, call *Call) (Order, error) {
		var o Order
		err := s.store.InTx(ctx, func(q Queries) error {
			if err := s.checkOpenOrders(ctx, q, u.ID, in); err != nil {
				return err
			}
			now := s.now().UTC()
			o = Order{ID: NewID("ord", now), UserID: u.ID, Kind: in.Kind, Status: OrderPending,
				ExpiresAt: now.Add(s.cfg.OrderTTL), CreatedAt: now, UpdatedAt: now, RefundedAmount: Won(0)}
			if in.Kind == OrderWalletTopUp {
				o.Amount = Won(*in.Amount)
				o.Name = "Wallet top-up " + o.Amount.String()
				if w, err := q.WalletByUser(ctx, u.ID); err == nil && w.Balance.Amount+o.Amount.Amount > w.Limit.Amount {
					return errorf(CodeBalanceLimitExceeded, "the wallet holds %s; topping up %s would pass its limit of %s", w.Balance, o.Amount, w.Limit)
				}
			} else {
				total := Won(0)
				for _, it := range in.Items {
					p, err := q.Product(ctx, it.ProductID)
					if errors.Is(err, ErrNotFound) {
						return &Error{Code: CodeNotFound, Message: "product " + it.ProductID + " not found", Fields: []string{"items.productId"}}
					}
					if err != nil {
						return err
					}
					ok, err := q.TakeStock(ctx, p.ID, it.Quantity, now)
					if err != nil {
						return fmt.Errorf("take stock of %s: %w", p.ID, err)
					}
					if !ok {
						return errorf(CodeOutOfStock, "%s: %d left, %d ordered", p.Name, p.Stock, it.Quantity)
					}
					line, err := NewMoney(p.Price.Amount*it.Quantity, p.Price.Currency)
					if err == nil {
						total, err = total.Add(line)
					}
					if err != nil {
						return BadInput("items", "the order total is out of range")
					}
					o.Items = append(o.Items, OrderItem{ProductID: p.ID, Name: p.Name, Quantity: it.Quantity, UnitPrice: p.Price})
				}
				o.Amount = total
				o.Name = o.Items[0].Name
				if len(o.Items) > 1 {
					o.Name = fmt.Sprintf("%s and %d more", o.Items[0].Name, len(o.Items)-1)
				}
			}
			if err := q.InsertOrder(ctx, o); err != nil {
				return fmt.Errorf("insert order: %w", err)
			}
			if err := q.EnqueueOrderExpiry(ctx, o.ID, o.ExpiresAt); err != nil {
				return err
			}
			return call.Complete(ctx, q, o)
		})
		return o, err
	})
}

// CodeTooManyOpenOrders refuses an order past the caller's caps on unpaid
// orders and the stock they reserve.
const CodeTooManyOpenOrders Code = "TOO_MANY_OPEN_ORDERS"

// checkOpenOrders applies Config.MaxOpenOrders and MaxReservedUnits to the
// caller's PENDING orders plus in. The count is read in the order's
// transaction; concurrent creates may pass it together by a few orders.
func (s *Service) checkOpenOrders(ctx context.Context, q Queries, userID string, in CreateOrderInput) error {
	if s.cfg.MaxOpenOrders <= 0 && s.cfg.MaxReservedUnits <= 0 {
		return nil
	}
	open, units, err := q.OpenOrderUsage(ctx, userID)
	if err != nil {
		return fmt.Errorf("count open orders: %w", err)
	}
	if s.cfg.MaxOpenOrders > 0 && open >= s.cfg.MaxOpenOrders {
		return errorf(CodeTooManyOpenOrders, "you have %d unpaid orders; pay or cancel one first", open)
	}
	if s.cfg.MaxReservedUnits <= 0 || in.Kind != OrderPurchase {
		return nil
	}
	for _, it := range in.Items {
		units += it.Quantity
	}
	if units > s.cfg.MaxReservedUnits {
		return errorf(CodeTooManyOpenOrders, "unpaid orders may hold at most %d units; pay or cancel one first", s.cfg.MaxReservedUnits)
	}
	return nil
}

// CancelOrder cancels the caller's PENDING order and returns its stock.
func (s *Service) CancelOrder(ctx context.Context, key, orderID string) (Order, error) {
	u, err := caller(ctx)
	if err != nil {
		return Order{}, err
	}
	if err := checkID("orderId", orderID); err != nil {
		return Order{}, err
	}
	type input struct{ OrderID string }
	return Run(ctx, s.idem, u.ID, key, "cancelOrder", input{orderID}, func(ctx context.Context, call *Call) (Order, error) {
		var o Order
		// Under the owner's wallet lock: a split's hold goes back to it.
		err := s.underWallet(ctx, u.ID, func() error {
			return s.store.InTx(ctx, func(q Queries) error {
				var err error
				if o, err = s.ownOrder(ctx, q, u, orderID); err != nil {
					return err
				}
				if o, err = s.releaseOrder(ctx, q, o, OrderCanceled); err != nil {
					return err
				}
				return call.Complete(ctx, q, o)
			})
		})
		return o, err
	})
}

// releaseOrder moves a PENDING order to to (CANCELED, EXPIRED or FAILED) and
// returns its stock, in q's transaction.
func (s *Service) releaseOrder(ctx context.Context, q Queries, o Order, to OrderStatus) (Order, error) {
	now := s.now().UTC()
	source := SourceCustomer
	if to == OrderExpired {
		source = SourceExpiry
	}
	if o.Status != OrderPending {
		return Order{}, errorf(CodeInvalidState, "order %s is %s, not PENDING", o.ID, o.Status)
	}
	ok, err := s.moveOrder(ctx, q, &o, to, source, now)
	if err != nil {
		return Order{}, err
	}
	if !ok {
		return Order{}, errorf(CodeInvalidState, "order %s is %s, not PENDING", o.ID, o.Status)
	}
	for _, it := range o.Items {
		if err := q.ReturnStock(ctx, it.ProductID, it.Quantity, now); err != nil {
			return Order{}, fmt.Errorf("return stock of %s: %w", it.ProductID, err)
		}
	}
	if err := s.voidSplits(ctx, q, o, source, now); err != nil {
		return Order{}, err
	}
	return o, nil
}

// ExpireOrder expires a PENDING order whose time is up and returns its
// stock (the expiry job). An order that moved on meanwhile is left alone.
func (s *Service) ExpireOrder(ctx context.Context, orderID string) error {
	o, err := s.store.Order(ctx, orderID)
	if err != nil {
		return err
	}
	if o.Status != OrderPending {
		return nil
	}
	// Under the owner's wallet lock: a split's hold goes back to it.
	return s.underWallet(ctx, o.UserID, func() error { return s.expireOrder(ctx, orderID) })
}

func (s *Service) expireOrder(ctx context.Context, orderID string) error {
	return s.store.InTx(ctx, func(q Queries) error {
		o, err := q.Order(ctx, orderID)
		if err != nil {
			return err
		}
		if o.Status != OrderPending {
			return nil
		}
		if s.now().Before(o.ExpiresAt) {
			// Expired early by a clock skew between instances: try later.
			return fmt.Errorf("order %s expires at %s: %w", o.ID, o.ExpiresAt, ErrConflict)
		}
		_, err = s.releaseOrder(ctx, q, o, OrderExpired)
		if errors.Is(err, ErrInvalidState) {
			return nil // paid or canceled meanwhile
		}
		return err
	})
}

// ownOrder reads an order the caller may see: its own, or any for an
// operator. Others' orders are NOT_FOUND so their existence does not leak.
func (s *Service) ownOrder(ctx context.Context, q Queries, u User, id string) (Order, error) {
	o, err := q.Order(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if o.UserID != u.ID && !u.IsAdmin {
		return Order{}, errorf(CodeNotFound, "order not found")
	}
	return o, nil
}

// Order returns an order the caller may see.
func (s *Service) Order(ctx context.Context, id string) (Order, error) {
	u, err := caller(ctx)
	if err != nil {
		return Order{}, err
	}
	if err := checkID("id", id); err != nil {
		return Order{}, err
	}
	return s.ownOrder(ctx, s.store, u, id)
}

// Orders lists the caller's orders (an operator's: everyone's), newest first.
func (s *Service) Orders(ctx context.Context, status OrderStatus, page Page) (Connection[Order], error) {
	var out Connection[Order]
	u, err := caller(ctx)
	if err != nil {
		return out, err
	}
	limit, err := pageLimit(page.First)
	if err != nil {
		return out, err
	}
	before, err := beforeID("ord", page.After)
	if err != nil {
		return out, err
	}
	owner := u.ID
	if u.IsAdmin {
		owner = ""
	}
	items, err := s.store.Orders(ctx, owner, status, before, limit+1)
	if err != nil {
		return out, fmt.Errorf("list orders: %w", err)
	}
	return pageOf(items, limit, "ord", func(o Order) string { return o.ID }), nil
}

// Payment returns a payment of an order the caller may see.
func (s *Service) Payment(ctx context.Context, id string) (Payment, error) {
	u, err := caller(ctx)
	if err != nil {
		return Payment{}, err
	}
	if err := checkID("id", id); err != nil {
		return Payment{}, err
	}
	p, err := s.store.Payment(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	if _, err := s.ownOrder(ctx, s.store, u, p.OrderID); err != nil {
		return Payment{}, errorf(CodeNotFound, "payment not found")
	}
	return p, nil
}

// OrderPayments lists an order's payments; the caller already saw the order.
func (s *Service) OrderPayments(ctx context.Context, orderID string) ([]Payment, error) {
	return s.store.PaymentsByOrder(ctx, orderID)
}

// PaymentEvents lists a payment's history; the caller already saw the payment.
func (s *Service) PaymentEvents(ctx context.Context, paymentID string) ([]PaymentEvent, error) {
	return s.store.PaymentEvents(ctx, paymentID)
}

// SeedProducts puts ps on sale if the catalogue is empty, so a restart never
// resets stock. It reports whether it wrote anything.
func (s *Service) SeedProducts(ctx context.Context, ps []UpsertProductInput) (bool, error) {
	seeded := false
	err := s.store.InTx(ctx, func(q Queries) error {
		existing, err := q.Products(ctx)
		if err != nil || len(existing) > 0 {
			return err
		}
		now := s.now().UTC()
		for _, p := range ps {
			if _, err := q.UpsertProduct(ctx, Product{ID: NewID("prd", now), SKU: p.SKU, Name: p.Name,
				Price: Won(p.Price), Stock: p.Stock, CreatedAt: now, UpdatedAt: now}); err != nil {
				return fmt.Errorf("seed %s: %w", p.SKU, err)
			}
		}
		seeded = true
		return nil
	})
	return seeded, err
}

// pollOrder is WatchOrder without a feed: it reads the order every `every`.
func (s *Service) pollOrder(ctx context.Context, o Order, every time.Duration) <-chan Order {
	orderID := o.ID
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	u, _ := caller(ctx)
	out := make(chan Order, 1)
	out <- o
	go func() {
		defer close(out)
		t := time.NewTicker(every)
		defer t.Stop()
		last := o
		for !last.Status.Final() || s.refunding(ctx, last) {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur, err := s.ownOrder(ctx, s.store, u, orderID)
			if err != nil {
				if ctx.Err() == nil {
					s.log.WarnContext(ctx, "watch order", "order", orderID, "err", err)
				}
				continue
			}
			if cur.Status == last.Status && cur.UpdatedAt.Equal(last.UpdatedAt) {
				continue
			}
			select {
			case out <- cur:
				last = cur
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// refunding tells whether a paid order has a refund in flight, which will
// move it again.
func (s *Service) refunding(ctx context.Context, o Order) bool {
	if o.Status != OrderPaid && o.Status != OrderPartiallyRefunded {
		return false
	}
	open, err := s.openRefunds(ctx, o.ID)
	return err != nil || open // unsure: keep watching
}

// Final tells whether an order can still change by itself (payment or
// expiry). Refunds move paid orders only on request; WatchOrder follows
// one in flight.
func (st OrderStatus) Final() bool {
	return st != OrderPending && st != OrderInDoubt
}

// OrderForCheckout reads an order for the checkout pages, which know their
// customer by a signed checkout link rather than a bearer token: the caller
// has verified that link.
func (s *Service) OrderForCheckout(ctx context.Context, id string) (Order, error) {
	if err := checkID("orderId", id); err != nil {
		return Order{}, err
	}
	return s.store.Order(ctx, id)
}

// InDoubtPayments lists payments whose outcome pago does not know yet
// (operators only), newest first.
func (s *Service) InDoubtPayments(ctx context.Context, page Page) (Connection[Payment], error) {
	var out Connection[Payment]
	if _, err := requireAdmin(ctx); err != nil {
		return out, err
	}
	limit, err := pageLimit(page.First)
	if err != nil {
		return out, err
	}
	before, err := beforeID("pay", page.After)
	if err != nil {
		return out, err
	}
	items, err := s.store.PaymentsByStatus(ctx, PaymentInDoubt, before, limit+1)
	if err != nil {
		return out, err
	}
	return pageOf(items, limit, "pay", func(p Payment) string { return p.ID }), nil
}
