package payment

import (
	"context"
	"fmt"
)

// SupportUser finds the user support asks about (operators only): by id, or
// through any of their orders. Exactly one of userID and orderID is given.
func (s *Service) SupportUser(ctx context.Context, userID, orderID string) (User, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return User{}, err
	}
	switch {
	case (userID == "") == (orderID == ""):
		return User{}, BadInput("userId", "give either userId or orderId")
	case orderID != "":
		if err := checkID("orderId", orderID); err != nil {
			return User{}, err
		}
		o, err := s.store.Order(ctx, orderID)
		if err != nil {
			return User{}, err
		}
		userID = o.UserID
	default:
		if err := checkID("userId", userID); err != nil {
			return User{}, err
		}
	}
	return s.store.User(ctx, userID)
}

// UserWallet is a user's wallet for support (operators only); ErrNotFound
// before the user has one.
func (s *Service) UserWallet(ctx context.Context, userID string) (Wallet, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return Wallet{}, err
	}
	return s.store.WalletByUser(ctx, userID)
}

// UserWalletTransactions is a user's wallet history for support, newest
// first (operators only).
func (s *Service) UserWalletTransactions(ctx context.Context, userID string, page Page) (Connection[WalletTransaction], error) {
	if _, err := requireAdmin(ctx); err != nil {
		return Connection[WalletTransaction]{}, err
	}
	return s.walletHistory(ctx, userID, page)
}

// UserOrders is a user's orders for support, newest first (operators only).
func (s *Service) UserOrders(ctx context.Context, userID string, status OrderStatus, page Page) (Connection[Order], error) {
	var out Connection[Order]
	if _, err := requireAdmin(ctx); err != nil {
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
	items, err := s.store.Orders(ctx, userID, status, before, limit+1)
	if err != nil {
		return out, fmt.Errorf("list orders: %w", err)
	}
	return pageOf(items, limit, "ord", func(o Order) string { return o.ID }), nil
}
