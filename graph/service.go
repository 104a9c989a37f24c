package graph

import (
	"context"
	"time"

	"github.com/pago/pago/payment"
)

// Service is what the resolvers ask of pago's core. *payment.Service
// implements it; graph's tests use a fake, so they need no database.
type Service interface {
	CreateWallet(ctx context.Context, key string) (payment.Wallet, error)
	MyWallet(ctx context.Context) (payment.Wallet, error)
	WalletTransactions(ctx context.Context, page payment.Page) (payment.Connection[payment.WalletTransaction], error)
	AdjustWallet(ctx context.Context, key string, in payment.AdjustWalletInput) (payment.Wallet, error)

	UpsertProduct(ctx context.Context, key string, in payment.UpsertProductInput) (payment.Product, error)
	Products(ctx context.Context) ([]payment.Product, error)

	CreateOrder(ctx context.Context, key string, in payment.CreateOrderInput) (payment.Order, error)
	CancelOrder(ctx context.Context, key, orderID string) (payment.Order, error)
	Order(ctx context.Context, id string) (payment.Order, error)
	Orders(ctx context.Context, status payment.OrderStatus, page payment.Page) (payment.Connection[payment.Order], error)
	WatchOrder(ctx context.Context, orderID string, every time.Duration) (<-chan payment.Order, error)
	CheckoutURL(orderID string) string

	PayWithWallet(ctx context.Context, key, orderID string) (payment.PayWithWalletResult, error)
	ConfirmPayment(ctx context.Context, key, source string, in payment.ConfirmInput) (payment.ConfirmResult, error)
	Payment(ctx context.Context, id string) (payment.Payment, error)
	InDoubtPayments(ctx context.Context, page payment.Page) (payment.Connection[payment.Payment], error)
	StartSplitPayment(ctx context.Context, key string, in payment.StartSplitPaymentInput) (payment.StartSplitPaymentResult, error)
	CancelPayment(ctx context.Context, key string, in payment.CancelPaymentInput) (payment.CancelPaymentResult, error)
	// PaymentRefunds lists a payment's refunds; the caller already saw the payment.
	PaymentRefunds(ctx context.Context, paymentID string) ([]payment.Refund, error)

	// Customer support (operators).
	SupportUser(ctx context.Context, userID, orderID string) (payment.User, error)
	UserWallet(ctx context.Context, userID string) (payment.Wallet, error)
	UserWalletTransactions(ctx context.Context, userID string, page payment.Page) (payment.Connection[payment.WalletTransaction], error)
	UserOrders(ctx context.Context, userID string, status payment.OrderStatus, page payment.Page) (payment.Connection[payment.Order], error)

	// The loaders' batch reads (loaders.go): the caller already saw the parents.
	PaymentsByOrders(ctx context.Context, orderIDs []string) (map[string][]payment.Payment, error)
	PaymentEventsByPayments(ctx context.Context, paymentIDs []string) (map[string][]payment.PaymentEvent, error)
}

var _ Service = (*payment.Service)(nil)
