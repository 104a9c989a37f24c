package sandbox

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The settlement-fault API corrupts the report as docs/api.md specifies, only
// for the orders named, and DELETE restores it.
func TestSettlementFaults(t *testing.T) {
	e := newEnv(t)
	for _, o := range []string{"order-drop", "order-amount", "order-fee", "order-dup", "order-clean"} {
		k := e.authenticated(o, 10000, CardSuccess)
		require.Equal(t, 200, e.confirm(k, o, 10000, nil).status)
	}
	for _, f := range []map[string]any{
		{"kind": "DropLine", "orderId": "order-drop"},
		{"kind": "AmountDiffers", "orderId": "order-amount"},
		{"kind": "FeeDiffers", "orderId": "order-fee"},
		{"kind": "Duplicate", "orderId": "order-dup"},
		{"kind": "ForeignLine", "amount": 7700},
	} {
		require.Equal(t, 201, e.call("POST", "/_sandbox/settlement-faults", f, nil).status, f)
	}
	require.Equal(t, 400, e.call("POST", "/_sandbox/settlement-faults", map[string]any{"kind": "Nope", "orderId": "x"}, nil).status)
	require.Equal(t, 400, e.call("POST", "/_sandbox/settlement-faults", map[string]any{"kind": "DropLine"}, nil).status)
	require.Equal(t, 400, e.call("POST", "/_sandbox/settlement-faults", map[string]any{"kind": "ForeignLine"}, nil).status)

	rows := e.settlementRows()
	byOrder := map[string][]map[string]any{}
	for _, r := range rows {
		byOrder[r["orderId"].(string)] = append(byOrder[r["orderId"].(string)], r)
	}
	require.NotContains(t, byOrder, "order-drop")
	require.EqualValues(t, 10100, byOrder["order-amount"][0]["amount"])
	require.EqualValues(t, 320, byOrder["order-amount"][0]["fee"])
	require.EqualValues(t, 9780, byOrder["order-amount"][0]["payOutAmount"])
	require.EqualValues(t, 330, byOrder["order-fee"][0]["fee"])
	require.EqualValues(t, 9670, byOrder["order-fee"][0]["payOutAmount"])
	require.Len(t, byOrder["order-dup"], 2)
	require.Equal(t, byOrder["order-dup"][0]["transactionKey"], byOrder["order-dup"][1]["transactionKey"])
	require.EqualValues(t, 320, byOrder["order-clean"][0]["fee"])
	require.Len(t, rows, 6, "4 sales (one dropped, one twice) and the foreign line")
	var foreign map[string]any
	for o, rs := range byOrder {
		if len(o) > 8 && o[:8] == "foreign-" {
			foreign = rs[0]
		}
	}
	require.NotNil(t, foreign)
	require.EqualValues(t, 7700, foreign["amount"])

	require.Equal(t, 204, e.call("DELETE", "/_sandbox/settlement-faults", nil, nil).status)
	require.Len(t, e.settlementRows(), 5)
}

func (e *env) settlementRows() []map[string]any {
	e.t.Helper()
	day := e.sb.Now().In(kst).Format("2006-01-02")
	res := e.call("GET", "/v1/settlements?startDate="+day+"&endDate="+day, nil, nil)
	require.Equal(e.t, 200, res.status)
	var rows []map[string]any
	require.NoError(e.t, jsonUnmarshal(res.raw, &rows))
	return rows
}
