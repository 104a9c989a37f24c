package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
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
