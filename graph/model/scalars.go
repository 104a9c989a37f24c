// Package model holds the GraphQL types gqlgen generates and pago's custom
// scalars. Converters between these and payment's types live in graph.
package model

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"github.com/pago/pago/payment"
)

// MarshalMoney writes an amount as a JSON integer.
func MarshalMoney(v int64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.FormatInt(v, 10))
	})
}

// UnmarshalMoney accepts only integers within ±2^53: JSON numbers with a
// fraction or an exponent, strings and booleans are BAD_USER_INPUT.
func UnmarshalMoney(v any) (int64, error) {
	var n int64
	switch x := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return 0, badMoney(v)
		}
		n = i
	case int:
		n = int64(x)
	case int64:
		n = x
	case int32:
		n = int64(x)
	case float64: // gqlgen hands integral literals over as int64; a float is a float
		return 0, badMoney(v)
	default:
		return 0, badMoney(v)
	}
	if n > payment.MaxAmount || n < -payment.MaxAmount {
		return 0, &payment.Error{Code: payment.CodeBadUserInput, Message: fmt.Sprintf("Money %d is beyond ±2^53", n)}
	}
	return n, nil
}

// badMoney says what the client sent in GraphQL's terms, never Go's (no
// "map[string]interface {}" reaches a client).
func badMoney(v any) error {
	var got string
	switch x := v.(type) {
	case nil:
		got = "null"
	case string:
		got = "a string"
	case bool:
		got = "a boolean"
	case map[string]any:
		got = "an object"
	case []any:
		got = "a list"
	case json.Number:
		got = "the number " + shorten(string(x))
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			got = "a number out of range"
		} else {
			got = "the number " + shorten(strconv.FormatFloat(x, 'g', -1, 64))
		}
	default:
		got = "another type"
	}
	return &payment.Error{Code: payment.CodeBadUserInput, Message: "Money must be an integer number of minor units, got " + got}
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
