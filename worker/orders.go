package worker

import (
	"context"
	"errors"

	"github.com/riverqueue/river"

	"github.com/pago/pago/payment"
)

// ExpireOrderArgs asks for a PENDING order to expire and return its stock.
// It is inserted, scheduled at the order's expiry, in the transaction that
// creates the order.
type ExpireOrderArgs struct {
	OrderID string `json:"orderId"`
}

// Kind implements river.JobArgs.
func (ExpireOrderArgs) Kind() string { return "expire_order" }

// ExpireOrder works ExpireOrderArgs.
type ExpireOrder struct {
	river.WorkerDefaults[ExpireOrderArgs]
	Service *payment.Service
}

// Work implements river.Worker. An order that is gone is nothing to do.
func (w *ExpireOrder) Work(ctx context.Context, job *river.Job[ExpireOrderArgs]) error {
	err := w.Service.ExpireOrder(ctx, job.Args.OrderID)
	if errors.Is(err, payment.ErrNotFound) {
		return river.JobCancel(err)
	}
	return err
}
