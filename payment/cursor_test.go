package payment

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
)

// A cursor decoding to a NUL byte reached PostgreSQL, which refused it, and
// the client got INTERNAL.
func TestForgedCursorsAreBadInput(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	v, err := decodeCursor("ord", encodeCursor("ord", "ord_01JABCDEF"))
	require.NoError(t, err)
	require.Equal(t, "ord_01JABCDEF", v)
	for _, c := range []string{enc("ord:\x00"), enc("ord:a\x00b"), enc("ord:\xff\xfe"), enc("ord:a b"), enc("ord:\u2028"), enc("wtx:1"), "!!", ""} {
		_, err := decodeCursor("ord", c)
		require.ErrorIs(t, err, ErrBadUserInput, "%q", c)
	}
}
