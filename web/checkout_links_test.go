package web

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckoutLinks(t *testing.T) {
	l := NewCheckoutLinks([]byte("secret-0123456789abcdef0123456789ab"), "https://pay.example.com/")
	sig := l.Sign("ord_1")
	// The signature is in the path: the PG appends its own query to the
	// redirect URLs, and pago's links carry none it could disturb.
	require.Equal(t, "https://pay.example.com/checkout/ord_1/"+sig, l.URL("ord_1"))
	require.Equal(t, "https://pay.example.com/checkout/ord_1/"+sig+"/success", l.SuccessURL("ord_1"))
	require.Equal(t, "https://pay.example.com/checkout/ord_1/"+sig+"/fail", l.FailURL("ord_1"))
	require.Equal(t, "/checkout/ord_1/"+sig+"/status", l.StatusURL("ord_1"))
	for _, u := range []string{l.URL("ord_1"), l.SuccessURL("ord_1"), l.FailURL("ord_1"), l.StatusURL("ord_1")} {
		require.NotContains(t, u, "?")
	}
	require.True(t, l.Verify("ord_1", sig))
	for _, bad := range []struct{ id, t string }{
		{"ord_2", sig}, {"ord_1", ""}, {"ord_1", sig + "A"}, {"ord_1", strings.ToUpper(sig)}, {"", l.Sign("")}, {"ord_1", "!!"},
	} {
		require.False(t, l.Verify(bad.id, bad.t), "%+v", bad)
	}
	other := NewCheckoutLinks([]byte("secret-0123456789abcdef0123456789ac"), "https://pay.example.com")
	require.False(t, other.Verify("ord_1", sig))

	ck := l.CustomerKey("usr_1")
	require.Equal(t, ck, l.CustomerKey("usr_1"), "stable per user")
	require.NotEqual(t, ck, l.CustomerKey("usr_2"))
	require.Regexp(t, `^[A-Za-z0-9_=.@-]{2,50}$`, ck, "Toss's customerKey alphabet")
	require.NotContains(t, ck, "usr_1")
}

func TestCheckoutCSP(t *testing.T) {
	require.Equal(t, pageCSP, checkoutCSP("http://localhost:8080", "http://localhost:8080/sandbox/v2/standard"))
	csp := checkoutCSP("https://pay.example.com", "https://js.tosspayments.com/v2/standard")
	require.Contains(t, csp, "script-src 'self' https://js.tosspayments.com 'nonce-{nonce}'")
	require.Contains(t, csp, "frame-src 'self' https://js.tosspayments.com https://*.tosspayments.com")
	require.Contains(t, csp, "connect-src 'self' https://js.tosspayments.com https://*.tosspayments.com")
	require.Contains(t, csp, "form-action 'self' https://js.tosspayments.com https://*.tosspayments.com")
	require.NotContains(t, csp, "script-src 'self' https://js.tosspayments.com https://*")
	sb := checkoutCSP("http://localhost:8080", "http://localhost:9090/v2/standard")
	require.Contains(t, sb, "script-src 'self' http://localhost:9090 ")
	require.NotContains(t, sb, "tosspayments")
}
