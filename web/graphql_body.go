package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/pago/pago/payment"
)

// graphQLBody reads a POST /graphql body in full (at most max bytes) and
// refuses client mistakes before gqlgen sees them, each as a 4xx with a
// client code and one short log line: a body over max is 413, and JSON that
// is malformed, is a batch (an array) or is not a GraphQL request object is
// 400. gqlgen would answer these with INTERNAL and put the whole body in its
// error message.
func graphQLBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			logger(r.Context()).InfoContext(r.Context(), "graphql: body too large", "limit", max)
			writeGraphQLError(w, http.StatusRequestEntityTooLarge,
				payment.BadInput("body", "the request body is larger than the limit"))
			return
		case err != nil:
			logger(r.Context()).InfoContext(r.Context(), "graphql: body unreadable", "err", err)
			writeGraphQLError(w, http.StatusBadRequest, payment.BadInput("body", "the request body could not be read"))
			return
		}
		if msg := graphQLRequestProblem(body); msg != "" {
			logger(r.Context()).InfoContext(r.Context(), "graphql: bad request body", "problem", msg, "bytes", len(body))
			writeGraphQLError(w, http.StatusBadRequest, payment.BadInput("body", "%s", msg))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// graphQLRequestProblem says what is wrong with a request body, or "".
func graphQLRequestProblem(body []byte) string {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return "the request body is empty: send {\"query\": …}"
	case !json.Valid(body):
		return "the request body is not valid JSON"
	case trimmed[0] == '[':
		return "batched requests are not supported: send one {\"query\": …} object"
	case trimmed[0] != '{':
		return "the request body must be a JSON object: {\"query\": …}"
	}
	var req struct {
		Query         *string         `json:"query"`
		OperationName *string         `json:"operationName"`
		Variables     *map[string]any `json:"variables"`
		Extensions    *map[string]any `json:"extensions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return "query and operationName must be strings, variables and extensions objects"
	}
	if req.Query == nil || *req.Query == "" {
		return "the request has no query"
	}
	return ""
}
