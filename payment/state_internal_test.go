package payment

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPaymentTransitionTable(t *testing.T) {
	for _, tc := range []struct {
		from, to PaymentStatus
		event    EventCode
		source   string
		ok       bool
	}{
		{PaymentPending, PaymentInDoubt, EventConfirmSent, SourceRedirect, true},
		{PaymentPending, PaymentInDoubt, EventConfirmSent, SourceProbe, false},
		{PaymentInDoubt, PaymentDone, EventApproved, SourceWebhook, true},
		{PaymentInDoubt, PaymentFailed, EventDeclined, SourceProbe, true},
		{PaymentInDoubt, PaymentPending, EventNotSent, SourceProbe, false},
		{PaymentInDoubt, PaymentInDoubt, EventReconfirmSent, SourceProbe, true},
		{PaymentInDoubt, PaymentInDoubt, EventReconfirmSent, SourceWebhook, false},
		{PaymentFailed, PaymentDone, EventApproved, SourceWebhook, false},
		{PaymentDone, PaymentFailed, EventDeclined, SourceProbe, false},
		{PaymentCanceled, PaymentDone, EventApproved, SourceRedirect, false},
		{PaymentPending, PaymentDone, EventPaidFromWallet, SourceWallet, true},
		{PaymentPending, PaymentDone, EventApproved, SourceWallet, false},
	} {
		require.Equal(t, tc.ok, canMovePayment(tc.from, tc.to, tc.event, tc.source), "%s→%s (%s) by %s", tc.from, tc.to, tc.event, tc.source)
	}
	for _, tc := range []struct {
		from, to OrderStatus
		source   string
		ok       bool
	}{
		{OrderPending, OrderInDoubt, SourceMutation, true},
		{OrderInDoubt, OrderPaid, SourceProbe, true},
		{OrderPending, OrderPaid, SourceWallet, true},
		{OrderPending, OrderPaid, SourceRedirect, false},
		{OrderPaid, OrderFailed, SourceWebhook, false},
		{OrderPending, OrderExpired, SourceExpiry, true},
		{OrderInDoubt, OrderExpired, SourceExpiry, false},
		{OrderPending, OrderCanceled, SourceCustomer, true},
	} {
		require.Equal(t, tc.ok, canMoveOrder(tc.from, tc.to, tc.source), "%s→%s by %s", tc.from, tc.to, tc.source)
	}
	for m := range paymentMoves {
		require.NotEmpty(t, eventMessages[m.event], "event %s has words for customers", m.event)
	}
}

// Answers stored before the replay shape was explicit (version 0, JSON of
// the domain structs' Go field names) still replay, whatever the domain
// structs have become since.
func TestStoredAnswersOfVersion0StillReplay(t *testing.T) {
	raw, err := os.ReadFile("testdata/replay_v0.json")
	require.NoError(t, err)
	var stored map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &stored))
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)

	confirm, err := replay[ConfirmResult](stored["confirm"])
	require.NoError(t, err)
	require.Equal(t, "ord_01JD0000000000000000000000", confirm.Order.ID)
	require.Equal(t, OrderPaid, confirm.Order.Status)
	require.Equal(t, Won(24000), confirm.Order.Amount)
	require.Equal(t, []OrderItem{{ProductID: "prd_01JD0000000000000000000000", Name: "Coffee beans", Quantity: 2, UnitPrice: Won(12000)}}, confirm.Order.Items)
	require.Equal(t, PaymentDone, confirm.Payment.Status)
	require.Equal(t, "tgen_abc", confirm.Payment.PGPaymentKey)
	require.Equal(t, &at, confirm.Payment.ApprovedAt)
	require.Equal(t, int64(2), confirm.Payment.Version)

	pay, err := replay[PayWithWalletResult](stored["pay"])
	require.NoError(t, err)
	require.Equal(t, Won(76000), pay.Wallet.Balance)
	require.Equal(t, Won(100000), pay.Wallet.Limit)

	o, err := replay[Order](stored["order"])
	require.NoError(t, err)
	require.Equal(t, at.Add(30*time.Minute), o.ExpiresAt)
	w, err := replay[Wallet](stored["wallet"])
	require.NoError(t, err)
	require.Equal(t, int64(3), w.Version)
	pr, err := replay[Product](stored["product"])
	require.NoError(t, err)
	require.Equal(t, int64(10), pr.Supplied)

	_, err = replay[ConfirmResult](stored["declined"])
	var de *Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, CodePaymentDeclined, de.Code)
	require.Equal(t, "REJECT_CARD_PAYMENT", de.PGCode)
}

// Today's shape round-trips, and a result type without a stored shape is
// refused when stored rather than replayed wrong.
func TestStoredAnswersRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	in := ConfirmResult{Order: Order{ID: "ord_1", Status: OrderFailed, Amount: Won(5), CreatedAt: at},
		Payment: Payment{ID: "pay_1", Status: PaymentFailed, FailureCode: "REJECT_CARD_PAYMENT", FailureMessage: "no", ConfirmAttempt: 2, ConfirmSentAt: &at}}
	raw, err := encodeResult(in)
	require.NoError(t, err)
	body, err := json.Marshal(replayEnvelope{V: replayVersion, Result: raw})
	require.NoError(t, err)
	out, err := replay[ConfirmResult](body)
	require.NoError(t, err)
	require.Equal(t, in, out)

	_, err = encodeResult(struct{ X int }{1})
	require.Error(t, err)
	_, err = replay[ConfirmResult]([]byte(`{"v":99,"result":{}}`))
	require.Error(t, err, "a newer shape is not guessed at")
}

// The tables are literals with composite keys, which the compiler does not
// check for duplicates: a second entry for a move would silently replace
// the first (a merge once did exactly that).
func TestTransitionTablesHaveNoDuplicateMoves(t *testing.T) {
	src, err := os.ReadFile("state.go")
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{Payment") && !strings.HasPrefix(line, "{Order") {
			continue
		}
		key, _, ok := strings.Cut(line, "}:")
		if !ok {
			continue
		}
		require.False(t, seen[key], "move %s} appears twice in state.go", key)
		seen[key] = true
	}
	require.Equal(t, len(paymentMoves)+len(orderMoves), len(seen))
}
