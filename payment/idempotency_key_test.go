package payment

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// API.md says idempotency keys are printable; keys with invisible or
// control characters were accepted.
func TestIdempotencyKeysArePrintable(t *testing.T) {
	for _, k := range []string{"a", "order-1:pay", "키-결제-1", "emoji-🙂", "with space", strings.Repeat("k", 255)} {
		require.NoError(t, ValidateIdempotencyKey(k), "%q", k)
	}
	for name, k := range map[string]string{
		"empty":               "",
		"too long":            strings.Repeat("k", 256),
		"NUL":                 "a\x00b",
		"tab":                 "a\tb",
		"DEL":                 "a\x7fb",
		"invalid UTF-8":       "a\xffb",
		"NEL U+0085":          "a\u0085b",
		"line separator":      "a\u2028b",
		"paragraph separator": "a\u2029b",
		"RTL override":        "a\u202eb",
		"BOM":                 "\ufeffkey",
		"zero-width space":    "a\u200bb",
		"zero-width joiner":   "a\u200db",
		"word joiner":         "a\u2060b",
		"no-break space":      "a\u00a0b",
		"soft hyphen":         "a\u00adb",
		"private use":         "a\ue000b",
		"unassigned":          "a\U000e0000b",
	} {
		err := ValidateIdempotencyKey(k)
		require.Error(t, err, name)
		var de *Error
		require.ErrorAs(t, err, &de, name)
		require.Equal(t, CodeBadUserInput, de.Code, name)
	}
}
