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

// Money errors named Go types ("map[string]interface {}") to clients.
func TestMoneyErrorsSpeakGraphQL(t *testing.T) {
	for _, in := range []any{map[string]any{"a": 1}, []any{1}, "100", true, nil, 10.5, json.Number("1e3"), struct{}{}} {
		_, err := UnmarshalMoney(in)
		require.ErrorIs(t, err, payment.ErrBadUserInput)
		for _, goName := range []string{"map[", "interface {}", "[]interface", "json.Number", "float64", "struct", "%!"} {
			require.NotContains(t, err.Error(), goName, "%#v", in)
		}
	}
}
