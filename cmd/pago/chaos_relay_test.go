package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pago/pago/store/storetest"
)

// relay stands between the sandbox's webhooks and the pago instances, the
// way a load balancer does, and disturbs them on request: a delivery can be
// duplicated (to both instances at once), delayed, or held back until the
// next one has been delivered (out of order). It also forges deliveries.
// It answers the sandbox 200 at once and then keeps trying live instances
// for a while, so an instance being down loses no webhook by itself.
type relay struct {
	c      *cluster
	url    string
	srv    *http.Server
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc

	mu                      sync.Mutex
	dup, delay, reorder     int   // deliveries still to disturb, by kind
	held                    *hook // the delivery held back for reordering
	received, forwarded     int
	inflight                int // deliveries not yet settled
	undeliverable, rejected int
}

// hook is one webhook delivery.
type hook struct {
	body   []byte
	header http.Header
}

func newRelay(c *cluster) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &relay{c: c, url: "http://" + ln.Addr().String() + "/webhooks/pg", ctx: ctx, cancel: cancel,
		client: &http.Client{Timeout: 5 * time.Second}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := &hook{body: body, header: http.Header{}}
	for k, v := range req.Header {
		if strings.HasPrefix(strings.ToLower(k), "tosspayments-") || k == "Content-Type" {
			h.header[k] = v
		}
	}
	r.mu.Lock()
	r.received++
	var release *hook
	copies, delay := 1, time.Duration(0)
	switch {
	case r.reorder > 0 && r.held == nil:
		r.reorder--
		r.held = h
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	case r.dup > 0:
		r.dup--
		copies = 2
	case r.delay > 0:
		r.delay--
		delay = time.Duration(500+rand.IntN(2500)) * time.Millisecond
	}
	release, r.held = r.held, nil
	r.mu.Unlock()
	for range copies {
		r.send(h, delay)
	}
	if release != nil {
		// Delivered after the newer one: out of order.
		r.send(release, delay+300*time.Millisecond)
	}
	w.WriteHeader(http.StatusOK)
}

// send forwards h after delay, retrying live instances for up to 30 s.
func (r *relay) send(h *hook, delay time.Duration) {
	r.count(func() { r.inflight++ })
	go func() {
		defer r.count(func() { r.inflight-- })
		select {
		case <-time.After(delay):
		case <-r.ctx.Done():
			return
		}
		for range 60 {
			if r.ctx.Err() != nil {
				return
			}
			live := r.c.live()
			if len(live) > 0 {
				p := live[rand.IntN(len(live))]
				status, err := r.post(p.url+"/webhooks/pg", h)
				if err == nil && status == http.StatusOK {
					r.count(func() { r.forwarded++ })
					return
				}
				if err == nil && status == http.StatusBadRequest {
					r.count(func() { r.rejected++ })
					return
				}
			}
			select {
			case <-time.After(500 * time.Millisecond):
			case <-r.ctx.Done():
				return
			}
		}
		r.count(func() { r.undeliverable++ })
	}()
}

func (r *relay) post(url string, h *hook) (int, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodPost, url, bytes.NewReader(h.body))
	if err != nil {
		return 0, err
	}
	req.Header = h.header.Clone()
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (r *relay) count(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
}

// disturb arms the next n deliveries with a fault kind.
func (r *relay) disturb(kind string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch kind {
	case faultWebhookDup:
		r.dup += n
	case faultWebhookDelay:
		r.delay += n
	case faultWebhookReorder:
		r.reorder += n
	default:
		panic("relay cannot " + kind)
	}
}

// forge posts a webhook no PG sent, claiming the payment is DONE: pago must
// re-fetch the payment rather than believe it.
func (r *relay) forge(paymentKey, orderID string, amount int64) {
	data, _ := json.Marshal(map[string]any{
		"paymentKey": paymentKey, "orderId": orderID, "status": "DONE",
		"totalAmount": amount, "balanceAmount": amount, "method": "카드",
		"approvedAt": time.Now().Format("2006-01-02T15:04:05-07:00"),
	})
	body, _ := json.Marshal(map[string]any{
		"eventType": "PAYMENT_STATUS_CHANGED",
		"createdAt": time.Now().Format("2006-01-02T15:04:05.000000"),
		"data":      json.RawMessage(data),
	})
	h := &hook{body: body, header: http.Header{
		"Content-Type":                         {"application/json"},
		"Tosspayments-Webhook-Transmission-Id": {"forged_" + storetest.RandomHex(8)},
	}}
	r.send(h, 0)
}

// flush delivers a held delivery now and waits for every delivery in flight.
func (r *relay) flush() {
	r.mu.Lock()
	held := r.held
	r.held, r.dup, r.delay, r.reorder = nil, 0, 0, 0
	r.mu.Unlock()
	if held != nil {
		r.send(held, 0)
	}
	r.waitIdle(time.Minute)
}

// waitIdle waits until no delivery is in flight, or timeout.
func (r *relay) waitIdle(timeout time.Duration) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r.mu.Lock()
		n := r.inflight
		r.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

func (r *relay) stats() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("received %d, forwarded %d, rejected %d, undeliverable %d",
		r.received, r.forwarded, r.rejected, r.undeliverable)
}

func (r *relay) close() {
	r.cancel()
	_ = r.srv.Close()
	r.waitIdle(10 * time.Second)
}
