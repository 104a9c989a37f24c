package pg_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/pg"
)

func TestCheckKeyPair(t *testing.T) {
	tests := []struct {
		client, secret string
		want           string // substring of the error; "" = a pair
	}{
		{"test_gck_docs_Ovk5rk1EwkEbP0W43n07xlzm", "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6", ""},
		{"test_ck_D5GePWvyJnrK0W0k6q8gLzN97Eoq", "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R", ""},
		{"live_gck_a", "live_gsk_SECRETPART", ""},
		{"live_ck_a", "live_sk_SECRETPART", ""},
		{"test_gck_a", "live_gsk_SECRETPART", "the client key is a test key but the secret key is a live key"},
		{"live_ck_a", "test_sk_SECRETPART", "the client key is a live key but the secret key is a test key"},
		{"test_gck_a", "test_sk_SECRETPART", "use the payment-widget secret key (test_gsk_…)"},
		{"test_ck_a", "test_gsk_SECRETPART", "use the API-individual secret key (test_sk_…)"},
		{"test_gsk_a", "test_gsk_SECRETPART", "the client key is a secret key"},
		{"test_gck_a", "test_gck_SECRETPART", "the secret key is a client key"},
		{"pk_test_a", "test_gsk_SECRETPART", "the client key does not start with test_ or live_"},
		{"test_gck_a", "test_xx_SECRETPART", "the secret key is not a Toss key"},
		{"", "test_gsk_SECRETPART", "the client key does not start with test_ or live_"},
	}
	for _, tt := range tests {
		err := pg.CheckKeyPair(tt.client, tt.secret)
		if tt.want == "" {
			require.NoError(t, err, "%s / %s", tt.client, tt.secret)
			continue
		}
		require.ErrorContains(t, err, tt.want, "%s / %s", tt.client, tt.secret)
		require.NotContains(t, err.Error(), "SECRETPART", "keys are never quoted")
	}
}
