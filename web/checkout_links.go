package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
)

// CheckoutLinks signs and verifies checkout links. The checkout pages have
// no bearer token (the customer arrives from the SPA, or back from the PG),
// so the link itself is the credential: an HMAC over the order id that only
// pago can compute. One signature covers every page of an order — checkout,
// the PG's success and fail redirects and the status poll.
//
// The order id and signature travel in the path
// (/checkout/{orderId}/{sig}/success), never in the query: the PG appends
// its own query parameters (paymentKey, orderId, amount, or code, message)
// to the redirect URLs, and whether it merges them into an existing query
// is not documented. A path it cannot disturb.
type CheckoutLinks struct {
	key       []byte
	publicURL string
}

// NewCheckoutLinks returns links signed with a key derived from secret (the
// JWT secret): a separate key, so that a checkout signature can never be
// replayed as, or confused with, anything else signed with the secret.
func NewCheckoutLinks(secret []byte, publicURL string) *CheckoutLinks {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("pago checkout links"))
	return &CheckoutLinks{key: m.Sum(nil), publicURL: strings.TrimRight(publicURL, "/")}
}

// Sign returns the signature for orderID's pages.
func (l *CheckoutLinks) Sign(orderID string) string {
	return base64.RawURLEncoding.EncodeToString(l.mac("checkout:" + orderID))
}

// Verify reports whether t is orderID's signature, in constant time.
func (l *CheckoutLinks) Verify(orderID, t string) bool {
	got, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || orderID == "" {
		return false
	}
	return hmac.Equal(got, l.mac("checkout:"+orderID))
}

// base is the signed path prefix of orderID's pages.
func (l *CheckoutLinks) base(orderID string) string {
	return "/checkout/" + url.PathEscape(orderID) + "/" + l.Sign(orderID)
}

// URL is the signed checkout page of orderID.
func (l *CheckoutLinks) URL(orderID string) string {
	return l.publicURL + l.base(orderID)
}

// SuccessURL and FailURL are the redirect targets handed to the PG; it
// appends its query (paymentKey, orderId, amount or code, message, orderId)
// to them. They carry no query of their own.
func (l *CheckoutLinks) SuccessURL(orderID string) string {
	return l.publicURL + l.base(orderID) + "/success"
}

// FailURL: see SuccessURL.
func (l *CheckoutLinks) FailURL(orderID string) string {
	return l.publicURL + l.base(orderID) + "/fail"
}

// StatusURL is the JSON status the processing page polls (same origin, so
// relative).
func (l *CheckoutLinks) StatusURL(orderID string) string {
	return l.base(orderID) + "/status"
}

// AgainURL is where a declined payment's page posts "pay with another
// card" (same origin, so relative).
func (l *CheckoutLinks) AgainURL(orderID string) string {
	return l.base(orderID) + "/again"
}

// SplitURL is where the checkout page posts "use my wallet balance" (same
// origin, so relative).
func (l *CheckoutLinks) SplitURL(orderID string) string { return l.base(orderID) + "/split" }

// CustomerKey is the PG's customerKey for userID: stable per user, so the
// PG can recognise a returning customer, but derived under pago's key so
// that pago's user ids never reach the PG or the page.
func (l *CheckoutLinks) CustomerKey(userID string) string {
	return "cus_" + base64.RawURLEncoding.EncodeToString(l.mac("customer:" + userID)[:24])
}

func (l *CheckoutLinks) mac(msg string) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
