package payment

import (
	"context"
	"sync"
	"time"
)

// OrderFeed tells which orders changed status, on this instance or another
// (store: LISTEN/NOTIFY on PostgreSQL, in-process plus a once-a-second look
// on SQLite).
type OrderFeed interface {
	// ListenOrders calls changed with the id of each order whose status
	// changed until ctx ends; resync when changes may have been missed (at
	// the start, after a lost connection); lost with each such loss.
	// changed and resync must not block.
	ListenOrders(ctx context.Context, changed func(orderID string), resync func(), lost func(error))
}

// orderHub fans one feed out to every orderUpdated subscriber of this
// instance. The database work is per change, not per subscriber: a changed
// order that anyone here watches is read once and handed to all its
// watchers; an order nobody watches costs nothing.
type orderHub struct {
	s     *Service
	mu    sync.Mutex
	subs  map[string]map[*orderSub]struct{}
	dirty map[string]struct{} // watched orders to read again
	wake  chan struct{}       // cap 1: dirty has something
}

// orderSub is one subscriber's mailbox: the latest order read, at most one.
type orderSub struct{ mail chan Order }

func (m *orderSub) put(o Order) {
	for {
		select {
		case m.mail <- o:
			return
		default:
		}
		select {
		case <-m.mail: // drop the older one: only the latest matters
		default:
		}
	}
}

// WatchOrders serves WatchOrder from feed instead of polling, until ctx
// ends; call it once, before subscriptions start.
func (s *Service) WatchOrders(ctx context.Context, feed OrderFeed) {
	h := &orderHub{s: s, subs: map[string]map[*orderSub]struct{}{}, dirty: map[string]struct{}{}, wake: make(chan struct{}, 1)}
	s.hubMu.Lock()
	s.hub = h
	s.hubMu.Unlock()
	go h.readLoop(ctx)
	go feed.ListenOrders(ctx, h.changed, h.resync, func(err error) {
		s.log.WarnContext(ctx, "order feed lost; reconnecting", "err", err)
	})
}

func (h *orderHub) changed(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, watched := h.subs[id]; watched {
		h.markLocked(id)
	}
}

func (h *orderHub) resync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.subs {
		h.markLocked(id)
	}
}

func (h *orderHub) markLocked(id string) {
	h.dirty[id] = struct{}{}
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// readLoop reads each dirty order once and hands it to its watchers.
func (h *orderHub) readLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		h.mu.Lock()
		ids := make([]string, 0, len(h.dirty))
		for id := range h.dirty {
			ids = append(ids, id)
		}
		clear(h.dirty)
		h.mu.Unlock()
		for _, id := range ids {
			o, err := h.s.store.Order(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				h.s.log.WarnContext(ctx, "watch order", "order", id, "err", err)
				continue
			}
			h.mu.Lock()
			for sub := range h.subs[id] {
				sub.put(o)
			}
			h.mu.Unlock()
		}
	}
}

func (h *orderHub) add(id string) *orderSub {
	sub := &orderSub{mail: make(chan Order, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[id] == nil {
		h.subs[id] = map[*orderSub]struct{}{}
	}
	h.subs[id][sub] = struct{}{}
	// A change between the subscriber's first read and now would be lost:
	// read the order again, once for every subscriber that joins meanwhile.
	h.markLocked(id)
	return sub
}

func (h *orderHub) remove(id string, sub *orderSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[id], sub)
	if len(h.subs[id]) == 0 {
		delete(h.subs, id)
	}
}

// WatchOrder sends the order now, then again every time its status (or
// update time) changes, until the order is final or ctx ends. Served by the
// instance's feed when WatchOrders runs; otherwise (tools, tests without a
// feed) by reading the order every `every` (default 500 ms).
func (s *Service) WatchOrder(ctx context.Context, orderID string, every time.Duration) (<-chan Order, error) {
	o, err := s.Order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	s.hubMu.Lock()
	h := s.hub
	s.hubMu.Unlock()
	if h == nil {
		return s.pollOrder(ctx, o, every), nil
	}
	// A paid order with a refund in flight still changes: follow it too.
	settled := func(o Order) bool { return o.Status.Final() && !s.refunding(ctx, o) }
	out := make(chan Order, 1)
	out <- o
	if settled(o) {
		close(out)
		return out, nil
	}
	sub := h.add(orderID)
	go func() {
		defer close(out)
		defer h.remove(orderID, sub)
		last := o
		for !settled(last) {
			var cur Order
			select {
			case <-ctx.Done():
				return
			case cur = <-sub.mail:
			}
			if cur.UpdatedAt.Before(last.UpdatedAt) || (cur.Status == last.Status && cur.UpdatedAt.Equal(last.UpdatedAt)) {
				continue // older than, or the same as, what was sent
			}
			select {
			case out <- cur:
				last = cur
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
