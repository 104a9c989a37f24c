package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"github.com/pago/pago/graph"
	"github.com/pago/pago/payment"
)

// fakeService is graph.Service over maps, counting the calls that would be
// queries in the real service. Tests set the fields they need.
type fakeService struct {
	mu       sync.Mutex
	calls    map[string]int
	wallet   *payment.Wallet
	orders   []payment.Order
	payments map[string][]payment.Payment      // by order id
	events   map[string][]payment.PaymentEvent // by payment id
	// payErr, when set, is what PayWithWallet answers.
	payErr error
	// lastPage and lastStatus are the arguments of the last Orders call.
	lastPage   payment.Page
	lastStatus payment.OrderStatus
	// lastCreate is the input of the last CreateOrder call.
	lastCreate payment.CreateOrderInput
}

var _ graph.Service = (*fakeService)(nil)

func (f *fakeService) count(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[name]++
}

func (f *fakeService) callsTo(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

var errUnexpected = errors.New("fakeService: not used by this test")

func (f *fakeService) CreateWallet(context.Context, string) (payment.Wallet, error) {
	return payment.Wallet{}, errUnexpected
}

func (f *fakeService) MyWallet(ctx context.Context) (payment.Wallet, error) {
	f.count("MyWallet")
	if _, err := payment.UserFrom(ctx); err != nil {
		return payment.Wallet{}, err
	}
	if f.wallet == nil {
		return payment.Wallet{}, payment.ErrNotFound
	}
	return *f.wallet, nil
}

func (f *fakeService) WalletTransactions(context.Context, payment.Page) (payment.Connection[payment.WalletTransaction], error) {
	return payment.Connection[payment.WalletTransaction]{}, errUnexpected
}

func (f *fakeService) AdjustWallet(context.Context, string, payment.AdjustWalletInput) (payment.Wallet, error) {
	return payment.Wallet{}, errUnexpected
}

func (f *fakeService) UpsertProduct(context.Context, string, payment.UpsertProductInput) (payment.Product, error) {
	return payment.Product{}, errUnexpected
}

func (f *fakeService) Products(context.Context) ([]payment.Product, error) { return nil, errUnexpected }

func (f *fakeService) CreateOrder(_ context.Context, key string, in payment.CreateOrderInput) (payment.Order, error) {
	f.count("CreateOrder")
	f.mu.Lock()
	f.lastCreate = in
	f.mu.Unlock()
	var amount int64 = 9_500
	if in.Amount != nil {
		amount = *in.Amount
	}
	return testOrder("ord_01J00000000000000000000001", in.Kind, payment.Won(amount)), nil
}

func (f *fakeService) CancelOrder(context.Context, string, string) (payment.Order, error) {
	return payment.Order{}, errUnexpected
}

func (f *fakeService) Order(context.Context, string) (payment.Order, error) {
	return payment.Order{}, payment.ErrNotFound
}

func (f *fakeService) Orders(_ context.Context, status payment.OrderStatus, page payment.Page) (payment.Connection[payment.Order], error) {
	f.count("Orders")
	f.mu.Lock()
	f.lastPage, f.lastStatus = page, status
	f.mu.Unlock()
	var c payment.Connection[payment.Order]
	for _, o := range f.orders {
		c.Items = append(c.Items, o)
		c.Cursors = append(c.Cursors, "cursor-"+o.ID)
	}
	c.HasNextPage = true
	return c, nil
}

func (f *fakeService) WatchOrder(context.Context, string, time.Duration) (<-chan payment.Order, error) {
	return nil, errUnexpected
}

func (f *fakeService) CheckoutURL(orderID string) string { return "/checkout/" + orderID }

func (f *fakeService) PayWithWallet(context.Context, string, string) (payment.PayWithWalletResult, error) {
	f.count("PayWithWallet")
	return payment.PayWithWalletResult{}, f.payErr
}

func (f *fakeService) ConfirmPayment(context.Context, string, string, payment.ConfirmInput) (payment.ConfirmResult, error) {
	return payment.ConfirmResult{}, errUnexpected
}

func (f *fakeService) Payment(context.Context, string) (payment.Payment, error) {
	return payment.Payment{}, payment.ErrNotFound
}

func (f *fakeService) InDoubtPayments(context.Context, payment.Page) (payment.Connection[payment.Payment], error) {
	return payment.Connection[payment.Payment]{}, errUnexpected
}

func (f *fakeService) PaymentsByOrders(_ context.Context, ids []string) (map[string][]payment.Payment, error) {
	f.count("PaymentsByOrders")
	out := map[string][]payment.Payment{}
	for _, id := range ids {
		out[id] = append([]payment.Payment{}, f.payments[id]...)
	}
	return out, nil
}

func (f *fakeService) PaymentEventsByPayments(_ context.Context, ids []string) (map[string][]payment.PaymentEvent, error) {
	f.count("PaymentEventsByPayments")
	out := map[string][]payment.PaymentEvent{}
	for _, id := range ids {
		out[id] = append([]payment.PaymentEvent{}, f.events[id]...)
	}
	return out, nil
}

var testTime = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func testOrder(id string, kind payment.OrderKind, amount payment.Money) payment.Order {
	return payment.Order{ID: id, UserID: "usr_01J00000000000000000000001", Kind: kind, Status: payment.OrderPending,
		Name: "order " + id, Amount: amount, ExpiresAt: testTime.Add(time.Hour), CreatedAt: testTime, UpdatedAt: testTime}
}

// newClient serves the schema over the fake like web does, as user u (none
// when u is the zero User). The loaders wait a generous second for keys, so
// a busy machine cannot split a list's batch in two.
func newClient(t *testing.T, svc graph.Service, u payment.User) *client.Client {
	t.Helper()
	h := graph.NewHandler(graph.HandlerConfig{
		Resolver: &graph.Resolver{Service: svc}, Logger: slog.New(slog.DiscardHandler),
		MaxDepth: 12, MaxComplexity: 5000, LoaderWait: time.Second,
	})
	if u.ID != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(w, r.WithContext(payment.WithUser(r.Context(), u)))
		})
	}
	return client.New(h)
}

var alice = payment.User{ID: "usr_01J00000000000000000000001", Name: "alice"}

// gqlError is one entry of a response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// rawPost runs q and returns its data (into out) and errors.
func rawPost(t *testing.T, c *client.Client, q string, out any, opts ...client.Option) []gqlError {
	t.Helper()
	resp, err := c.RawPost(q, opts...)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	if out != nil && resp.Data != nil {
		b, _ := json.Marshal(resp.Data)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("decode data %s: %v", b, err)
		}
	}
	var errs []gqlError
	if len(resp.Errors) > 0 {
		if err := json.Unmarshal(resp.Errors, &errs); err != nil {
			t.Fatalf("decode errors %s: %v", resp.Errors, err)
		}
	}
	return errs
}

func (f *fakeService) SupportUser(context.Context, string, string) (payment.User, error) {
	return payment.User{}, errUnexpected
}

func (f *fakeService) UserWallet(context.Context, string) (payment.Wallet, error) {
	return payment.Wallet{}, errUnexpected
}

func (f *fakeService) UserWalletTransactions(context.Context, string, payment.Page) (payment.Connection[payment.WalletTransaction], error) {
	return payment.Connection[payment.WalletTransaction]{}, errUnexpected
}

func (f *fakeService) UserOrders(context.Context, string, payment.OrderStatus, payment.Page) (payment.Connection[payment.Order], error) {
	return payment.Connection[payment.Order]{}, errUnexpected
}

func (f *fakeService) CancelPayment(context.Context, string, payment.CancelPaymentInput) (payment.CancelPaymentResult, error) {
	return payment.CancelPaymentResult{}, errUnexpected
}

func (f *fakeService) PaymentRefunds(context.Context, string) ([]payment.Refund, error) {
	return nil, errUnexpected
}

func (f *fakeService) StartSplitPayment(context.Context, string, payment.StartSplitPaymentInput) (payment.StartSplitPaymentResult, error) {
	return payment.StartSplitPaymentResult{}, errUnexpected
}
