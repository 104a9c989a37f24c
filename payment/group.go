package payment

import (
	"context"
	"slices"
	"sync"
	"time"
)

// group commits the work of concurrent callers together: the first caller
// of an idle group leads, takes up to max queued callers (itself first),
// runs them as one batch and hands the lead to the oldest caller still
// queued, whose goroutine runs the next batch. Callers arriving while a
// batch runs therefore form the next one: group commit, with no added wait
// when the group is idle, and one batch at a time.
//
// A batch runs in the context newContext makes from its leader's: one
// apart from the leader's, which it outlives (the batch answers others
// too), and bounded (Service.batchContext); with no newContext, unbounded.
type group[T any] struct {
	newContext func(context.Context) (context.Context, context.CancelFunc)
	mu         sync.Mutex
	busy       bool
	members    []*member[T]
}

// member is one caller waiting in, or run by, a batch.
type member[T any] struct {
	v T
	// ready is closed when the member's batch has run or its goroutine is
	// to lead the next batch (lead).
	ready chan struct{}
	lead  bool
}

// do runs v in a batch of at most max: run answers every value of the batch
// it is given, in the batch's context. If the leader unwinds before run
// returns (a crash in the simulation), abandon answers the values it was
// running instead. await
// parks a caller until its channel is closed (Config.Await); what names
// the group to it.
func (g *group[T]) do(ctx context.Context, await func(context.Context, string, <-chan struct{}), what string, v T, max int, run func(context.Context, []T), abandon func(T)) {
	m := &member[T]{v: v, ready: make(chan struct{})}
	g.mu.Lock()
	busy := g.busy
	g.busy = true
	g.members = append(g.members, m)
	if busy {
		g.mu.Unlock()
		g.wait(ctx, func(ctx context.Context, ready <-chan struct{}) { await(ctx, what, ready) }, m)
		if !m.lead {
			return // another goroutine ran it
		}
		g.mu.Lock()
	}
	n := min(len(g.members), max)
	batch := slices.Clone(g.members[:n])
	g.members = slices.Delete(g.members, 0, n)
	g.mu.Unlock()

	ran := false
	defer func() {
		// Runs on a panic too: the batch's members must not wait for a
		// leader that is gone.
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, b := range batch {
			if !ran {
				abandon(b.v)
			}
			if b != m {
				close(b.ready)
			}
		}
		g.handOffLocked()
	}()
	vs := make([]T, len(batch))
	for i, b := range batch {
		vs[i] = b.v
	}
	bctx, cancel := g.batchContext(ctx)
	defer cancel()
	run(bctx, vs)
	ran = true
}

// wait parks m until its batch has run or it is to lead. If the wait
// unwinds instead (the simulation kills a process there), m leaves the
// queue, and a lead handed to it passes on.
func (g *group[T]) wait(ctx context.Context, await func(context.Context, <-chan struct{}), m *member[T]) {
	waited := false
	defer func() {
		if waited {
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if i := slices.Index(g.members, m); i >= 0 {
			g.members = slices.Delete(g.members, i, i+1)
			if m.lead {
				g.handOffLocked()
			}
		}
	}()
	await(ctx, m.ready)
	waited = true
}

// handOffLocked wakes the oldest queued member to lead the next batch, or
// marks the group idle.
func (g *group[T]) handOffLocked() {
	if len(g.members) > 0 {
		next := g.members[0]
		next.lead = true
		close(next.ready)
		return
	}
	g.busy = false
}

// batchContext is the context of a batch of g led by a caller with ctx.
func (g *group[T]) batchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.newContext != nil {
		return g.newContext(ctx)
	}
	return batchContext(ctx, 0)
}

// batchContext is the context of a batch led by a caller with ctx: not
// cancelled when that caller leaves, since the batch answers other callers
// too, and ended after timeout when that is positive.
func batchContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx = context.WithoutCancel(ctx)
	if timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

// timedOut is err, or errBatchTimedOut when err came of the batch's
// context ending (its time ran out).
func timedOut(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return errBatchTimedOut
	}
	return err
}

// errBatchTimedOut answers the callers of a batch that ran out of its
// timeout (Config.BatchTimeout): whatever it had not committed is undone,
// and a retry with the same key replays whatever it had.
var errBatchTimedOut = &Error{Code: CodeRequestInProgress, Message: "the request is taking longer than expected; retry shortly"}
