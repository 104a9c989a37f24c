package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/cenkalti/backoff/v5"
	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredislib "github.com/redis/go-redis/v9"

	"github.com/pago/pago/payment"
)

// LockerConfig tunes the redsync mutexes.
type LockerConfig struct {
	// URLs are redis:// URLs; several give a Redlock quorum. Empty starts an
	// in-process Redis (miniredis) behind the very same redsync code.
	URLs []string
	// Prefix namespaces the lock keys (tests use their own).
	Prefix string
	// Expiry is the lease; work guarded by a lock checks Until before slow steps.
	Expiry time.Duration
	// MaxWait bounds how long Lock waits before ErrLockBusy.
	MaxWait time.Duration
	// Logger, when set, hears about Redis going down (ERROR, again every
	// minute while it stays down) and coming back (INFO); OpenLocker then
	// starts even when Redis is down, and the locker recovers by itself
	// when it returns. Without a Logger, OpenLocker fails if Redis is down.
	Logger *slog.Logger
	// HealthInterval is how often the health watch pings Redis (default 2s).
	HealthInterval time.Duration
}

// Locker implements payment.Locker with redsync.
type Locker struct {
	cfg     LockerConfig
	rs      *redsync.Redsync
	clients []*goredislib.Client
	mini    *miniredis.Miniredis
	// down is set by the health watch while Redis does not answer: Lock
	// then fails at once with ErrLocksUnavailable instead of waiting out
	// MaxWait and answering "busy".
	down atomic.Bool
	stop chan struct{}
	done chan struct{}
}

// ErrLocksUnavailable means Redis, which holds the wallet locks, does not
// answer: a server fault (INTERNAL, logged), not a busy wallet.
var ErrLocksUnavailable = errors.New("redis unreachable: wallet locks unavailable")

var _ payment.Locker = (*Locker)(nil)

// OpenLocker connects to Redis (or starts miniredis) and checks it answers.
func OpenLocker(ctx context.Context, cfg LockerConfig) (*Locker, error) {
	l := &Locker{cfg: cfg}
	urls := cfg.URLs
	if len(urls) == 0 {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start in-process redis: %w", err)
		}
		l.mini = m
		urls = []string{"redis://" + m.Addr()}
	}
	var pools []redis.Pool
	for _, u := range urls {
		opt, err := goredislib.ParseURL(u)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("redis URL %q: %w", Redact(u), err)
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, time.Second, time.Second
		opt.MaxRetries = 1
		c := goredislib.NewClient(opt)
		l.clients = append(l.clients, c)
		pools = append(pools, goredis.NewPool(c))
	}
	l.rs = redsync.New(pools...)
	if err := l.Ping(ctx); err != nil {
		if cfg.Logger == nil {
			l.Close()
			return nil, err
		}
		l.down.Store(true)
		cfg.Logger.Error("redis is down at start: pago starts, but /readyz says not ready and wallet payments fail until it answers",
			"err", err)
	}
	if cfg.Logger != nil {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.watch()
	}
	return l, nil
}

// watch pings Redis every HealthInterval and logs when it goes down and
// comes back; go-redis reconnects by itself.
func (l *Locker) watch() {
	defer close(l.done)
	every := l.cfg.HealthInterval
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var lastLoud time.Time
	if l.down.Load() {
		lastLoud = time.Now()
	}
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.Ping(ctx)
		cancel()
		switch {
		case err != nil && (!l.down.Load() || time.Since(lastLoud) >= time.Minute):
			l.down.Store(true)
			lastLoud = time.Now()
			l.cfg.Logger.Error("redis is down: wallet payments fail until it answers", "err", err)
		case err == nil && l.down.Load():
			l.down.Store(false)
			l.cfg.Logger.Info("redis is back: wallet locks available again")
		}
	}
}

// Lock implements payment.Locker. Waiters retry after a short jittered delay
// that grows to a few milliseconds (redsync's default is 50–250 ms, far too
// long for a lock held for a few milliseconds), for at most MaxWait.
func (l *Locker) Lock(ctx context.Context, name string) (payment.Lock, error) {
	return l.lock(ctx, name, 1<<30) // bounded by MaxWait, not by a count
}

// lock is Lock with at most tries tries.
func (l *Locker) lock(ctx context.Context, name string, tries int) (payment.Lock, error) {
	retry := lockRetryBackOff()
	m := l.rs.NewMutex(l.cfg.Prefix+name,
		redsync.WithExpiry(l.cfg.Expiry),
		redsync.WithTries(tries),
		// redsync calls this from the one goroutine that takes the lock.
		redsync.WithRetryDelayFunc(func(int) time.Duration { return retry.NextBackOff() }),
	)
	if l.down.Load() {
		// Ask once more, briefly: the watch may not have seen it come back.
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := l.Ping(pctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w (%v)", name, ErrLocksUnavailable, err)
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, l.cfg.MaxWait)
	defer cancel()
	if err := m.LockContext(waitCtx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if l.Ping(ctx) != nil {
			return nil, fmt.Errorf("lock %s: %w: %v", name, ErrLocksUnavailable, err)
		}
		var taken *redsync.ErrTaken
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &taken) || errors.Is(err, redsync.ErrFailed) {
			return nil, payment.ErrLockBusy
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return mutex{m}, nil
}

// lockRetryBackOff is a waiter's schedule: 1.5, 3, 6, then 8.5 ms, each
// jittered by ±2/3, so every wait lies between 0.5 and about 14 ms.
func lockRetryBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     1500 * time.Microsecond,
		RandomizationFactor: 2.0 / 3,
		Multiplier:          2,
		MaxInterval:         8500 * time.Microsecond,
	}
}

type mutex struct{ m *redsync.Mutex }

func (m mutex) Until() time.Time { return m.m.Until() }

func (m mutex) Unlock(ctx context.Context) error {
	if _, err := m.m.UnlockContext(ctx); err != nil {
		// The lease lapsed or Redis is gone: the lock is released either way,
		// and the database's conditional writes kept the data right.
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}

var _ payment.ManyLocker = (*Locker)(nil)

// TryLocks implements payment.ManyLocker. With one Redis, every name is
// tried in one round trip (a pipeline of SET NX, redsync's own acquire, so
// the locks exclude Lock's); a name held by another is then retried on
// its own for the rest of wait. With several (a Redlock quorum), each name
// is taken by redsync in its own goroutine.
func (l *Locker) TryLocks(ctx context.Context, names []string, wait time.Duration) ([]payment.Lock, []error) {
	locks, errs := make([]payment.Lock, len(names)), make([]error, len(names))
	deadline := time.Now().Add(wait)
	todo := make([]int, len(names))
	for i := range names {
		todo[i] = i
	}
	if len(l.clients) == 1 && !l.down.Load() && len(names) > 0 {
		todo = l.setAll(ctx, names, wait > 0, locks, errs)
	}
	var wg sync.WaitGroup
	for _, i := range todo {
		wg.Go(func() { locks[i], errs[i] = l.tryLock(ctx, names[i], time.Until(deadline)) })
	}
	wg.Wait()
	return locks, errs
}

// tryLock is Lock for at most wait, trying once when wait has run out; a
// lock held past it is ErrLockBusy.
func (l *Locker) tryLock(ctx context.Context, name string, wait time.Duration) (payment.Lock, error) {
	if wait <= 0 {
		return l.lock(ctx, name, 1)
	}
	tctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	lock, err := l.Lock(tctx, name)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = payment.ErrLockBusy // held past wait, not the caller's own deadline
	}
	return lock, err
}

// setAll sets every free name of names in one pipeline to the one Redis,
// with a fresh value each, and puts the locks taken in locks. A name held
// by another is ErrLockBusy in errs, unless again; it returns the indexes
// of the names to try again: those, and those Redis did not answer for,
// which Lock tries and reports on.
//
// Each SET NX is followed by a GET of its key in the same pipeline, and the
// lock is the caller's when the key holds its value. A pipeline whose reply
// was lost is sent again by the client; its SET NX then finds the value it
// set the first time, and answers "not set" for a lock that is the
// caller's. A key not answered for is released with its value, as redsync
// releases after a failed try, so that no lock is left held by nobody.
func (l *Locker) setAll(ctx context.Context, names []string, again bool, locks []payment.Lock, errs []error) []int {
	expiry := l.cfg.Expiry
	values := make([]string, len(names))
	pipe := l.clients[0].Pipeline()
	gets := make([]*goredislib.StringCmd, len(names))
	for i, name := range names {
		v := make([]byte, 16)
		rand.Read(v)
		values[i] = base64.StdEncoding.EncodeToString(v)
		pipe.SetNX(ctx, l.cfg.Prefix+name, values[i], expiry)
		gets[i] = pipe.Get(ctx, l.cfg.Prefix+name)
	}
	start := time.Now()
	pipe.Exec(ctx) // each GET's own answer is looked at below
	// As redsync counts a lease: from the request, less its drift.
	until := start.Add(expiry - time.Duration(float64(expiry)*0.01))
	var todo []int
	var lost []payment.Lock
	for i, c := range gets {
		lock := &setLock{l: l, key: l.cfg.Prefix + names[i], value: values[i], until: until}
		switch v, err := c.Result(); {
		case err == nil && v == values[i]:
			locks[i] = lock
		case (err == nil || errors.Is(err, goredislib.Nil)) && !again:
			errs[i] = payment.ErrLockBusy // another's, or lapsed since
		case err == nil || errors.Is(err, goredislib.Nil):
			todo = append(todo, i)
		default:
			lost = append(lost, lock)
			todo = append(todo, i)
		}
	}
	if len(lost) > 0 {
		l.UnlockAll(context.WithoutCancel(ctx), lost) // errors expected: most were never set
	}
	return todo
}

// unlockScript deletes a lock's key if it still holds the lock's value:
// redsync's release, so a lease that lapsed and was taken by another is left
// alone. -1: the key is gone; 0: another holds it.
var unlockScript = goredislib.NewScript(`local v = redis.call("GET", KEYS[1])
if v == ARGV[1] then return redis.call("DEL", KEYS[1]) elseif v == false then return -1 else return 0 end`)

// setLock is a lock setAll took.
type setLock struct {
	l          *Locker
	key, value string
	until      time.Time
}

func (k *setLock) Until() time.Time { return k.until }

func (k *setLock) Unlock(ctx context.Context) error {
	return unlocked(unlockScript.Run(ctx, k.l.clients[0], []string{k.key}, k.value))
}

// unlocked is an unlock's outcome from unlockScript's answer.
func unlocked(c *goredislib.Cmd) error {
	n, err := c.Int64()
	switch {
	case err != nil:
		return fmt.Errorf("unlock: %w", err)
	case n != 1:
		// The lease lapsed: released either way, and the database's
		// conditional writes kept the data right.
		return fmt.Errorf("unlock: %w", redsync.ErrLockAlreadyExpired)
	}
	return nil
}

// UnlockAll implements payment.ManyLocker: the locks setAll took in one
// pipeline, any other in its own goroutine.
func (l *Locker) UnlockAll(ctx context.Context, locks []payment.Lock) []error {
	errs := make([]error, len(locks))
	var wg sync.WaitGroup
	var set []int
	for i, lock := range locks {
		if _, ok := lock.(*setLock); ok {
			set = append(set, i)
			continue
		}
		wg.Go(func() { errs[i] = lock.Unlock(ctx) })
	}
	if len(set) > 0 {
		pipe := l.clients[0].Pipeline()
		cmds := make([]*goredislib.Cmd, len(set))
		for j, i := range set {
			k := locks[i].(*setLock)
			cmds[j] = unlockScript.Eval(ctx, pipe, []string{k.key}, k.value)
		}
		pipe.Exec(ctx)
		for j, i := range set {
			errs[i] = unlocked(cmds[j])
		}
	}
	wg.Wait()
	return errs
}

// Ping tells whether every Redis answers.
func (l *Locker) Ping(ctx context.Context) error {
	var errs []string
	for _, c := range l.clients {
		if err := c.Ping(ctx).Err(); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", c.Options().Addr, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("redis unreachable: %s", strings.Join(errs, "; "))
	}
	return nil
}

// InProcess tells whether the locker runs its own miniredis.
func (l *Locker) InProcess() bool { return l.mini != nil }

// Close disconnects and stops the in-process Redis, if any.
func (l *Locker) Close() error {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
	for _, c := range l.clients {
		c.Close()
	}
	if l.mini != nil {
		l.mini.Close()
	}
	return nil
}
