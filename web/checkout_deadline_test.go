package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
)

// stuckConfirms is a checkout whose confirm waits on a database that does
// not answer: it returns only when its context ends.
type stuckConfirms struct{ order payment.Order }

func (s stuckConfirms) OrderForCheckout(context.Context, string) (payment.Order, error) {
	return s.order, nil
}

func (s stuckConfirms) ConfirmPayment(ctx context.Context, _, _ string, _ payment.ConfirmInput) (payment.ConfirmResult, error) {
	<-ctx.Done()
	return payment.ConfirmResult{}, fmt.Errorf("record the answer: %w", ctx.Err())
}

func (s stuckConfirms) OrderAgain(context.Context, string) (payment.Order, error) {
	return s.order, nil
}

func (s stuckConfirms) CheckoutWalletFor(context.Context, payment.Order) (payment.CheckoutWallet, error) {
	return payment.CheckoutWallet{}, nil
}

func (s stuckConfirms) StartSplitPayment(context.Context, string, payment.StartSplitPaymentInput) (payment.StartSplitPaymentResult, error) {
	return payment.StartSplitPaymentResult{}, nil
}

// A success page whose confirm runs out of the page's time shows the page
// that polls the order, not an error: the confirm may have gone anywhere
// from unsent to settled, and the poll tells the customer which.
func TestASuccessPageOutOfItsTimePollsTheOrder(t *testing.T) {
	links := NewCheckoutLinks([]byte("secret-0123456789abcdef0123456789ab"), "http://pago.test")
	o := payment.Order{ID: "ord_1", UserID: "usr_1", Status: payment.OrderPending, Name: "tea", Amount: payment.Money{Amount: 12_000, Currency: "KRW"}}
	mux := http.NewServeMux()
	checkoutPages{svc: stuckConfirms{o}, links: links, timeout: 200 * time.Millisecond}.mount(mux, "http://pago.test")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	start := time.Now()
	resp, err := http.Get(srv.URL + "/checkout/ord_1/" + links.Sign("ord_1") + "/success?paymentKey=pk_1&orderId=ord_1&amount=12000")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), `data-testid="status-processing"`)
	require.Contains(t, string(body), links.StatusURL("ord_1"), "it polls the order")
}
