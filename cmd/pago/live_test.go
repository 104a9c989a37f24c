package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/store/storetest"
)

// subscribe opens a graphql-transport-ws subscription as token's user and
// returns its messages' payloads.
func (s *testServer) subscribe(ctx context.Context, token, query string, vars map[string]any) (<-chan json.RawMessage, error) {
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, err
	}
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + token}}); err != nil {
		return nil, err
	}
	var ack struct{ Type string }
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack.Type != "connection_ack" {
		return nil, fmt.Errorf("no ack: %v %q", err, ack.Type)
	}
	if err := wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}}); err != nil {
		return nil, err
	}
	out := make(chan json.RawMessage)
	go func() {
		defer close(out)
		defer conn.CloseNow()
		for {
			var msg struct {
				Type    string
				Payload json.RawMessage
			}
			if err := wsjson.Read(ctx, conn, &msg); err != nil {
				return
			}
			switch msg.Type {
			case "next", "error":
				out <- msg.Payload
			case "complete":
				return
			}
		}
	}()
	return out, nil
}

func TestOrderUpdatedSubscription(t *testing.T) {
	s := startServer(t, cardEnv(t, storetest.SQLite(), nil))
	alice := s.customer("alice")
	s.fund(alice, 20_000)
	orderID := alice.order(s.product("tea", 12_000, 5), 1)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	updates, err := s.subscribe(ctx, alice.token, `subscription($id: ID!) { orderUpdated(orderId: $id) { id status } }`, map[string]any{"id": orderID})
	require.NoError(t, err)
	status := func() string {
		select {
		case p, ok := <-updates:
			require.True(t, ok, "subscription ended early")
			var v struct {
				Data struct{ OrderUpdated struct{ Status string } }
			}
			require.NoError(t, json.Unmarshal(p, &v), string(p))
			return v.Data.OrderUpdated.Status
		case <-ctx.Done():
			t.Fatal("no update")
			return ""
		}
	}
	require.Equal(t, "PENDING", status())
	alice.do(payQ, map[string]any{"k": "p", "o": orderID}).into(t, &struct{}{})
	require.Equal(t, "PAID", status())
	_, open := <-updates
	require.False(t, open, "a final order ends the subscription")

	// Another user cannot watch alice's order.
	bob := s.customer("bob")
	other, err := s.subscribe(ctx, bob.token, `subscription($id: ID!) { orderUpdated(orderId: $id) { id status } }`, map[string]any{"id": orderID})
	require.NoError(t, err)
	p := <-other
	require.Contains(t, string(p), "NOT_FOUND")
}

// The standalone sandbox on its own port works the same as the in-process one.
func TestStandaloneSandbox(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"sandbox", "--addr", addr}, getenvFrom(nil), io.Discard, io.Discard) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)

	s := startServer(t, cardEnv(t, storetest.SQLite(), map[string]string{"PAGO_PG_BASE_URL": "http://" + addr}))
	require.Nil(t, s.app.sandbox, "nothing mounted in-process when the PG is elsewhere")
	alice := s.customer("alice")
	orderID := alice.order(s.product("tea", 12_000, 5), 1)

	var auth struct{ PaymentKey string }
	postJSON(t, "http://"+addr+"/_sandbox/authenticate", map[string]any{"orderId": orderID, "orderName": "tea", "amount": 12_000, "card": sandbox.CardSuccess}, &auth)
	var out struct {
		ConfirmPayment struct{ Order struct{ Status string } }
	}
	alice.do(confirmQ, map[string]any{"k": "c", "o": orderID, "pk": auth.PaymentKey, "a": 12_000}).into(t, &out)
	require.Equal(t, "PAID", out.ConfirmPayment.Order.Status)
	s.verify()
}

func postJSON(t testing.TB, url string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := httpClient.Post(url, "application/json", strings.NewReader(string(b)))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, string(raw))
	require.NoError(t, json.Unmarshal(raw, out))
}

// orderUpdated over Server-Sent Events (graphql-sse, distinct connections):
// the same updates as over the websocket, for clients that cannot use one.
func TestOrderUpdatedOverSSE(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, testEnv(t, eng, nil))
		alice := s.customer("alice")
		s.fund(alice, 20_000)
		orderID := alice.order(s.product("tea", 12_000, 5), 1)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		body, _ := json.Marshal(map[string]any{
			"query":     `subscription($id: ID!) { orderUpdated(orderId: $id) { id status } }`,
			"variables": map[string]any{"id": orderID},
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+alice.token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/event-stream")

		events := make(chan string)
		go func() {
			defer close(events)
			sc := bufio.NewScanner(resp.Body)
			event := ""
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "event: "):
					event = strings.TrimPrefix(line, "event: ")
					if event == "complete" {
						events <- "complete"
					}
				case strings.HasPrefix(line, "data: ") && event == "next":
					var v struct {
						Data struct{ OrderUpdated struct{ Status string } }
					}
					if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &v) == nil {
						events <- v.Data.OrderUpdated.Status
					}
				}
			}
		}()
		next := func() string {
			select {
			case e := <-events:
				return e
			case <-ctx.Done():
				t.Fatal("no event")
				return ""
			}
		}
		require.Equal(t, "PENDING", next())
		alice.do(payQ, map[string]any{"k": "p", "o": orderID}).into(t, &struct{}{})
		require.Equal(t, "PAID", next())
		require.Equal(t, "complete", next(), "a final order completes the stream")
	})
}
