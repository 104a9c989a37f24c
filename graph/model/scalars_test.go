package model

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
)

func TestUnmarshalMoney(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want int64
		ok   bool
	}{
		{json.Number("1000"), 1000, true},
		{json.Number("-5"), -5, true},
		{int64(42), 42, true},
		{json.Number("9007199254740992"), 1 << 53, true},
		{json.Number("9007199254740993"), 0, false},
		{json.Number("-9007199254740993"), 0, false},
		{json.Number("10.5"), 0, false},
		{json.Number("1e3"), 0, false},
		{10.0, 0, false},
		{"100", 0, false},
		{true, 0, false},
		{nil, 0, false},
	} {
		got, err := UnmarshalMoney(tc.in)
		if !tc.ok {
			require.ErrorIs(t, err, payment.ErrBadUserInput, "%#v", tc.in)
			continue
		}
		require.NoError(t, err, "%#v", tc.in)
		require.Equal(t, tc.want, got)
	}
	var b bytes.Buffer
	MarshalMoney(1234).MarshalGQL(&b)
	require.Equal(t, "1234", b.String())
}
