package worker

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/pago/pago/payment"
)

// RefundMaxAttempts bounds the refund job's retries; with ProbeBackoff
// capped at MaxDelay that is tens of minutes. A refund still open after
// them stays PENDING or IN_DOUBT in pago for an operator (or a retry of
// the dead job) to finish.
const RefundMaxAttempts = 60

// RefundArgs asks for a recorded refund to be carried out. It is inserted
// in the transaction that records the refund.
type RefundArgs struct {
	RefundID string `json:"refundId"`
}

// Kind implements river.JobArgs.
func (RefundArgs) Kind() string { return "refund" }

// Refund works RefundArgs.
type Refund struct {
	river.WorkerDefaults[RefundArgs]
	Service *payment.Service
	// MaxDelay caps the backoff between tries (default 30 s).
	MaxDelay time.Duration
}

// Work implements river.Worker.
func (w *Refund) Work(ctx context.Context, job *river.Job[RefundArgs]) error {
	err := w.Service.ExecuteRefund(ctx, job.Args.RefundID)
	if errors.Is(err, payment.ErrNotFound) {
		return river.JobCancel(err)
	}
	return err
}

// NextRetry backs off as the probe does.
func (w *Refund) NextRetry(job *river.Job[RefundArgs]) time.Time {
	d := w.MaxDelay
	if d <= 0 {
		d = 30 * time.Second
	}
	return time.Now().Add(ProbeBackoff(job.Attempt, d))
}
