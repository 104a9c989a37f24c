package payment_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"time"
)

// sim is one seed's world: a cooperative scheduler over simulated actors
// (goroutines of which exactly one runs at a time), the fake clock, and the
// seeded random source every fake draws from. Every call into a fake is a
// yield point at which the scheduler lets the random source pick the next
// actor, so one seed is one interleaving, replayable exactly.
type sim struct {
	seed     uint64
	rng      *rand.Rand
	now      time.Time
	actors   []*actor
	cur      *actor
	back     chan struct{} // the running actor hands control back
	steps    int
	maxSteps int
	killing  bool

	// jump is the chance per step that time leaps ahead by up to jumpMax: a
	// GC pause, a slow disk, a descheduled process. It is what lets a lock
	// lease lapse in the middle of a debit.
	jump    float64
	jumpMax time.Duration

	// crash is the chance per step that a crashable actor's process dies
	// right there (see survive).
	crash   float64
	onCrash func(a *actor) // rolls back what the dead process had open

	// deadline is the chance per step that a batch's context ends right
	// there, as its timeout (Config.BatchTimeout) would: the batch's next
	// statements fail, and a commit under way may or may not be kept.
	deadline float64

	// timers tell when something not owned by an actor becomes due (jobs).
	timers []func() (time.Time, bool)

	// order hashes which actor ran at each step: the interleaving.
	order uint64

	trace    [traceLen]traceStep
	failures []string
	// stats counts what happened (lock splits, lost answers, retries...),
	// to show which interleavings the seeds reach.
	stats map[string]int
}

const traceLen = 400

type traceStep struct {
	step  int
	at    time.Time
	actor *actor
	label string
}

// actor is one simulated thread of control: a customer's browser tab, a
// job worker, the PG's webhook sender.
type actor struct {
	name   string
	hash   uint64
	daemon bool // job workers: they end when everything else has
	wake   chan struct{}
	// until, when set, must hold for the actor to run again; wakeAt, when
	// set, makes it runnable once the clock reaches it whatever until says.
	until  func() bool
	wakeAt time.Time
	reason string
	done   bool
	// crashable actors may die at a yield inside survive; crashing is set
	// while one unwinds.
	crashable bool
	crashing  bool
	// batch is the context of the batch the actor leads, while it does
	// and deadline is on (sim.batchContext).
	batch *simBatch

	panicked any
	stack    []byte
}

// errKilled unwinds actors still parked when a seed is abandoned.
var errKilled = errors.New("simulation: actor killed")

// errCrashed unwinds an actor whose process died: deferred code that
// would talk to anything (unlock, rollback) panics again, as a dead process
// does nothing more.
var errCrashed = errors.New("simulation: process crashed")

var simEpoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newSim(seed uint64) *sim {
	return &sim{
		seed:     seed,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:      simEpoch,
		back:     make(chan struct{}),
		maxSteps: 200_000,
		stats:    map[string]int{},
	}
}

// spawn adds an actor; it first runs when the scheduler picks it.
func (s *sim) spawn(name string, daemon bool, fn func()) {
	h := fnv.New64a()
	h.Write([]byte(name))
	a := &actor{name: name, hash: h.Sum64(), daemon: daemon, wake: make(chan struct{})}
	s.actors = append(s.actors, a)
	go func() {
		<-a.wake
		defer func() {
			if r := recover(); r != nil && r != any(errKilled) {
				a.panicked, a.stack = r, debug.Stack()
			}
			a.done = true
			s.back <- struct{}{}
		}()
		if s.killing {
			return
		}
		fn()
	}()
}

// yield hands control back to the scheduler. Outside a run (setup, final
// checks) there is nobody to hand it to and it returns at once.
func (s *sim) yield(label string) {
	if s.killing {
		panic(errKilled)
	}
	a := s.cur
	if a == nil {
		return
	}
	if a.crashing {
		panic(errCrashed)
	}
	s.trace[s.steps%traceLen] = traceStep{step: s.steps, at: s.now, actor: a, label: label}
	s.back <- struct{}{}
	<-a.wake
	if s.killing {
		panic(errKilled)
	}
	if a.crashable && s.chance(s.crash) {
		s.count("crash: a process died serving " + a.name[:strings.IndexAny(a.name+" ", " #")])
		a.crashing = true
		panic(errCrashed)
	}
	if b := a.batch; b != nil && b.ctx.Err() == nil && s.chance(s.deadline) {
		s.count("deadline: a batch ran out of time")
		b.cancel()
	}
}

// simBatch is a batch's context and what ends it.
type simBatch struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// batchContext is Config.BatchContext in the simulation: a batch's context
// apart from its leader's, which the scheduler ends at a yield of the
// batch's actor with the chance deadline per step, as a timeout would.
func (s *sim) batchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := s.cur
	if a == nil || s.deadline == 0 {
		return bctx, cancel
	}
	prev := a.batch
	a.batch = &simBatch{ctx: bctx, cancel: cancel}
	return bctx, func() { cancel(); a.batch = prev }
}

// batchEnded is the error of the running actor's batch if its time ran
// out, nil otherwise.
func (s *sim) batchEnded() error {
	if a := s.cur; a != nil && a.batch != nil {
		return a.batch.ctx.Err()
	}
	return nil
}

// survive runs fn as work of a process that may die at any yield: it
// reports true if it did, after the database rolled back what the process
// had open. The actor itself goes on as the client (or job queue) that
// saw the process die.
func (s *sim) survive(fn func()) (crashed bool) {
	a := s.cur
	defer func() {
		if r := recover(); r != nil {
			if r != any(errCrashed) {
				panic(r)
			}
			a.crashable, a.crashing, crashed = false, false, true
			if s.onCrash != nil {
				s.onCrash(a)
			}
		}
	}()
	a.crashable = s.crash > 0
	fn()
	a.crashable = false
	return false
}

// wait parks the running actor until pred holds or, if wakeAt is set, the
// clock reaches it. The scheduler evaluates pred while every actor is parked.
func (s *sim) wait(reason string, pred func() bool, wakeAt time.Time) {
	a := s.cur
	if a == nil {
		if pred() || (!wakeAt.IsZero() && !s.now.Before(wakeAt)) {
			return
		}
		if !wakeAt.IsZero() {
			s.now = wakeAt // nothing else runs outside a run: time just passes
			return
		}
		panic("simulation: wait outside a run can never end: " + reason)
	}
	a.until, a.wakeAt, a.reason = pred, wakeAt, reason
	s.yield(reason)
	a.until, a.wakeAt, a.reason = nil, time.Time{}, ""
}

// sleep parks the running actor for d of simulated time.
func (s *sim) sleep(d time.Duration) {
	s.wait("sleep", func() bool { return false }, s.now.Add(d))
}

// clock is the service's Clock: a yield point that moves time forward a
// millisecond per reading, so ids made from distinct readings sort in the
// order they were made.
func (s *sim) clock() time.Time {
	s.yield("clock")
	s.now = s.now.Add(time.Millisecond)
	return s.now
}

// chance draws true with probability p.
func (s *sim) chance(p float64) bool { return p > 0 && s.rng.Float64() < p }

// pick returns one of xs.
func pick[T any](s *sim, xs ...T) T { return xs[s.rng.IntN(len(xs))] }

func (s *sim) count(what string) { s.stats[what]++ }

func (s *sim) failf(format string, args ...any) {
	s.failures = append(s.failures, fmt.Sprintf(format, args...))
}

func (s *sim) runnable(a *actor) bool {
	if a.done {
		return false
	}
	if a.until == nil {
		return true
	}
	return a.until() || (!a.wakeAt.IsZero() && !s.now.Before(a.wakeAt))
}

// quiet tells whether only daemons are left.
func (s *sim) quiet() bool {
	for _, a := range s.actors {
		if !a.done && !a.daemon {
			return false
		}
	}
	return true
}

// run schedules actors until all have ended. It returns an error for a
// deadlock (nobody can run and no timer is due), a livelock (the step
// budget ran out) or an actor's panic; the remaining actors are killed.
func (s *sim) run() error {
	ready := make([]*actor, 0, 16)
	for {
		live := s.actors[:0]
		for _, a := range s.actors {
			if !a.done {
				live = append(live, a)
			}
		}
		s.actors = live
		if len(s.actors) == 0 {
			return nil
		}
		ready = ready[:0]
		for _, a := range s.actors {
			if s.runnable(a) {
				ready = append(ready, a)
			}
		}
		if len(ready) == 0 {
			if t, ok := s.nextTime(); ok {
				s.now = t
				continue
			}
			var blocked []string
			for _, a := range s.actors {
				blocked = append(blocked, a.name+" waits for "+a.reason)
			}
			s.kill()
			return fmt.Errorf("deadlock: %s", strings.Join(blocked, "; "))
		}
		if s.steps >= s.maxSteps {
			s.kill()
			return fmt.Errorf("no end after %d steps (livelock?)", s.steps)
		}
		a := ready[s.rng.IntN(len(ready))]
		if s.chance(s.jump) {
			s.now = s.now.Add(time.Duration(s.rng.Int64N(int64(s.jumpMax))))
		}
		s.steps++
		s.order = (s.order ^ a.hash) * 1099511628211
		s.cur = a
		a.wake <- struct{}{}
		<-s.back
		s.cur = nil
		if a.panicked != nil {
			s.kill()
			return fmt.Errorf("actor %s panicked: %v\n%s", a.name, a.panicked, a.stack)
		}
	}
}

// nextTime is the earliest future moment at which something becomes due.
func (s *sim) nextTime() (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(s.now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, a := range s.actors {
		if !a.done && !a.wakeAt.IsZero() {
			consider(a.wakeAt)
		}
	}
	for _, f := range s.timers {
		if t, ok := f(); ok {
			consider(t)
		}
	}
	return next, !next.IsZero()
}

// kill unwinds every actor still alive: each is woken and panics errKilled
// out of its yield.
func (s *sim) kill() {
	s.killing = true
	for _, a := range s.actors {
		if !a.done {
			s.cur = a
			a.wake <- struct{}{}
			<-s.back
		}
	}
	s.cur = nil
}

// traceText is the last steps of the interleaving, oldest first.
func (s *sim) traceText() string {
	var b strings.Builder
	start := max(0, s.steps-traceLen)
	for i := start; i < s.steps; i++ {
		st := s.trace[i%traceLen]
		if st.actor == nil {
			continue
		}
		fmt.Fprintf(&b, "%6d %s %-28s %s\n", st.step, st.at.Format("15:04:05.000"), st.actor.name, st.label)
	}
	return b.String()
}
