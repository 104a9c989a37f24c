package main

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/store/storetest"
)

const (
	splitQ = `mutation($k: String!, $o: ID!, $w: Money!) {
		startSplitPayment(input: {idempotencyKey: $k, orderId: $o, walletAmount: $w}) {
			cardAmount order { id status } payment { id method status amount walletAmount } } }`
	walletTxsQ = `{ walletTransactions(first: 10) { nodes { type amount balanceAfter orderId holdStatus } } }`
)

type walletTx struct {
	Type         string
	Amount       int64
	BalanceAfter int64
	OrderID      *string
	HoldStatus   *string
}

func (c *customer) walletTxs() []walletTx {
	var out struct {
		WalletTransactions struct{ Nodes []walletTx }
	}
	c.do(walletTxsQ, nil).into(c.s.t, &out)
	return out.WalletTransactions.Nodes
}

// holdOf is the HOLD transaction of orderID, and whether there is a RELEASE.
func holdOf(txs []walletTx, orderID string) (hold walletTx, released bool) {
	for _, t := range txs {
		if t.OrderID == nil || *t.OrderID != orderID {
			continue
		}
		switch t.Type {
		case "HOLD":
			hold = t
		case "RELEASE":
			released = true
		}
	}
	return hold, released
}

func (c *customer) startSplit(orderID string, wallet int64) (cardAmount int64, resp gqlResponse) {
	resp = c.do(splitQ, map[string]any{"k": "s-" + orderID + fmt.Sprint(wallet), "o": orderID, "w": wallet})
	if resp.code() != "" {
		return 0, resp
	}
	var out struct {
		StartSplitPayment struct {
			CardAmount int64
			Payment    struct {
				Method       string
				Status       string
				WalletAmount int64
			}
		}
	}
	resp.into(c.s.t, &out)
	require.Equal(c.s.t, "SPLIT", out.StartSplitPayment.Payment.Method)
	require.Equal(c.s.t, "PENDING", out.StartSplitPayment.Payment.Status)
	require.Equal(c.s.t, wallet, out.StartSplitPayment.Payment.WalletAmount)
	return out.StartSplitPayment.CardAmount, resp
}

// A split payment: the hold shows in walletTransactions and takes the
// balance at once; the card pays the rest; the hold is then posted.
func TestSplitPayment(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, nil))
		alice := s.customer("alice")
		s.fund(alice, 20_000)
		orderID := alice.order(s.product("mug", 24_000, 3), 1)

		card, _ := alice.startSplit(orderID, 10_000)
		require.EqualValues(t, 14_000, card)
		require.EqualValues(t, 10_000, alice.balance(), "the hold leaves the balance at once")
		hold, released := holdOf(alice.walletTxs(), orderID)
		require.EqualValues(t, -10_000, hold.Amount)
		require.Equal(t, "OPEN", *hold.HoldStatus)
		require.False(t, released)
		s.verify()

		key := s.authenticate(orderID, 14_000, sandbox.CardSuccess)
		require.Equal(t, "AMOUNT_MISMATCH", alice.do(confirmQ, map[string]any{"k": "c0", "o": orderID, "pk": key, "a": 24_000}).code(),
			"the card pays the card part")
		var out struct {
			ConfirmPayment struct {
				Order   struct{ Status string }
				Payment struct{ Status string }
			}
		}
		alice.do(confirmQ, map[string]any{"k": "c1", "o": orderID, "pk": key, "a": 14_000}).into(t, &out)
		require.Equal(t, "PAID", out.ConfirmPayment.Order.Status)
		require.Equal(t, "DONE", out.ConfirmPayment.Payment.Status)
		hold, released = holdOf(alice.walletTxs(), orderID)
		require.Equal(t, "POSTED", *hold.HoldStatus)
		require.False(t, released)
		require.EqualValues(t, 10_000, alice.balance())
		require.Equal(t, 1, s.app.sandbox.ConfirmCount(orderID))
		// A second split of a paid order is refused.
		_, resp := alice.startSplit(orderID, 1_000)
		require.Equal(t, "INVALID_STATE", resp.code())
		s.verify()
	})
}

// A split whose card is declined: the hold is released and the balance is
// whole again.
func TestSplitDeclinedReleasesTheHold(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, nil))
		alice := s.customer("alice")
		s.fund(alice, 20_000)
		prod := s.product("mug", 24_000, 3)
		orderID := alice.order(prod, 1)
		card, _ := alice.startSplit(orderID, 15_000)
		key := s.authenticate(orderID, card, sandbox.CardDeclined)
		resp := alice.do(confirmQ, map[string]any{"k": "c1", "o": orderID, "pk": key, "a": card})
		require.Equal(t, "PAYMENT_DECLINED", resp.code())
		require.Equal(t, "FAILED", alice.orderStatus(orderID))
		require.EqualValues(t, 20_000, alice.balance(), "balance whole")
		hold, released := holdOf(alice.walletTxs(), orderID)
		require.Equal(t, "RELEASED", *hold.HoldStatus)
		require.True(t, released)
		require.Equal(t, 3, s.stock(prod))
		s.verify()
	})
}

// A split whose order is cancelled, expires, or is paid from the wallet
// instead: the hold is released each time, exactly once.
func TestSplitReleasedWithoutCard(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, map[string]string{"PAGO_ORDER_TTL": "3s"}))
		alice := s.customer("alice")
		s.fund(alice, 30_000)
		prod := s.product("mug", 12_000, 10)

		canceled := alice.order(prod, 1)
		alice.startSplit(canceled, 5_000)
		alice.do(cancelQ, map[string]any{"k": "x1", "o": canceled}).into(t, &struct{}{})
		hold, released := holdOf(alice.walletTxs(), canceled)
		require.Equal(t, "RELEASED", *hold.HoldStatus)
		require.True(t, released)
		require.EqualValues(t, 30_000, alice.balance())

		instead := alice.order(prod, 1)
		alice.startSplit(instead, 5_000)
		alice.do(payQ, map[string]any{"k": "p1", "o": instead}).into(t, &struct{}{})
		require.EqualValues(t, 18_000, alice.balance(), "the hold back, then all of it paid from the wallet")
		hold, _ = holdOf(alice.walletTxs(), instead)
		require.Equal(t, "RELEASED", *hold.HoldStatus)

		expiring := alice.order(prod, 1)
		alice.startSplit(expiring, 4_000)
		require.EqualValues(t, 14_000, alice.balance())
		require.Eventually(t, func() bool { return alice.orderStatus(expiring) == "EXPIRED" }, 30*time.Second, 100*time.Millisecond)
		require.EqualValues(t, 18_000, alice.balance(), "released on expiry")
		hold, released = holdOf(alice.walletTxs(), expiring)
		require.Equal(t, "RELEASED", *hold.HoldStatus)
		require.True(t, released)
		s.verify()
	})
}

// Splits racing for the same balance: holds count against it, so the
// wallet never gives the same won twice; one order takes one hold.
func TestSplitsRaceForTheBalance(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, nil))
		alice := s.customer("alice")
		s.fund(alice, 10_000)
		prod := s.product("mug", 12_000, 20)
		orders := make([]string, 8)
		for i := range orders {
			orders[i] = alice.order(prod, 1)
		}
		var mu sync.Mutex
		codes := map[string]int{}
		parallel(len(orders), func(i int) {
			r := alice.doUntilAnswered(splitQ, map[string]any{"k": fmt.Sprintf("race-%d", i), "o": orders[i], "w": 6_000})
			mu.Lock()
			codes[r.code()]++
			mu.Unlock()
		})
		require.Equal(t, map[string]int{"": 1, "INSUFFICIENT_BALANCE": len(orders) - 1}, codes)
		require.EqualValues(t, 4_000, alice.balance())

		// Two splits of one order with different keys: one hold.
		one := alice.order(prod, 1)
		codes = map[string]int{}
		parallel(6, func(i int) {
			r := alice.doUntilAnswered(splitQ, map[string]any{"k": fmt.Sprintf("one-%d", i), "o": one, "w": 1_000})
			mu.Lock()
			codes[r.code()]++
			mu.Unlock()
		})
		require.Equal(t, map[string]int{"": 1, "INVALID_STATE": 5}, codes)
		require.EqualValues(t, 3_000, alice.balance())
		// Other wallet operations see the held balance too.
		small := alice.order(s.product("tea", 3_500, 5), 1)
		require.Equal(t, "INSUFFICIENT_BALANCE", alice.do(payQ, map[string]any{"k": "p", "o": small}).code())
		s.verify()
	})
}

// The card part's confirm is committed at the PG but its answer is lost:
// the split is IN_DOUBT with its hold still OPEN, and the probe settles it
// from the PG's record, posting the hold in the same transaction.
func TestSplitInDoubtSettlesByItself(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, cardEnv(t, eng, nil))
		s.app.sandbox.SetWebhookURL("") // the probe alone
		alice := s.customer("alice")
		s.fund(alice, 20_000)
		orderID := alice.order(s.product("mug", 24_000, 3), 1)
		card, _ := alice.startSplit(orderID, 10_000)
		key := s.authenticate(orderID, card, sandbox.CardSuccess)
		require.NoError(t, s.app.sandbox.Faults().Inject(sandbox.Fault{Op: sandbox.OpConfirm, OrderID: orderID, Kind: sandbox.CommitThenDrop}))
		require.Equal(t, "PAYMENT_IN_DOUBT", alice.do(confirmQ, map[string]any{"k": "c1", "o": orderID, "pk": key, "a": card}).code())
		hold, _ := holdOf(alice.walletTxs(), orderID)
		require.Equal(t, "OPEN", *hold.HoldStatus)
		s.verify()
		require.Eventually(t, func() bool { return alice.orderStatus(orderID) == "PAID" }, 30*time.Second, 100*time.Millisecond)
		s.app.sandbox.Faults().Clear()
		hold, released := holdOf(alice.walletTxs(), orderID)
		require.Equal(t, "POSTED", *hold.HoldStatus)
		require.False(t, released)
		require.EqualValues(t, 10_000, alice.balance())
		require.Equal(t, 1, s.app.sandbox.ConfirmCount(orderID))
		s.verify()
	})
}

// A split payment's refunds come off the card part first, then the wallet
// part; one across both is a refund per part, each carried out alone.
func TestSplitRefund(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng storetest.Engine) {
		s := startServer(t, refundEnv(t, eng, nil))
		alice := s.customer("alice")
		s.fund(alice, 20_000)
		prod := s.product("mug", 24_000, 3)
		orderID := alice.order(prod, 1)
		card, _ := alice.startSplit(orderID, 10_000)
		key := s.authenticate(orderID, card, sandbox.CardSuccess)
		alice.do(confirmQ, map[string]any{"k": "c1", "o": orderID, "pk": key, "a": card}).into(t, &struct{}{})
		require.EqualValues(t, 10_000, alice.balance())

		var out refundOut
		alice.do(refundQ, map[string]any{"k": "r1", "o": orderID, "a": 20_000, "r": "most of it"}).into(t, &out)
		require.EqualValues(t, 14_000, out.CancelPayment.Refund.Amount, "the card part first")
		require.Eventually(t, func() bool {
			got := alice.refunds(orderID)
			return got.Order.RefundedAmount == 20_000 && got.Order.Status == "PARTIALLY_REFUNDED"
		}, 20*time.Second, 100*time.Millisecond)
		require.EqualValues(t, 16_000, alice.balance(), "then 6,000 of the wallet part")

		alice.do(refundQ, map[string]any{"k": "r2", "o": orderID, "r": "the rest"}).into(t, &out)
		require.Equal(t, "DONE", out.CancelPayment.Refund.Status)
		require.Equal(t, "REFUNDED", out.CancelPayment.Order.Status)
		require.EqualValues(t, 20_000, alice.balance(), "the whole wallet part back")
		amounts, _ := s.cancels(orderID)
		require.Equal(t, []int64{14_000}, amounts, "the PG refunded the card part only")
		require.Len(t, alice.refunds(orderID).Order.Payments[0].Refunds, 3)
		require.Equal(t, 3, s.stock(prod))
		require.Equal(t, "REFUND_EXCEEDS_PAYMENT", alice.do(refundQ, map[string]any{"k": "r3", "o": orderID, "a": 1, "r": "more"}).code())
		s.verify()
	})
}
