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
	var mu sync.Mutex
	var sizes []int
	first, release := make(chan struct{}), make(chan struct{})
	waiting := make(chan struct{}, 16)
	await := func(_ context.Context, _ string, ready <-chan struct{}) {
		waiting <- struct{}{}
		<-ready
	}
	run := func(_ context.Context, batch []*groupOp) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		n := len(sizes)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release // hold the first batch until the others queue
		}
		for _, op := range batch {
			op.ran = true
		}
	}
	ops := make([]*groupOp, 6)
	var wg sync.WaitGroup
	for i := range ops {
		ops[i] = &groupOp{n: i}
		if i == 1 {
			<-first
		}
		wg.Go(func() {
			g.do(context.Background(), await, "test batch", ops[i], 4, run, func(op *groupOp) { op.abandoned = true })
		})
	}
	for range 5 {
		<-waiting
	}
	close(release)
	wg.Wait()
	require.Equal(t, []int{1, 4, 1}, sizes)
	for _, op := range ops {
		require.True(t, op.ran, "op %d", op.n)
		require.False(t, op.abandoned, "op %d", op.n)
	}
	require.False(t, g.busy, "idle after the last batch")
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
	g := group[*groupOp]{timeout: 50 * time.Millisecond}
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
	g := group[*groupOp]{timeout: 50 * time.Millisecond}
	first, release := make(chan struct{}), make(chan struct{})
	waiting := make(chan struct{}, 16)
	await := func(_ context.Context, _ string, ready <-chan struct{}) {
		waiting <- struct{}{}
		<-ready
	}
	var mu sync.Mutex
	batches := 0
	run := func(ctx context.Context, batch []*groupOp) {
		mu.Lock()
		batches++
		n := batches
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release // hold the first batch until the others queue
		} else {
			<-ctx.Done() // the second hangs until its timeout
		}
		for _, op := range batch {
			op.ran, op.timedOut = ctx.Err() == nil, ctx.Err() != nil
		}
	}
	ops := make([]*groupOp, 4)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range ops {
		ops[i] = &groupOp{n: i}
		if i == 1 {
			<-first
		}
		wg.Go(func() {
			g.do(context.Background(), await, "test batch", ops[i], 8, run, func(op *groupOp) { op.abandoned = true })
		})
	}
	for range 3 {
		<-waiting
	}
	close(release)
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("callers of the timed-out batch still wait")
	}
	require.True(t, ops[0].ran)
	for _, op := range ops[1:] {
		require.True(t, op.timedOut, "op %d answered as timed out", op.n)
		require.False(t, op.abandoned, "op %d", op.n)
	}
	require.Equal(t, 2, batches)
	require.False(t, g.busy, "idle after the last batch")
}
