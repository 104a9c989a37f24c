package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/pago/pago/payment"
)

// PruneIdempotencyKeysArgs asks for idempotency keys past retention to be deleted.
type PruneIdempotencyKeysArgs struct{}

// Kind implements river.JobArgs.
func (PruneIdempotencyKeysArgs) Kind() string { return "prune_idempotency_keys" }

// PruneIdempotencyKeys deletes DONE keys older than Retention. The PG keeps
// its own keys 15 days, so pago keeps its at least as long (the default).
type PruneIdempotencyKeys struct {
	river.WorkerDefaults[PruneIdempotencyKeysArgs]
	Idempotency *payment.Idempotency
	Retention   time.Duration
	Logger      *slog.Logger
}

// Work implements river.Worker.
func (w *PruneIdempotencyKeys) Work(ctx context.Context, _ *river.Job[PruneIdempotencyKeysArgs]) error {
	n, err := w.Idempotency.Prune(ctx, w.Retention)
	if err != nil {
		return err
	}
	w.Logger.Info("pruned idempotency keys", "deleted", n, "retention", w.Retention.String())
	return nil
}

// PrunePeriodic runs the prune every interval, and once at start.
func PrunePeriodic(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) {
			return PruneIdempotencyKeysArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: interval}}
		},
		&river.PeriodicJobOpts{RunOnStart: true})
}
