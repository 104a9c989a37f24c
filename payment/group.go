package payment

import (
	"context"
	"slices"
	"sync"
)

// group commits the work of concurrent callers together: the first caller
// of an idle group leads, takes up to max queued callers (itself first),
// runs them as one batch and hands the lead to the oldest caller still
// queued, whose goroutine runs the next batch. Callers arriving while a
// batch runs therefore form the next one: group commit, with no added wait
// when the group is idle, and one batch at a time.
type group[T any] struct {
	mu      sync.Mutex
	busy    bool
	members []*member[T]
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
// it is given. If the leader unwinds before run returns (a crash in the
// simulation), abandon answers the values it was running instead. await
// parks a caller until its channel is closed (Config.Await); what names
// the group to it.
func (g *group[T]) do(ctx context.Context, await func(context.Context, string, <-chan struct{}), what string, v T, max int, run func([]T), abandon func(T)) {
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
	run(vs)
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
