package payment

import (
	"context"
	"strconv"
	"time"
)

// FailedJob is a background job that exhausted its retries (the dead-letter
// queue): an operator reads why and may retry it.
type FailedJob struct {
	ID        int64
	Kind      string
	Attempts  int
	LastError string
	FailedAt  time.Time
}

// JobQueue is what the dead-letter queue needs of the job system (store
// implements it over River).
type JobQueue interface {
	// FailedJobs lists discarded jobs, newest first, id < beforeID (0: from the newest).
	FailedJobs(ctx context.Context, beforeID int64, limit int) ([]FailedJob, error)
	// RetryFailedJob makes a discarded job available again; ErrNotFound
	// when there is no such job, INVALID_STATE when it is not discarded.
	RetryFailedJob(ctx context.Context, id int64) (FailedJob, error)
}

// DeadLetters is the operators' view of jobs that gave up.
type DeadLetters struct {
	svc   *Service
	queue JobQueue
}

// NewDeadLetters returns the dead-letter queue of queue.
func NewDeadLetters(svc *Service, queue JobQueue) *DeadLetters {
	return &DeadLetters{svc: svc, queue: queue}
}

// FailedJobs lists jobs that exhausted their retries, newest first
// (operators only).
func (d *DeadLetters) FailedJobs(ctx context.Context, page Page) (Connection[FailedJob], error) {
	var out Connection[FailedJob]
	if _, err := requireAdmin(ctx); err != nil {
		return out, err
	}
	limit, err := pageLimit(page.First)
	if err != nil {
		return out, err
	}
	var before int64
	if page.After != "" {
		v, err := decodeCursor("job", page.After)
		if err != nil {
			return out, err
		}
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			return out, BadInput("after", "after is not a cursor from this list")
		}
	}
	items, err := d.queue.FailedJobs(ctx, before, limit+1)
	if err != nil {
		return out, err
	}
	return pageOf(items, limit, "job", func(j FailedJob) string { return strconv.FormatInt(j.ID, 10) }), nil
}

// RetryFailedJobInput is retryFailedJob's input.
type RetryFailedJobInput struct {
	JobID string `json:"jobId"`
}

// RetryFailedJob puts a job that gave up back in the queue, once per
// idempotency key (operators only). The job itself is idempotent, as every
// pago job is.
func (d *DeadLetters) RetryFailedJob(ctx context.Context, key string, in RetryFailedJobInput) (FailedJob, error) {
	admin, err := requireAdmin(ctx)
	if err != nil {
		return FailedJob{}, err
	}
	id, err := strconv.ParseInt(in.JobID, 10, 64)
	if err != nil || id <= 0 {
		return FailedJob{}, BadInput("jobId", "jobId must be a job's id")
	}
	return Run(ctx, d.svc.idem, admin.ID, key, "retryFailedJob", in, func(ctx context.Context, call *Call) (FailedJob, error) {
		j, err := d.queue.RetryFailedJob(ctx, id)
		if err != nil {
			return FailedJob{}, err
		}
		d.svc.log.InfoContext(ctx, "failed job retried", "job", id, "kind", j.Kind, "by", admin.Name)
		err = d.svc.store.InTx(ctx, func(q Queries) error { return call.Complete(ctx, q, j) })
		return j, err
	})
}
