package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/pago/pago/payment"
)

// ReconcileArgs asks for the reconciliation of one PG sold date; an empty
// Date means yesterday (KST), as the daily job asks.
type ReconcileArgs struct {
	Date string `json:"date,omitempty"`
}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "reconcile" }

// Reconcile runs a reconciliation: the date's, then every earlier date whose
// payouts have fallen due since its last run, so they are booked.
type Reconcile struct {
	river.WorkerDefaults[ReconcileArgs]
	Reconciler *payment.Reconciler
}

// Timeout implements river.Worker: longer than the store's one-minute job
// timeout (a day of settlement lines, each matched and booked), shorter
// than its two-minute stuck-job rescue, so a live run is never rescued into
// a second one. A cut-off run is FAILED and retried; re-running is safe.
func (w *Reconcile) Timeout(*river.Job[ReconcileArgs]) time.Duration { return 100 * time.Second }

// Work implements river.Worker. A FAILED run (the PG unreachable, say) is
// retried by River with backoff; re-running is always safe.
func (w *Reconcile) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	date := job.Args.Date
	if date == "" {
		date = w.Reconciler.Yesterday()
	}
	if _, err := w.Reconciler.RunDate(ctx, date); err != nil {
		return err
	}
	due, err := w.Reconciler.PayoutsDue(ctx)
	if err != nil {
		return fmt.Errorf("dates with payouts due: %w", err)
	}
	for _, d := range due {
		if d == date {
			continue
		}
		if _, err := w.Reconciler.RunDate(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// ReconcilePeriodic runs yesterday's reconciliation once a day, at 04:00 KST
// (after the PG's settlement of the day is final). River runs periodic jobs
// on its elected leader only, and the unique option keeps one per day even
// across a leader change: once across all instances.
func ReconcilePeriodic() *river.PeriodicJob {
	return river.NewPeriodicJob(dailyAt{hour: 4, loc: time.FixedZone("KST", 9*60*60)},
		func() (river.JobArgs, *river.InsertOpts) {
			return ReconcileArgs{}, &river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByPeriod: 24 * time.Hour}}
		},
		&river.PeriodicJobOpts{})
}

// dailyAt is a river.PeriodicSchedule: every day at hour in loc.
type dailyAt struct {
	hour int
	loc  *time.Location
}

// Next implements river.PeriodicSchedule.
func (d dailyAt) Next(after time.Time) time.Time {
	t := after.In(d.loc)
	next := time.Date(t.Year(), t.Month(), t.Day(), d.hour, 0, 0, 0, d.loc)
	if !next.After(t) {
		next = next.AddDate(0, 0, 1)
	}
	return next
}
