package worker

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/riverqueue/river"

	"github.com/pago/pago/payment"
)

// ProbeMaxAttempts bounds the probe's retries: with ProbeBackoff that is
// well past the PG's 10-minute confirm window, after which the PG itself
// has decided (EXPIRED or DONE). A probe that still fails is discarded and
// the payment stays visible in inDoubtPayments for an operator.
const ProbeMaxAttempts = 40

// ProbePaymentArgs asks for an IN_DOUBT card payment to be settled from the
// PG's record. It is inserted in the transaction that marks it IN_DOUBT.
type ProbePaymentArgs struct {
	PaymentID string `json:"paymentId"`
}

// Kind implements river.JobArgs.
func (ProbePaymentArgs) Kind() string { return "probe_payment" }

// ProbePayment works ProbePaymentArgs.
type ProbePayment struct {
	river.WorkerDefaults[ProbePaymentArgs]
	Service *payment.Service
	// MaxDelay caps the backoff between probes (default 30 s).
	MaxDelay time.Duration
}

// Work implements river.Worker.
func (w *ProbePayment) Work(ctx context.Context, job *river.Job[ProbePaymentArgs]) error {
	err := w.Service.ProbePayment(ctx, job.Args.PaymentID)
	if errors.Is(err, payment.ErrNotFound) {
		return river.JobCancel(err)
	}
	return err
}

// NextRetry probes again after 1, 2, 4 … seconds, jittered, capped at
// MaxDelay: River's default (attempt⁴ s) would leave too few looks inside
// the PG's 10-minute window.
func (w *ProbePayment) NextRetry(job *river.Job[ProbePaymentArgs]) time.Time {
	return time.Now().Add(ProbeBackoff(job.Attempt, w.maxDelay()))
}

func (w *ProbePayment) maxDelay() time.Duration {
	if w.MaxDelay > 0 {
		return w.MaxDelay
	}
	return 30 * time.Second
}

// ProbeBackoff is the wait before probe attempt+1: for d = min(2^attempt s,
// ceiling), a uniform wait between d/2 and d. That is an exponential backoff
// whose interval is 3/4·d, jittered by ±1/3 and capped at 3/4·ceiling.
func ProbeBackoff(attempt int, ceiling time.Duration) time.Duration {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     min(750*time.Millisecond, ceiling*3/4),
		RandomizationFactor: 1.0 / 3,
		Multiplier:          2,
		MaxInterval:         ceiling * 3 / 4,
	}
	// River's attempt counts from 1; the interval doubles per attempt up to
	// 2^10 s, beyond any sensible ceiling.
	var d time.Duration
	for range min(max(attempt, 0), 10) + 1 {
		d = b.NextBackOff()
	}
	return d
}

// PGWebhookArgs is a PG webhook to act on. DedupeKey (the transmission id)
// makes River insert it once however often the PG delivers it.
type PGWebhookArgs struct {
	DedupeKey  string `json:"dedupeKey"`
	PaymentKey string `json:"paymentKey"`
}

// Kind implements river.JobArgs.
func (PGWebhookArgs) Kind() string { return "pg_webhook" }

// PGWebhook works PGWebhookArgs: re-fetch the payment, settle from that.
type PGWebhook struct {
	river.WorkerDefaults[PGWebhookArgs]
	Service *payment.Service
}

// Work implements river.Worker.
func (w *PGWebhook) Work(ctx context.Context, job *river.Job[PGWebhookArgs]) error {
	return w.Service.SyncFromGateway(ctx, job.Args.PaymentKey)
}
