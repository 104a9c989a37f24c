package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pago/pago/payment"
)

// Errors answered before the GraphQL executor runs have the executor's
// shape: message, code, fields and pgCode; anything else is INTERNAL.
func TestWriteGraphQLErrorKeepsDomainDetails(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"pgCode", &payment.Error{Code: payment.CodePaymentDeclined, Message: "the card was declined", PGCode: "REJECT_CARD_PAYMENT"},
			`{"errors":[{"message":"the card was declined","extensions":{"code":"PAYMENT_DECLINED","pgCode":"REJECT_CARD_PAYMENT"}}]}`},
		{"fields", payment.BadInput("Content-Type", "POST /graphql takes Content-Type: application/json only"),
			`{"errors":[{"message":"POST /graphql takes Content-Type: application/json only","extensions":{"code":"BAD_USER_INPUT","fields":["Content-Type"]}}]}`},
		{"internal", errors.New("dial tcp 127.0.0.1:5432: connection refused"),
			`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeGraphQLError(rec, http.StatusServiceUnavailable, tc.err)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			var got, want any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			_ = json.Unmarshal([]byte(tc.want), &want)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Fatalf("body %s, want %s", gb, wb)
			}
			if strings.Contains(rec.Body.String(), "dial tcp") {
				t.Fatalf("internal text reached the client: %s", rec.Body)
			}
		})
	}
}
