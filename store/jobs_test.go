package store

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/storetest"
)

type alwaysFailsArgs struct{ N int }

func (alwaysFailsArgs) Kind() string { return "test_always_fails" }

type alwaysFails struct {
	river.WorkerDefaults[alwaysFailsArgs]
}

func (alwaysFails) Work(context.Context, *river.Job[alwaysFailsArgs]) error {
	return errors.New("the PG said no")
}

// A job that exhausts its retries lands in the dead-letter queue, newest
// first, with why; a retry runs it again; only a discarded job can be retried.
func TestDeadLetterQueue(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			log := slog.New(slog.DiscardHandler)
			st, err := Open(ctx, eng.NewDatabase(t))
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			require.NoError(t, st.Migrate(ctx, log))
			workers := river.NewWorkers()
			river.AddWorker(workers, &alwaysFails{})
			require.NoError(t, st.StartJobs(ctx, JobsConfig{Workers: workers, Logger: log}))
			t.Cleanup(func() { _ = st.StopJobs(context.Background()) })

			for n := range 3 {
				require.NoError(t, st.insertJob(ctx, alwaysFailsArgs{N: n}, &river.InsertOpts{MaxAttempts: 1}))
			}
			failed := waitFailed(t, st, 3)
			require.Greater(t, failed[0].ID, failed[1].ID, "newest first")
			require.Equal(t, "test_always_fails", failed[0].Kind)
			require.Equal(t, 1, failed[0].Attempts)
			require.Equal(t, "the PG said no", failed[0].LastError)
			require.False(t, failed[0].FailedAt.IsZero())

			page, err := st.FailedJobs(ctx, failed[0].ID, 10)
			require.NoError(t, err)
			require.Len(t, page, 2, "after the cursor")
			require.Equal(t, failed[1].ID, page[0].ID)

			_, err = st.RetryFailedJob(ctx, failed[2].ID)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				j, err := st.jobs.JobGet(ctx, failed[2].ID)
				return err == nil && j.Attempt == 2 && j.FinalizedAt != nil
			}, time.Minute, 50*time.Millisecond, "the retried job ran again")

			_, err = st.RetryFailedJob(ctx, 1<<40)
			require.ErrorIs(t, err, payment.ErrNotFound)

			// A job still waiting for its turn is not the dead-letter queue's.
			res, err := st.jobs.Insert(ctx, alwaysFailsArgs{N: 9}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
			require.NoError(t, err)
			_, err = st.RetryFailedJob(ctx, res.Job.ID)
			require.ErrorIs(t, err, payment.ErrInvalidState)
		})
	}
}

func waitFailed(t *testing.T, st *Store, n int) []payment.FailedJob {
	t.Helper()
	var failed []payment.FailedJob
	require.Eventually(t, func() bool {
		var err error
		failed, err = st.FailedJobs(context.Background(), 0, 10)
		require.NoError(t, err)
		return len(failed) == n
	}, time.Minute, 50*time.Millisecond)
	return failed
}
