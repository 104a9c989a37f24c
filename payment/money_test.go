package payment

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMoney(t *testing.T) {
	sum, err := Won(1_000).Add(Won(234))
	require.NoError(t, err)
	require.Equal(t, Won(1_234), sum)

	_, err = Won(MaxAmount).Add(Won(1))
	require.ErrorIs(t, err, ErrAmountOverflow)
	_, err = Won(-MaxAmount).Sub(Won(1))
	require.ErrorIs(t, err, ErrAmountOverflow)
	_, err = Won(1).Add(Money{1, "USD"})
	require.ErrorIs(t, err, ErrCurrencyMismatch)
	_, err = NewMoney(MaxAmount+1, KRW)
	require.ErrorIs(t, err, ErrAmountOverflow)

	for _, tc := range []struct {
		m    Money
		want string
	}{
		{Won(0), "₩0"}, {Won(999), "₩999"}, {Won(1_000), "₩1,000"}, {Won(1_234_567), "₩1,234,567"},
		{Won(-50_000), "-₩50,000"}, {Money{1234, "USD"}, "1,234 USD"},
	} {
		require.Equal(t, tc.want, tc.m.String())
	}
}

func TestErrorsMatchByCode(t *testing.T) {
	err := errorf(CodeInsufficientBalance, "the wallet holds ₩1")
	require.ErrorIs(t, err, ErrInsufficientBalance)
	require.NotErrorIs(t, err, ErrOutOfStock)
	wrapped := errors.Join(errors.New("context"), err)
	var de *Error
	require.ErrorAs(t, wrapped, &de)
	require.Equal(t, CodeInsufficientBalance, de.Code)
}

func TestNewIDSortsByTime(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	a, b := NewID("ord", t0), NewID("ord", t0.Add(time.Millisecond))
	require.Regexp(t, idPattern, a)
	require.Less(t, a, b)
	require.NotEqual(t, NewID("ord", t0), NewID("ord", t0))
}

func TestValidateIdempotencyKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"a": true, "order-2026-11-21#1": true, "키": true,
		"": false, string(make([]byte, 256)): false, "tab\tkey": false, "\x7f": false, "\xff": false,
	} {
		err := ValidateIdempotencyKey(key)
		if ok {
			require.NoError(t, err, "%q", key)
		} else {
			require.ErrorIs(t, err, ErrBadUserInput, "%q", key)
		}
	}
}
