package store

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/storetest"
)

func openTestLocker(t *testing.T, maxWait time.Duration) *Locker {
	t.Helper()
	l, err := OpenLocker(context.Background(), LockerConfig{Prefix: "test:", Expiry: time.Minute, MaxWait: maxWait})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// A waiter retries until the holder lets go, then gets the lock.
func TestLockerWaiterGetsLockAfterRelease(t *testing.T) {
	l := openTestLocker(t, time.Minute)
	ctx := context.Background()
	held, err := l.Lock(ctx, "wallet:1")
	if err != nil {
		t.Fatal(err)
	}
	var released atomic.Bool
	got := make(chan error, 1)
	go func() {
		lk, err := l.Lock(ctx, "wallet:1")
		if err == nil {
			if !released.Load() {
				err = errors.New("got the lock while it was held")
			}
			lk.Unlock(ctx)
		}
		got <- err
	}()
	time.Sleep(30 * time.Millisecond) // let the waiter retry a few times
	released.Store(true)
	if err := held.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("waiter never got the lock after it was released")
	}
}

// A lock held past MaxWait answers ErrLockBusy; a cancelled caller gets its
// own context error.
func TestLockerBusyAfterMaxWait(t *testing.T) {
	l := openTestLocker(t, 50*time.Millisecond)
	ctx := context.Background()
	held, err := l.Lock(ctx, "wallet:2")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock(ctx)
	if _, err := l.Lock(ctx, "wallet:2"); !errors.Is(err, payment.ErrLockBusy) {
		t.Fatalf("second Lock: %v, want ErrLockBusy", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Lock(cctx, "wallet:2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Lock: %v, want context.Canceled", err)
	}
}

// The waiter's schedule stays in the few-millisecond range it was tuned for.
func TestLockRetryBackOffBounds(t *testing.T) {
	for range 200 {
		b := lockRetryBackOff()
		for i := range 12 {
			d := b.NextBackOff()
			if d < 500*time.Microsecond || d > 15*time.Millisecond {
				t.Fatalf("retry %d waits %v, want within [0.5ms, 15ms]", i+1, d)
			}
		}
	}
}

// TryLocks tries every name at once: a held one fails alone, within about
// its wait, and the others are held until UnlockAll releases them.
func TestLockerTriesAndReleasesSeveralAtOnce(t *testing.T) {
	l := openTestLocker(t, time.Minute)
	ctx := context.Background()
	run := storetest.RandomHex(6)
	names := []string{"wallet:a" + run, "wallet:b" + run, "wallet:c" + run}
	busy, err := l.Lock(ctx, names[1])
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Unlock(ctx)
	start := time.Now()
	locks, errs := l.TryLocks(ctx, names, 50*time.Millisecond)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("TryLocks took %s for a 50ms wait", took)
	}
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], payment.ErrLockBusy) {
		t.Fatalf("errors %v, want only the held name busy", errs)
	}
	for _, i := range []int{0, 2} {
		if _, err := l.TryLocks(ctx, names[i:i+1], 20*time.Millisecond); !errors.Is(err[0], payment.ErrLockBusy) {
			t.Fatalf("%s taken twice: %v", names[i], err[0])
		}
	}
	if errs := l.UnlockAll(ctx, []payment.Lock{locks[0], locks[2]}); errs[0] != nil || errs[1] != nil {
		t.Fatalf("UnlockAll: %v", errs)
	}
	again, errs := l.TryLocks(ctx, []string{names[0], names[2]}, 20*time.Millisecond)
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("not released: %v", errs)
	}
	l.UnlockAll(ctx, again)
}
