package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/pago/pago/payment"
)

// gqlgen's own codes for requests that never reached a resolver; they are
// client errors and keep their code.
var passthroughCodes = map[string]bool{
	"GRAPHQL_PARSE_FAILED":              true,
	"GRAPHQL_VALIDATION_FAILED":         true,
	"PERSISTED_QUERY_NOT_FOUND":         true,
	string(payment.CodeQueryTooComplex): true,
	string(payment.CodeBadUserInput):    true,
}

// presentError is the one place domain errors become GraphQL errors: a
// *payment.Error keeps its code and message (with fields and pgCode), and
// anything else is logged and masked as INTERNAL.
func presentError(log *slog.Logger, suggestions bool) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if !suggestions {
			gqlErr.Message = withoutSuggestions(gqlErr.Message)
		}
		var de *payment.Error
		if errors.As(err, &de) {
			gqlErr.Message, gqlErr.Extensions = de.Message, extensions(de)
			return gqlErr
		}
		if code, ok := gqlErr.Extensions["code"].(string); ok && passthroughCodes[code] {
			return gqlErr
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// Its operation ran out of its time (HandlerConfig.
			// OperationTimeout) and what it waited for gave up. A retry
			// with the same idempotency key is safe: it replays what was
			// committed, or runs again.
			log.WarnContext(ctx, "graphql operation out of its time", "err", err, "path", gqlErr.Path.String())
			gqlErr.Message = "the request took too long; please try again"
			gqlErr.Extensions = map[string]any{"code": string(payment.CodeInternal)}
			return gqlErr
		}
		if errors.Is(err, context.Canceled) {
			gqlErr.Message = "request canceled"
			gqlErr.Extensions = map[string]any{"code": string(payment.CodeInternal)}
			return gqlErr
		}
		// Bounded: an error may quote what a client sent.
		msg := err.Error()
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		log.ErrorContext(ctx, "graphql error", "err", msg, "path", gqlErr.Path.String())
		gqlErr.Message = "internal error"
		gqlErr.Extensions = map[string]any{"code": string(payment.CodeInternal)}
		return gqlErr
	}
}

// extensions are a domain error's public details: its code, the input
// fields at fault and the PG's own code.
func extensions(de *payment.Error) map[string]any {
	ext := map[string]any{"code": string(de.Code)}
	if len(de.Fields) > 0 {
		ext["fields"] = de.Fields
	}
	if de.PGCode != "" {
		ext["pgCode"] = de.PGCode
	}
	return ext
}

// RequestError is err as the GraphQL error of a request refused before the
// executor runs (web's transport checks), in the shape presentError gives:
// a *payment.Error keeps its message and extensions, anything else is
// INTERNAL.
func RequestError(err error) *gqlerror.Error {
	var de *payment.Error
	if !errors.As(err, &de) {
		de = &payment.Error{Code: payment.CodeInternal, Message: "internal error"}
	}
	return &gqlerror.Error{Message: de.Message, Extensions: extensions(de)}
}

// recoverPanic turns a resolver panic into an INTERNAL error after logging it
// with its stack; the process keeps serving.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return errors.New("internal error")
	}
}
