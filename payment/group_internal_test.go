package payment

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type groupOp struct {
	n         int
	ran       bool
	abandoned bool
	timedOut  bool
}

// Callers arriving while a batch runs form the next one, each batch holds
// at most max, and every caller is run exactly once.
func TestGroupRunsCallersArrivingTogetherAsOneBatch(t *testing.T) {
	var g group[*groupOp]
	ops, sizes := queueBehindFirst(t, &g, 6, 4, func(_ context.Context, _ int, batch []*groupOp) {
		for _, op := range batch {
			op.ran = true
		}
	})
	require.Equal(t, []int{1, 4, 1}, sizes)
	for _, op := range ops {
		require.True(t, op.ran, "op %d", op.n)
		require.False(t, op.abandoned, "op %d", op.n)
	}
	require.False(t, g.busy, "idle after the last batch")
}

// queueBehindFirst runs n callers through g in batches of at most size,
// the first caller's batch held until the others wait behind it; work does
// each batch's work, told the batch's number (from 1). It returns the
// callers and the batches' sizes, failing the test if a caller still waits
// after 10 s.
func queueBehindFirst(t *testing.T, g *group[*groupOp], n, size int, work func(ctx context.Context, number int, batch []*groupOp)) ([]*groupOp, []int) {
	t.Helper()
	var mu sync.Mutex
	var sizes []int
	first, release := make(chan struct{}), make(chan struct{})
	waiting := make(chan struct{}, n)
	await := func(_ context.Context, _ string, ready <-chan struct{}) {
		waiting <- struct{}{}
		<-ready
	}
	run := func(ctx context.Context, batch []*groupOp) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		number := len(sizes)
		mu.Unlock()
		if number == 1 {
			close(first)
			<-release
		}
		work(ctx, number, batch)
	}
	ops := make([]*groupOp, n)
	var wg sync.WaitGroup
	for i := range ops {
		ops[i] = &groupOp{n: i}
		if i == 1 {
			<-first
		}
		wg.Go(func() {
			g.do(context.Background(), await, "test batch", ops[i], size, run, func(op *groupOp) { op.abandoned = true })
		})
	}
	for range n - 1 {
		<-waiting
	}
	close(release)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("callers still wait for their batch after 10 s")
	}
	return ops, sizes
}

// A leader that unwinds mid-batch (a crash in the simulation) answers its
// batch as abandoned and hands the lead on: nobody waits for it.
func TestGroupLeaderThatUnwindsAbandonsItsBatch(t *testing.T) {
	var g group[*groupOp]
	started, release := make(chan struct{}), make(chan struct{})
	waiting := make(chan struct{}, 16)
	await := func(_ context.Context, _ string, ready <-chan struct{}) {
		waiting <- struct{}{}
		<-ready
	}
	calls := 0
	run := func(_ context.Context, batch []*groupOp) {
		calls++
		if calls == 1 {
			close(started)
			<-release
			panic("the leader's process died")
		}
		for _, op := range batch {
			op.ran = true
		}
	}
	abandon := func(op *groupOp) { op.abandoned = true }
	leader, follower := &groupOp{n: 0}, &groupOp{n: 1}
	died := make(chan any, 1)
	go func() {
		defer func() { died <- recover() }()
		g.do(context.Background(), await, "test batch", leader, 4, run, abandon)
	}()
	<-started
	done := make(chan struct{})
	go func() {
		g.do(context.Background(), await, "test batch", follower, 4, run, abandon)
		close(done)
	}()
	<-waiting
	close(release)
	require.NotNil(t, <-died)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the follower still waits for a leader that is gone")
	}
	require.True(t, leader.abandoned)
	require.True(t, follower.ran, "the follower led the next batch")
	require.False(t, follower.abandoned)
}

// A batch runs apart from its leader's context, which may end first (the
// batch answers others too), and ends after the group's timeout: a batch
// stuck on the database holds its callers no longer than that.
func TestGroupBatchOutlivesItsLeaderAndEndsAfterItsTimeout(t *testing.T) {
	g := group[*groupOp]{newContext: endsAfter(50 * time.Millisecond)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the leader's client has left
	await := func(context.Context, string, <-chan struct{}) { t.Fatal("an idle group waits for nothing") }
	var during, after error
	start := time.Now()
	g.do(ctx, await, "test batch", &groupOp{}, 4, func(bctx context.Context, _ []*groupOp) {
		during = bctx.Err()
		select {
		case <-bctx.Done():
			after = bctx.Err()
		case <-time.After(10 * time.Second):
		}
	}, func(*groupOp) {})
	require.NoError(t, during, "the leader leaving does not end its batch")
	require.ErrorIs(t, after, context.DeadlineExceeded, "ended by the timeout, after %s", time.Since(start))
}

// Every caller of a batch that runs out of its timeout is answered, not
// only its leader: callers queued behind a batch form the next one, which
// hangs on the database here until its timeout.
func TestGroupAnswersEveryCallerOfATimedOutBatch(t *testing.T) {
	g := group[*groupOp]{newContext: endsAfter(50 * time.Millisecond)}
	ops, sizes := queueBehindFirst(t, &g, 4, 8, func(ctx context.Context, number int, batch []*groupOp) {
		if number > 1 {
			<-ctx.Done() // hangs until its timeout
		}
		for _, op := range batch {
			op.ran, op.timedOut = ctx.Err() == nil, ctx.Err() != nil
		}
	})
	require.Equal(t, []int{1, 3}, sizes)
	require.True(t, ops[0].ran)
	for _, op := range ops[1:] {
		require.True(t, op.timedOut, "op %d answered as timed out", op.n)
		require.False(t, op.abandoned, "op %d", op.n)
	}
	require.False(t, g.busy, "idle after the last batch")
}

// endsAfter makes batch contexts ended after d.
func endsAfter(d time.Duration) func(context.Context) (context.Context, context.CancelFunc) {
	return func(ctx context.Context) (context.Context, context.CancelFunc) { return batchContext(ctx, d) }
}
