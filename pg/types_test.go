package pg_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg"
)

func TestDecodePaymentWithExplicitNulls(t *testing.T) {
	var p pg.Payment
	require.NoError(t, json.Unmarshal([]byte(paymentJSON), &p))

	require.Equal(t, pg.APIVersion, p.Version)
	require.Equal(t, testPaymentKey, p.PaymentKey)
	require.Equal(t, testOrderID, p.OrderID)
	require.Equal(t, "tvivarepublica", p.MID)
	require.Equal(t, pg.StatusDone, p.Status)
	require.Equal(t, "NORMAL", p.Type)
	require.NotNil(t, p.Method)
	require.Equal(t, "카드", *p.Method)
	require.NotNil(t, p.ApprovedAt)
	require.NotNil(t, p.LastTransactionKey)
	for name, a := range map[string]pg.Amount{"total": p.TotalAmount, "balance": p.BalanceAmount} {
		n, err := a.Int64()
		require.NoError(t, err, name)
		require.Equal(t, int64(15000), n, name)
	}
	vat, err := p.VAT.Int64()
	require.NoError(t, err)
	require.Equal(t, int64(1364), vat)
	require.True(t, p.IsPartialCancelable)

	require.NotNil(t, p.Card)
	require.Equal(t, "신용", p.Card.CardType)
	require.Nil(t, p.Card.InterestPayer)
	require.NotNil(t, p.Card.AcquirerCode)

	// Explicit nulls come out as nil.
	require.Nil(t, p.Cancels)
	require.Nil(t, p.VirtualAccount)
	require.Nil(t, p.EasyPay)
	require.Nil(t, p.Failure)
	require.Nil(t, p.Secret)
	require.Nil(t, p.Metadata)
	require.Nil(t, p.TransactionKey)
	require.Equal(t, "https://api.tosspayments.com/v1/payments/"+testPaymentKey+"/checkout", p.Checkout.URL)

	// Every key survives a round trip, nulls included.
	out, err := json.Marshal(p)
	require.NoError(t, err)
	require.JSONEq(t, paymentJSON, string(out))
}

func TestDecodeExpiredAndCanceledPayments(t *testing.T) {
	// EXPIRED (docs/toss.md §3, [TC] 1410526054635933798): method and useEscrow
	// null, failure set. Keys are missing and one is unknown: tolerated.
	expired := `{"version":"2022-11-16","paymentKey":"tnhig20251121102047bvrO8","type":"NORMAL",
	  "orderId":"order-2","orderName":"","mId":"tvivarepublica","currency":"KRW","method":null,
	  "totalAmount":1000,"balanceAmount":1000,"status":"EXPIRED","requestedAt":"2025-11-21T10:20:47+09:00",
	  "approvedAt":null,"useEscrow":null,"lastTransactionKey":null,"cancels":null,"card":null,
	  "failure":{"code":"EXPIRED_PAYMENT","message":"결제 유효 시간이 만료되었습니다."},
	  "metadata":{"cartId":"c-1"},"brandNewField":[1,2,3]}`
	var p pg.Payment
	require.NoError(t, json.Unmarshal([]byte(expired), &p))
	require.Equal(t, pg.StatusExpired, p.Status)
	require.Nil(t, p.Method)
	require.Nil(t, p.UseEscrow)
	require.Equal(t, "EXPIRED_PAYMENT", p.Failure.Code)
	require.Equal(t, "c-1", p.Metadata["cartId"])
	n, err := p.SuppliedAmount.Int64()
	require.NoError(t, err, "a missing amount reads as 0")
	require.Zero(t, n)

	// PARTIAL_CANCELED in USD: decimal amounts must decode.
	canceled := `{"paymentKey":"pk","status":"PARTIAL_CANCELED","currency":"USD",
	  "totalAmount":200.00,"balanceAmount":18.44,
	  "cancels":[{"cancelAmount":181.56,"cancelReason":"부분 취소","taxFreeAmount":0,"taxExemptionAmount":0,
	    "refundableAmount":18.44,"easyPayDiscountAmount":0,"canceledAt":"2024-03-01T12:00:00+09:00",
	    "transactionKey":"txrd_x","receiptKey":null,"cancelStatus":"DONE","cancelRequestId":null}]}`
	require.NoError(t, json.Unmarshal([]byte(canceled), &p))
	require.Equal(t, pg.StatusPartialCanceled, p.Status)
	require.Len(t, p.Cancels, 1)
	c := p.Cancels[0]
	require.Equal(t, "DONE", c.CancelStatus)
	require.Nil(t, c.ReceiptKey)
	_, err = c.CancelAmount.Int64()
	require.Error(t, err, "181.56 is not a whole number of major units")
	cents, err := c.CancelAmount.MinorUnits(2)
	require.NoError(t, err)
	require.Equal(t, int64(18156), cents)
}

func TestAmount(t *testing.T) {
	tests := []struct {
		json    string
		exp     int
		want    int64
		wantErr bool
	}{
		{`15000`, 0, 15000, false},
		{`"15000"`, 0, 15000, false},
		{`1.5e3`, 0, 1500, false},
		{`-5000`, 0, -5000, false},
		{`15000.0`, 0, 15000, false},
		{`181.56`, 2, 18156, false},
		{`181.56`, 0, 0, true},
		{`0.001`, 2, 0, true},
		{`null`, 0, 0, false},
		{`9223372036854775807`, 0, 9223372036854775807, false},
		{`9223372036854775808`, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			var a pg.Amount
			require.NoError(t, json.Unmarshal([]byte(tt.json), &a))
			got, err := a.MinorUnits(tt.exp)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	for _, bad := range []string{`"abc"`, `true`, `"1/2"`, `"0x10"`, `{}`} {
		var a pg.Amount
		require.Error(t, json.Unmarshal([]byte(bad), &a), bad)
	}

	b, err := json.Marshal(struct{ A, Z pg.Amount }{A: pg.NewAmount(15000)})
	require.NoError(t, err)
	require.JSONEq(t, `{"A":15000,"Z":0}`, string(b))
}

func TestErrorHelpersIgnoreInDoubtErrors(t *testing.T) {
	e := &pg.Error{HTTPStatus: 403, Code: "REJECT_CARD_PAYMENT", Message: "잔액부족"}
	require.True(t, pg.IsDecline(e))
	require.Contains(t, e.Error(), "REJECT_CARD_PAYMENT")
	require.True(t, (&pg.Error{HTTPStatus: 403, Code: "REJECT_TOSSPAY_INVALID_ACCOUNT"}).IsDecline(), "REJECT_ family")
	require.False(t, (&pg.Error{HTTPStatus: 400, Code: "INVALID_REQUEST"}).IsDecline())
	require.False(t, pg.IsNotFound(&pg.Error{HTTPStatus: 404, Code: "NOT_FOUND_PAYMENT_SESSION"}))
	require.False(t, pg.IsDecline(nil))
}
