package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

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

// TryLocks with one Redis tries every name in one pipeline: one connection
// however many names, where trying each in its own goroutine opened one per
// name. With wait 0 it tries once: a held name is busy at once.
func TestLockerTriesSeveralInOneRoundTrip(t *testing.T) {
	l := openTestLocker(t, time.Minute)
	ctx := context.Background()
	names := make([]string, 8)
	for i := range names {
		names[i] = fmt.Sprintf("wallet:%d", i)
	}
	busy, err := l.Lock(ctx, names[3])
	if err != nil {
		t.Fatal(err)
	}
	before := l.mini.TotalConnectionCount()
	start := time.Now()
	locks, errs := l.TryLocks(ctx, names, 0)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("TryLocks with wait 0 took %s", took)
	}
	if opened := l.mini.TotalConnectionCount() - before; opened > 1 {
		t.Fatalf("TryLocks opened %d connections to Redis for %d names, want at most 1", opened, len(names))
	}
	for i, err := range errs {
		if (i == 3) != (err != nil) {
			t.Fatalf("name %d: %v; want only the held name refused", i, err)
		}
	}
	if !errors.Is(errs[3], payment.ErrLockBusy) {
		t.Fatalf("the held name: %v, want ErrLockBusy", errs[3])
	}
	for i, lock := range locks {
		if i != 3 && time.Until(lock.Until()) < 50*time.Second {
			t.Fatalf("lock %d lapses at %s, want about a minute from now", i, lock.Until())
		}
	}
	// Held: neither a lock nor another try gets them.
	if _, err := l.TryLocks(ctx, names[:1], 20*time.Millisecond); !errors.Is(err[0], payment.ErrLockBusy) {
		t.Fatalf("%s taken twice: %v", names[0], err[0])
	}
	got := append(locks[:3:3], locks[4:]...)
	before = l.mini.TotalConnectionCount()
	for i, err := range l.UnlockAll(ctx, got) {
		if err != nil {
			t.Fatalf("unlock %d: %v", i, err)
		}
	}
	if opened := l.mini.TotalConnectionCount() - before; opened > 1 {
		t.Fatalf("UnlockAll opened %d connections to Redis for %d locks, want at most 1", opened, len(got))
	}
	for _, name := range names {
		if name != names[3] && l.mini.Exists("test:"+name) {
			t.Fatalf("%s still locked after UnlockAll", name)
		}
	}
	must(t, busy.Unlock(ctx))
}

// A lock whose lease lapsed and was taken by another is left to that other:
// unlocking it fails and deletes nothing.
func TestLockerUnlockLeavesAnotherHoldersLock(t *testing.T) {
	l := openTestLocker(t, time.Minute)
	ctx := context.Background()
	locks, errs := l.TryLocks(ctx, []string{"wallet:x", "wallet:y"}, 0)
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	l.mini.FastForward(2 * time.Minute) // both leases lapse
	other, err := l.Lock(ctx, "wallet:x")
	if err != nil {
		t.Fatal(err)
	}
	errs = l.UnlockAll(ctx, locks)
	if errs[0] == nil || errs[1] == nil {
		t.Fatalf("unlocking lapsed locks: %v, want errors", errs)
	}
	if !l.mini.Exists("test:wallet:x") {
		t.Fatal("unlocking a lapsed lock deleted the new holder's")
	}
	must(t, other.Unlock(ctx))
}

// BenchmarkLockerTryLocks takes and releases the locks of 8 wallets on the
// real Redis, in turns: each name in its own goroutine (each, the way
// before) and TryLocks with UnlockAll (pipelined). pipelined/each is the
// ratio to read.
func BenchmarkLockerTryLocks(b *testing.B) {
	if _, ok := storetest.Postgres(b); !ok { // the real services, Redis among them
		b.Skip("no Redis")
	}
	ctx := context.Background()
	l, err := OpenLocker(ctx, LockerConfig{URLs: []string{"redis://127.0.0.1:6379/0"}, Prefix: storetest.RedisPrefix(), Expiry: time.Minute, MaxWait: time.Second})
	must(b, err)
	defer l.Close()
	names := make([]string, 8)
	for i := range names {
		names[i] = fmt.Sprintf("wallet:%d", i)
	}
	each := func() {
		locks := make([]payment.Lock, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Go(func() {
				var err error
				locks[i], err = l.tryLock(ctx, name, 10*time.Millisecond)
				must(b, err)
			})
		}
		wg.Wait()
		for _, lock := range locks {
			wg.Go(func() { must(b, lock.Unlock(ctx)) })
		}
		wg.Wait()
	}
	pipelined := func() {
		locks, errs := l.TryLocks(ctx, names, 10*time.Millisecond)
		for _, err := range errs {
			must(b, err)
		}
		for _, err := range l.UnlockAll(ctx, locks) {
			must(b, err)
		}
	}
	var took [2]time.Duration
	i := 0
	for b.Loop() {
		for _, way := range [2]int{i % 2, 1 - i%2} {
			t0 := time.Now()
			[2]func(){each, pipelined}[way]()
			took[way] += time.Since(t0)
		}
		i++
	}
	b.ReportMetric(float64(took[0].Microseconds())/float64(i), "each-µs")
	b.ReportMetric(float64(took[1].Microseconds())/float64(i), "pipelined-µs")
	b.ReportMetric(float64(took[1])/float64(took[0]), "pipelined/each")
}

// A pipeline whose reply is lost is sent again by the client, and its SET
// NX then finds the value it set the first time: TryLocks must count those
// locks as its own (or release them), never leave them held by nobody
// until their lease lapses.
func TestLockerLeavesNoLockWhenAReplyIsLost(t *testing.T) {
	m := miniredis.RunT(t)
	var drop atomic.Bool
	l, err := OpenLocker(context.Background(), LockerConfig{URLs: []string{"redis://" + replyDropper(t, m.Addr(), &drop)}, Prefix: "t:",
		Expiry: time.Minute, MaxWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	names := []string{"wallet:a", "wallet:b"}
	drop.Store(true)
	locks, _ := l.TryLocks(ctx, names, 0)
	if drop.Load() {
		t.Fatal("the reply was not dropped: the test proves nothing")
	}
	for i, name := range names {
		if locks[i] == nil && m.Exists("t:"+name) {
			t.Fatalf("%s is locked, but not by the caller of TryLocks", name)
		}
		if locks[i] != nil {
			must(t, locks[i].Unlock(ctx))
		}
	}
	for _, name := range names {
		lock, err := l.Lock(ctx, name)
		if err != nil {
			t.Fatalf("%s after TryLocks let go: %v", name, err)
		}
		must(t, lock.Unlock(ctx))
	}
}

// replyDropper is a proxy to the Redis at target that, once drop is set,
// passes the next request holding a SET on but swallows Redis's reply and
// closes the connection: the command was applied, and its answer lost.
func replyDropper(t *testing.T, target string, drop *atomic.Bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			var dropping atomic.Bool
			go func() {
				defer s.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if bytes.Contains(bytes.ToLower(buf[:n]), []byte("$3\r\nset\r\n")) && drop.CompareAndSwap(true, false) {
							dropping.Store(true)
						}
						s.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 && dropping.Load() {
						s.Close()
						return
					}
					if n > 0 {
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
