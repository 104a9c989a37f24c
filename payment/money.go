package payment

import (
	"fmt"
	"strconv"
	"strings"
)

// Currency is an ISO 4217 code.
type Currency string

// KRW is the Korean won, pago's default currency. It has no minor unit.
const KRW Currency = "KRW"

// MaxAmount bounds every amount to what a JSON number (an IEEE double) holds
// exactly, so no client can ever see a rounded amount.
const MaxAmount int64 = 1 << 53

// Money is an amount in the currency's minor units (won for KRW). It is never
// a float.
type Money struct {
	Amount   int64    `json:"amount"`
	Currency Currency `json:"currency"`
}

// NewMoney returns amount of cur, or an error when it is beyond ±MaxAmount.
func NewMoney(amount int64, cur Currency) (Money, error) {
	if amount > MaxAmount || amount < -MaxAmount {
		return Money{}, fmt.Errorf("amount %d is beyond ±2^53: %w", amount, ErrAmountOverflow)
	}
	return Money{Amount: amount, Currency: cur}, nil
}

// Won returns amount in KRW. It is meant for constants and tests; callers with
// user input use NewMoney.
func Won(amount int64) Money { return Money{Amount: amount, Currency: KRW} }

// Add returns m+o; different currencies and results beyond ±MaxAmount are errors.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("add %s to %s: %w", o.Currency, m.Currency, ErrCurrencyMismatch)
	}
	return NewMoney(m.Amount+o.Amount, m.Currency) // both ≤ 2^53: the sum cannot overflow int64
}

// Sub returns m-o with the same rules as Add.
func (m Money) Sub(o Money) (Money, error) { return m.Add(o.Neg()) }

// Neg returns -m.
func (m Money) Neg() Money { return Money{Amount: -m.Amount, Currency: m.Currency} }

// IsPositive reports whether m is greater than zero.
func (m Money) IsPositive() bool { return m.Amount > 0 }

// IsZero reports whether m is zero.
func (m Money) IsZero() bool { return m.Amount == 0 }

// String formats m for people: "₩12,000" for KRW, "1,234 USD" otherwise
// (minor units as they are: pago only moves KRW today).
func (m Money) String() string {
	if m.Currency == KRW {
		if m.Amount < 0 {
			return "-₩" + groupThousands(-m.Amount)
		}
		return "₩" + groupThousands(m.Amount)
	}
	return fmt.Sprintf("%s %s", groupThousandsSigned(m.Amount), m.Currency)
}

func groupThousandsSigned(n int64) string {
	if n < 0 {
		return "-" + groupThousands(-n)
	}
	return groupThousands(n)
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
