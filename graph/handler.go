package graph

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/pago/pago/payment"
)

// HandlerConfig configures the GraphQL handler.
type HandlerConfig struct {
	Resolver      *Resolver
	Logger        *slog.Logger
	Introspection bool // on in dev, off in production
	MaxDepth      int
	MaxComplexity int
	// WebsocketAuth authenticates a graphql-ws connection from its init
	// payload's Authorization value ("Bearer …"), returning the request
	// context carrying the user.
	WebsocketAuth func(ctx context.Context, authorization string) (context.Context, error)
	// Observe is told each operation's name, outcome (ok or an error code)
	// and duration, for metrics.
	Observe func(operation, outcome string, d time.Duration)
}

// maxTokens bounds the lexer's work on one query document, before any
// other limit can look at it.
const maxTokens = 10_000

// NewHandler returns the GraphQL endpoint: POST with a JSON body, and
// subscriptions over graphql-ws or Server-Sent Events. GET queries and multipart uploads are not
// transports here at all: both can be sent cross-site without a preflight.
// The websocket transport accepts same-origin connections only.
func NewHandler(cfg HandlerConfig) http.Handler {
	es := NewExecutableSchema(Config{Resolvers: cfg.Resolver})
	srv := handler.New(es)
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 10 * time.Second,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if cfg.WebsocketAuth == nil {
				return ctx, &p, nil
			}
			ctx, err := cfg.WebsocketAuth(ctx, p.Authorization())
			return ctx, &p, err
		},
	})
	// Subscriptions over Server-Sent Events (the graphql-sse protocol's
	// distinct-connections mode: a POST with Accept: text/event-stream),
	// for clients that cannot use websockets. Authenticated like any POST.
	srv.AddTransport(transport.SSE{KeepAlivePingInterval: 10 * time.Second})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.SetValidationRulesFn(validationRules(cfg.MaxDepth))
	srv.SetParserTokenLimit(maxTokens)
	srv.Use(limits{es: es, MaxComplexity: cfg.MaxComplexity})
	if cfg.Observe != nil {
		srv.AroundResponses(observe(cfg.Observe))
	}
	srv.SetErrorPresenter(presentError(cfg.Logger))
	srv.SetRecoverFunc(recoverPanic(cfg.Logger))
	return srv
}

// operationLabel names an operation by its type and root fields
// ("mutation:payWithWallet"): client-chosen operation names would let any
// caller grow the metric's label set without bound.
func operationLabel(ctx context.Context) string {
	if !graphql.HasOperationContext(ctx) {
		return "unknown"
	}
	op := graphql.GetOperationContext(ctx).Operation
	if op == nil {
		return "unknown"
	}
	label := string(op.Operation) + ":"
	for i, sel := range op.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok {
			continue
		}
		if i > 0 {
			label += ","
		}
		label += f.Name
		if i >= 2 {
			label += ",…"
			break
		}
	}
	return label
}

// observe reports each response's operation and outcome: "ok", or the code
// of its first error.
func observe(fn func(operation, outcome string, d time.Duration)) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		start := time.Now()
		resp := next(ctx)
		name := operationLabel(ctx)
		outcome := "ok"
		if resp != nil && len(resp.Errors) > 0 {
			outcome = string(payment.CodeInternal)
			if c, ok := resp.Errors[0].Extensions["code"].(string); ok {
				outcome = c
			}
		}
		fn(name, outcome, time.Since(start))
		return resp
	}
}
