package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// orderStatusChannel is the PostgreSQL channel migration 008's trigger
// notifies with the id of every order whose status changed.
const orderStatusChannel = "pago_order_status"

// sqlitePollEvery is how often an instance on SQLite looks for order
// changes made by another process on the same file.
const sqlitePollEvery = time.Second

// localFeed announces the order status changes this process commits (on
// SQLite, which has no NOTIFY).
type localFeed struct {
	mu        sync.Mutex
	listeners map[int]func(orderID string)
	next      int
}

func (f *localFeed) publish(ids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fn := range f.listeners {
		for _, id := range ids {
			fn(id)
		}
	}
}

func (f *localFeed) add(fn func(string)) (remove func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := f.next
	f.listeners[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.listeners, id)
	}
}

// orderChanged records that id's status changed: at commit of the open
// transaction, or now outside one. PostgreSQL's trigger does it there.
func (s *Store) orderChanged(id string) {
	if s.engine != SQLite {
		return
	}
	if s.tx != nil {
		*s.changed = append(*s.changed, id)
		return
	}
	s.local.publish([]string{id})
}

// ListenOrders implements payment.OrderFeed: it calls changed with the id
// of every order whose status changed, on this instance or another, until
// ctx ends; resync when changes may have been missed (at the start, and
// after the connection that listens was lost); lost with each such loss.
// changed and resync must not block.
//
// PostgreSQL: one connection per instance LISTENs on the channel the
// orders trigger notifies in the changing transaction, whatever instance
// made the change. SQLite has no NOTIFY: this process's changes are
// announced when they commit, and another process's are found by one query
// a second on orders.updated_at — so they arrive up to a second late.
func (s *Store) ListenOrders(ctx context.Context, changed func(orderID string), resync func(), lost func(error)) {
	if s.engine == SQLite {
		s.listenSQLite(ctx, changed, resync, lost)
		return
	}
	for ctx.Err() == nil {
		err := s.listenPostgres(ctx, changed, resync)
		if ctx.Err() != nil {
			return
		}
		lost(err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenPostgres(ctx context.Context, changed func(string), resync func()) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return fmt.Errorf("connect to listen: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+orderStatusChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	resync()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		changed(n.Payload)
	}
}

func (s *Store) listenSQLite(ctx context.Context, changed func(string), resync func(), lost func(error)) {
	defer s.local.add(changed)()
	resync()
	// Rows updated in the last window are looked at again: a transaction
	// that stamped updated_at earlier may commit after a later one.
	const window = 10 * time.Second
	seen := map[string]time.Time{}
	since := time.Now().UTC().Add(-window)
	t := time.NewTicker(sqlitePollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var rows []struct {
			ID        string    `bun:"id"`
			UpdatedAt time.Time `bun:"updated_at"`
		}
		err := s.db.NewSelect().Table("orders").Column("id", "updated_at").
			Where("updated_at > ?", since.Add(-window)).Scan(ctx, &rows)
		if err != nil {
			if ctx.Err() == nil {
				lost(fmt.Errorf("look for order changes: %w", err))
			}
			continue
		}
		for _, r := range rows {
			at := r.UpdatedAt.UTC()
			if prev, ok := seen[r.ID]; ok && prev.Equal(at) {
				continue
			}
			seen[r.ID] = at
			if at.After(since) {
				since = at
			}
			changed(r.ID)
		}
		for id, at := range seen {
			if at.Before(since.Add(-2 * window)) {
				delete(seen, id)
			}
		}
	}
}
