package payment

import "context"

// OrderAgain is "pay with another card" after a decline: a new PENDING
// order of the same owner for the same items (a top-up: the same amount),
// priced and stocked now. The declined order stays FAILED — its payment
// failed, and the stock it held went back on sale when it failed — so the
// new order reserves stock afresh (OUT_OF_STOCK if it sold out meanwhile)
// and has its own expiry. The key is the old order's: asked twice (a double
// click, a reload), it answers the same new order. Only a FAILED order can
// be ordered again; a PENDING one is still payable as it is and is
// returned unchanged. The caller has verified the order's signed link.
func (s *Service) OrderAgain(ctx context.Context, orderID string) (Order, error) {
	if err := checkID("orderId", orderID); err != nil {
		return Order{}, err
	}
	o, err := s.store.Order(ctx, orderID)
	if err != nil {
		return Order{}, err
	}
	switch o.Status {
	case OrderPending:
		return o, nil
	case OrderFailed:
	default:
		return Order{}, errorf(CodeInvalidState, "order %s is %s: only a failed order is ordered again", o.ID, o.Status)
	}
	in := CreateOrderInput{Kind: o.Kind}
	if o.Kind == OrderWalletTopUp {
		amount := o.Amount.Amount
		in.Amount = &amount
	} else {
		for _, it := range o.Items {
			in.Items = append(in.Items, OrderItemInput{ProductID: it.ProductID, Quantity: it.Quantity})
		}
	}
	return s.CreateOrder(WithUser(ctx, User{ID: o.UserID}), "again:"+o.ID, in)
}
