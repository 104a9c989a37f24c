package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/store/storetest"
)

const (
	refundQ = `mutation($k: String!, $o: ID!, $a: Money, $r: String!) {
		cancelPayment(input: {idempotencyKey: $k, orderId: $o, amount: $a, reason: $r}) {
			order { id status refundedAmount }
			payment { id status refundedAmount refunds { id status amount } }
			refund { id status amount paymentId completedAt } } }`
	orderRefundsQ = `query($id: ID!) { order(id: $id) { status refundedAmount
		payments { status refundedAmount refunds { id status amount } } } }`
)

type refundOut struct {
	CancelPayment struct {
		Order struct {
			Status         string
			RefundedAmount int64
		}
		Payment struct {
			ID, Status     string
			RefundedAmount int64
			Refunds        []struct {
				ID, Status string
				Amount     int64
			}
		}
		Refund struct {
			ID, Status, PaymentID string
			Amount                int64
			CompletedAt           *string
		}
	}
}

type orderRefunds struct {
	Order struct {
		Status         string
		RefundedAmount int64
		Payments       []struct {
			Status         string
			RefundedAmount int64
			Refunds        []struct {
				ID, Status string
				Amount     int64
			}
		}
	}
}

func (c *customer) refunds(orderID string) orderRefunds {
	var out orderRefunds
	c.do(orderRefundsQ, map[string]any{"id": orderID}).into(c.s.t, &out)
	return out
}

// refundEnv: the customer waits for a refund's outcome (its bound has a
// test of its own), and the refund job looks again quickly.
func refundEnv(t testing.TB, eng storetest.Engine, extra map[string]string) map[string]string {
	env := map[string]string{"PAGO_REFUND_WAIT": "15s"}
	for k, v := range extra {
		env[k] = v
	}
	return cardEnv(t, eng, env)
}

// payByCard creates alice's order of qty×price and pays it by card.
func (s *testServer) payByCard(c *customer, productID string, qty int, amount int64) string {
	s.t.Helper()
	orderID := c.order(productID, qty)
	key := s.authenticate(orderID, amount, sandbox.CardSuccess)
	var out struct {
		ConfirmPayment struct{ Order struct{ Status string } }
	}
	c.do(confirmQ, map[string]any{"k": "pay-" + orderID, "o": orderID, "pk": key, "a": amount}).into(s.t, &out)
	require.Equal(s.t, "PAID", out.ConfirmPayment.Order.Status)
	return orderID
}

// cancels are the cancels the PG executed for orderID: amount and key.
func (s *testServer) cancels(orderID string) (amounts []int64, keys []string) {
	for _, e := range s.app.sandbox.Record() {
		if e.Op == sandbox.OpCancel && e.OrderID == orderID {
			amounts = append(amounts, e.Amount)
			keys = append(keys, e.IdempotencyKey)
		}
	}
	return amounts, keys
}

// A card payment refunded in two parts (the customer, then an operator for
// the rest), then refused a third: the PG's record holds exactly the two
// cancels, each under a key derived from pago's refund; the order is
// REFUNDED and its stock is back.
func TestCardRefundInParts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, refundEnv(t, eng, nil))
		alice, bob := s.customer("alice"), s.customer("bob")
		ops := &customer{s: s, name: "ops", token: s.token("ops", true)}
		prod := s.product("mug", 15_000, 4)
		orderID := s.payByCard(alice, prod, 2, 30_000)
		require.Equal(t, 2, s.stock(prod))

		// Not someone else's to refund; reason is mandatory.
		require.Equal(t, "NOT_FOUND", bob.do(refundQ, map[string]any{"k": "b1", "o": orderID, "a": 1_000, "r": "mine"}).code())
		require.Equal(t, "BAD_USER_INPUT", alice.do(refundQ, map[string]any{"k": "r0", "o": orderID, "a": 1_000, "r": " "}).code())

		var first refundOut
		alice.do(refundQ, map[string]any{"k": "r1", "o": orderID, "a": 10_000, "r": "one mug broken"}).into(t, &first)
		require.Equal(t, "DONE", first.CancelPayment.Refund.Status)
		require.NotNil(t, first.CancelPayment.Refund.CompletedAt)
		require.Equal(t, "PARTIALLY_REFUNDED", first.CancelPayment.Order.Status)
		require.EqualValues(t, 10_000, first.CancelPayment.Order.RefundedAmount)
		require.Equal(t, "PARTIALLY_CANCELED", first.CancelPayment.Payment.Status)
		require.EqualValues(t, 10_000, first.CancelPayment.Payment.RefundedAmount)
		require.Equal(t, 2, s.stock(prod), "a partial refund keeps the goods sold")

		var rest refundOut
		ops.do(refundQ, map[string]any{"k": "r2", "o": orderID, "r": "customer returned the rest"}).into(t, &rest)
		require.Equal(t, "DONE", rest.CancelPayment.Refund.Status)
		require.EqualValues(t, 20_000, rest.CancelPayment.Refund.Amount, "no amount: the rest")
		require.Equal(t, "REFUNDED", rest.CancelPayment.Order.Status)
		require.Equal(t, "CANCELED", rest.CancelPayment.Payment.Status)
		require.Len(t, rest.CancelPayment.Payment.Refunds, 2)
		require.Equal(t, 4, s.stock(prod), "a full refund returns the stock")

		third := alice.do(refundQ, map[string]any{"k": "r3", "o": orderID, "a": 1, "r": "more"})
		require.Equal(t, "REFUND_EXCEEDS_PAYMENT", third.code())

		amounts, keys := s.cancels(orderID)
		require.Equal(t, []int64{10_000, 20_000}, amounts, "exactly the cancels made")
		require.Equal(t, "pago-refund-"+first.CancelPayment.Refund.ID+"-a1", keys[0])
		require.Equal(t, "pago-refund-"+rest.CancelPayment.Refund.ID+"-a1", keys[1])

		// The key replays the same refund; nothing moves again.
		var again refundOut
		alice.do(refundQ, map[string]any{"k": "r1", "o": orderID, "a": 10_000, "r": "one mug broken"}).into(t, &again)
		require.Equal(t, first.CancelPayment.Refund.ID, again.CancelPayment.Refund.ID)
		require.Equal(t, "REFUNDED", again.CancelPayment.Order.Status, "as it stands now")
		require.Equal(t, 2, s.app.sandbox.CancelCount(orderID))
		s.verify()
	})
}

// A wallet payment goes back to the wallet, even past the wallet's ceiling
// (the ceiling limits charges, not what pago owes back).
func TestWalletRefund(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, refundEnv(t, eng, nil))
		alice := s.customer("alice")
		prod := s.product("tea", 10_000, 3)
		s.fund(alice, 100_000) // at the ceiling
		orderID := alice.order(prod, 1)
		alice.do(payQ, map[string]any{"k": "p1", "o": orderID}).into(t, &struct{}{})
		s.fund(alice, 10_000) // at the ceiling again: 100,000

		var out refundOut
		alice.do(refundQ, map[string]any{"k": "r1", "o": orderID, "r": "changed my mind"}).into(t, &out)
		require.Equal(t, "DONE", out.CancelPayment.Refund.Status)
		require.Equal(t, "REFUNDED", out.CancelPayment.Order.Status)
		require.EqualValues(t, 110_000, alice.balance(), "credited past the ceiling")
		require.Equal(t, 3, s.stock(prod))
		var txs struct {
			WalletTransactions struct {
				Nodes []struct {
					Type    string
					Amount  int64
					OrderID *string
				}
			}
		}
		alice.do(`{ walletTransactions(first: 1) { nodes { type amount orderId } } }`, nil).into(t, &txs)
		require.Equal(t, "REFUND", txs.WalletTransactions.Nodes[0].Type)
		require.EqualValues(t, 10_000, txs.WalletTransactions.Nodes[0].Amount)
		require.Equal(t, orderID, *txs.WalletTransactions.Nodes[0].OrderID)
		require.Equal(t, "REFUND_EXCEEDS_PAYMENT", alice.do(refundQ, map[string]any{"k": "r2", "o": orderID, "r": "again"}).code())
		s.verify()
	})
}

// 50 refunds of "the rest" at once, each with its own key: exactly one
// moves money; the others are REFUND_EXCEEDS_PAYMENT.
func TestConcurrentRefundsOfTheRest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, refundEnv(t, eng, nil))
		alice := s.customer("alice")
		prod := s.product("tea", 12_000, 5)
		orderID := s.payByCard(alice, prod, 1, 12_000)
		var done, exceeded atomic.Int32
		var mu sync.Mutex
		var other []string
		parallel(50, func(i int) {
			r := alice.doUntilAnswered(refundQ, map[string]any{"k": fmt.Sprintf("r%d", i), "o": orderID, "r": "all of it"})
			switch r.code() {
			case "":
				done.Add(1)
			case "REFUND_EXCEEDS_PAYMENT":
				exceeded.Add(1)
			default:
				mu.Lock()
				other = append(other, r.code())
				mu.Unlock()
			}
		})
		require.Empty(t, other)
		require.EqualValues(t, 1, done.Load())
		require.EqualValues(t, 49, exceeded.Load())
		amounts, _ := s.cancels(orderID)
		require.Equal(t, []int64{12_000}, amounts)
		require.Equal(t, "REFUNDED", alice.orderStatus(orderID))
		s.verify()
	})
}

// The same refund key 50 times at once: one refund, one cancel at the PG.
func TestSameRefundKeyConcurrently(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, refundEnv(t, eng, nil))
		alice := s.customer("alice")
		orderID := s.payByCard(alice, s.product("tea", 12_000, 5), 1, 12_000)
		ids := make(chan string, 50)
		parallel(50, func(int) {
			r := alice.doUntilAnswered(refundQ, map[string]any{"k": "same", "o": orderID, "a": 5_000, "r": "half"})
			var out refundOut
			r.into(t, &out)
			ids <- out.CancelPayment.Refund.ID
		})
		close(ids)
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		require.Len(t, seen, 1, "one refund")
		require.Equal(t, 1, s.app.sandbox.CancelCount(orderID))
		require.Eventually(t, func() bool { return alice.orderStatus(orderID) == "PARTIALLY_REFUNDED" }, 20*time.Second, 100*time.Millisecond)
		s.verify()
	})
}

// The PG executes a cancel but its answer is lost: REFUND_IN_DOUBT, then
// DONE by itself from the PG's cancels[], with one cancel at the PG. With
// webhooks on, the PG's CANCELED webhook races the mutation and the job
// for the same refund; either way it is settled once.
func TestLostRefundAnswerSettles(t *testing.T) {
	for _, webhooks := range []bool{false, true} {
		t.Run(fmt.Sprintf("webhooks=%v", webhooks), func(t *testing.T) {
			forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
				s := startServer(t, refundEnv(t, eng, nil))
				if !webhooks {
					s.app.sandbox.SetWebhookURL("")
				}
				alice := s.customer("alice")
				prod := s.product("tea", 12_000, 5)
				orderID := s.payByCard(alice, prod, 1, 12_000)
				require.NoError(t, s.app.sandbox.Faults().Inject(sandbox.Fault{Op: sandbox.OpCancel, OrderID: orderID, Kind: sandbox.CommitThenDrop}))

				r := alice.do(refundQ, map[string]any{"k": "r1", "o": orderID, "r": "lost answer"})
				if webhooks {
					// The webhook may settle it before the mutation answers.
					require.Contains(t, []string{"", "REFUND_IN_DOUBT"}, r.code(), "%+v", r.Errors)
				} else {
					require.Equal(t, "REFUND_IN_DOUBT", r.code(), "%+v", r.Errors)
				}
				require.Eventually(t, func() bool { return alice.orderStatus(orderID) == "REFUNDED" }, 30*time.Second, 100*time.Millisecond)
				s.app.sandbox.Faults().Clear()
				amounts, _ := s.cancels(orderID)
				require.Equal(t, []int64{12_000}, amounts, "refunded exactly once")
				var out refundOut
				alice.do(refundQ, map[string]any{"k": "r1", "o": orderID, "r": "lost answer"}).into(t, &out)
				require.Equal(t, "DONE", out.CancelPayment.Refund.Status)
				require.Len(t, out.CancelPayment.Payment.Refunds, 1)
				require.Equal(t, 5, s.stock(prod))
				s.verify()
			})
		})
	}
}

// Past PAGO_REFUND_WAIT the answer is the refund PENDING; orderUpdated
// then carries the order to REFUNDED live, and ends.
func TestRefundAnswersPendingThenSettles(t *testing.T) {
	s := startServer(t, cardEnv(t, storetest.SQLite(), map[string]string{"PAGO_REFUND_WAIT": "50ms"}))
	alice := s.customer("alice")
	orderID := s.payByCard(alice, s.product("tea", 12_000, 5), 1, 12_000)
	require.NoError(t, s.app.sandbox.Faults().Inject(sandbox.Fault{Op: sandbox.OpCancel, OrderID: orderID, Kind: sandbox.Latency,
		Latency: 500 * time.Millisecond, Times: 1}))
	var out refundOut
	alice.do(refundQ, map[string]any{"k": "r1", "o": orderID, "r": "slow PG"}).into(t, &out)
	require.Equal(t, "PENDING", out.CancelPayment.Refund.Status)
	require.Equal(t, "PAID", out.CancelPayment.Order.Status)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	updates, err := s.subscribe(ctx, alice.token, `subscription($id: ID!) { orderUpdated(orderId: $id) { status refundedAmount } }`,
		map[string]any{"id": orderID})
	require.NoError(t, err)
	var last string
	for p := range updates {
		var v struct {
			Data struct{ OrderUpdated struct{ Status string } }
		}
		require.NoError(t, json.Unmarshal(p, &v), string(p))
		last = v.Data.OrderUpdated.Status
	}
	require.NoError(t, ctx.Err(), "the subscription ends once the refund is done")
	require.Equal(t, "REFUNDED", last, "carried live to REFUNDED")
	got := alice.refunds(orderID)
	require.Equal(t, "DONE", got.Order.Payments[0].Refunds[0].Status)
	require.Equal(t, 1, s.app.sandbox.CancelCount(orderID))
	s.verify()
}

// Refunds of what cannot be refunded are refused, with nothing recorded.
func TestRefundRefusals(t *testing.T) {
	s := startServer(t, refundEnv(t, storetest.SQLite(), nil))
	alice := s.customer("alice")
	prod := s.product("tea", 12_000, 5)
	pending := alice.order(prod, 1)
	require.Equal(t, "INVALID_STATE", alice.do(refundQ, map[string]any{"k": "a", "o": pending, "r": "x"}).code())
	orderID := s.payByCard(alice, prod, 1, 12_000)
	r := alice.do(refundQ, map[string]any{"k": "b", "o": orderID, "a": 12_001, "r": "too much"})
	require.Equal(t, "REFUND_EXCEEDS_PAYMENT", r.code())
	require.Equal(t, "BAD_USER_INPUT", alice.do(refundQ, map[string]any{"k": "c", "o": orderID, "a": 0, "r": "zero"}).code())
	require.Equal(t, "BAD_USER_INPUT", alice.do(refundQ, map[string]any{"k": "d", "o": orderID, "a": 1, "r": strings.Repeat("x", 201)}).code())
	got := alice.refunds(orderID)
	require.Equal(t, "PAID", got.Order.Status)
	require.Empty(t, got.Order.Payments[0].Refunds, "nothing recorded")
	require.Zero(t, s.app.sandbox.CancelCount(orderID))
	s.verify()
}
