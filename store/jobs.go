package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pago/pago/payment"
)

// JobsConfig configures River.
type JobsConfig struct {
	Workers      *river.Workers
	PeriodicJobs []*river.PeriodicJob
	MaxWorkers   int
	Logger       *slog.Logger
	// ID names this process among River's clients (defaults to River's own).
	ID string
}

// StartJobs creates River on the store's database and starts working jobs.
// Jobs inserted by InTx callbacks go through this client, in their transaction.
func (s *Store) StartJobs(ctx context.Context, cfg JobsConfig) error {
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 10
	}
	rc := &river.Config{
		ID:                cfg.ID,
		Logger:            cfg.Logger,
		Workers:           cfg.Workers,
		PeriodicJobs:      cfg.PeriodicJobs,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.MaxWorkers}},
		FetchCooldown:     50 * time.Millisecond,
		FetchPollInterval: time.Second,
		// A job is cut off after a minute (River's JobTimeout); one still
		// "running" a minute after that belongs to an instance that died
		// (kill -9 mid-probe, say) and is retried. Probes are idempotent
		// (the same PG Idempotency-Key), so a rescue that races a slow
		// live attempt is harmless, while waiting longer eats into the
		// PG's 10-minute confirm window.
		JobTimeout:           time.Minute,
		RescueStuckJobsAfter: 2 * time.Minute,
	}
	if s.engine == SQLite {
		rc.Queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: min(cfg.MaxWorkers, 2)}
	}
	client, err := river.NewClient(s.riverDriver(), rc)
	if err != nil {
		return fmt.Errorf("create river client: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	s.jobs = client
	return nil
}

// StopJobs lets running jobs finish (until ctx ends), then stops River.
func (s *Store) StopJobs(ctx context.Context) error {
	if s.jobs == nil {
		return nil
	}
	if err := s.jobs.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stop river: %w", err)
	}
	return nil
}

// insertJob enqueues args: in the current transaction when there is one, so
// the job exists if and only if the state change it follows committed.
func (s *Store) insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if s.jobs == nil {
		return errors.New("insert job: job queue not started")
	}
	var err error
	if s.tx != nil {
		_, err = s.jobs.InsertTx(ctx, s.tx.Tx, args, opts)
	} else {
		_, err = s.jobs.Insert(ctx, args, opts)
	}
	if err != nil {
		return fmt.Errorf("insert %s job: %w", args.Kind(), err)
	}
	return nil
}

var _ payment.JobQueue = (*Store)(nil)

// FailedJobs implements payment.JobQueue: River's discarded jobs.
func (s *Store) FailedJobs(ctx context.Context, beforeID int64, limit int) ([]payment.FailedJob, error) {
	if s.jobs == nil {
		return nil, errors.New("failed jobs: job queue not started")
	}
	params := river.NewJobListParams().States(rivertype.JobStateDiscarded).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit)
	if beforeID > 0 {
		after, err := s.jobs.JobGet(ctx, beforeID)
		if err != nil {
			return nil, notFoundJob(err)
		}
		params = params.After(river.JobListCursorFromJob(after))
	}
	res, err := s.jobs.JobList(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list failed jobs: %w", err)
	}
	out := make([]payment.FailedJob, len(res.Jobs))
	for i, j := range res.Jobs {
		out[i] = failedJobToDomain(j)
	}
	return out, nil
}

// RetryFailedJob implements payment.JobQueue.
func (s *Store) RetryFailedJob(ctx context.Context, id int64) (payment.FailedJob, error) {
	if s.jobs == nil {
		return payment.FailedJob{}, errors.New("retry job: job queue not started")
	}
	j, err := s.jobs.JobGet(ctx, id)
	if err != nil {
		return payment.FailedJob{}, notFoundJob(err)
	}
	if j.State != rivertype.JobStateDiscarded {
		return payment.FailedJob{}, &payment.Error{Code: payment.CodeInvalidState, Message: fmt.Sprintf("job %d is %s, not discarded", id, j.State)}
	}
	failed := failedJobToDomain(j)
	if _, err := s.jobs.JobRetry(ctx, id); err != nil {
		return payment.FailedJob{}, fmt.Errorf("retry job %d: %w", id, err)
	}
	return failed, nil
}

func notFoundJob(err error) error {
	if errors.Is(err, river.ErrNotFound) {
		return &payment.Error{Code: payment.CodeNotFound, Message: "job not found"}
	}
	return err
}

func failedJobToDomain(j *rivertype.JobRow) payment.FailedJob {
	out := payment.FailedJob{ID: j.ID, Kind: j.Kind, Attempts: j.Attempt}
	if n := len(j.Errors); n > 0 {
		out.LastError, out.FailedAt = j.Errors[n-1].Error, j.Errors[n-1].At.UTC()
	}
	if j.FinalizedAt != nil {
		out.FailedAt = j.FinalizedAt.UTC()
	}
	return out
}

// OpenJobInserts gives a command that works no jobs a River client that can
// insert them (a reconciliation fix queues a probe as a safety net); it is
// never started. Processes that run StartJobs do not need it.
func (s *Store) OpenJobInserts(log *slog.Logger) error {
	client, err := river.NewClient(s.riverDriver(), &river.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("create river client: %w", err)
	}
	s.jobs = client
	return nil
}
