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
	// LoaderWait is how long the list loaders collect keys before they read
	// (default 2 ms).
	LoaderWait time.Duration
	// Suggestions keeps gqlparser's "Did you mean …?" in validation errors
	// (dev); without it they are cut, so guesses do not spell out the schema.
	Suggestions bool
	// Subscriptions caps live subscriptions per connection and per user.
	Subscriptions SubscriptionLimits
	// OperationTimeout bounds a query or mutation (not a subscription, nor
	// an operation of unboundedFields): past it, whatever it still waits
	// for — a database call, a lock — gives up, and the client hears
	// INTERNAL "took too long" rather than waiting without end. Zero: no
	// bound.
	OperationTimeout time.Duration
}

// unboundedFields are the root fields whose operations OperationTimeout
// does not bound: runReconciliation reads a whole day of the PG's
// settlements, and an operator waits for it.
var unboundedFields = map[string]bool{"runReconciliation": true}

// maxTokens bounds the lexer's work on one query document, before any
// other limit can look at it.
const maxTokens = 10_000

// NewHandler returns the GraphQL endpoint: POST with a JSON body, and
// subscriptions over graphql-ws or Server-Sent Events. GET queries and multipart uploads are not
// transports here at all: both can be sent cross-site without a preflight.
// The websocket transport accepts same-origin connections only.
func NewHandler(cfg HandlerConfig) http.Handler {
	es := NewExecutableSchema(Config{Resolvers: cfg.Resolver, Complexity: complexityRoot()})
	srv := handler.New(es)
	subs := newSubscriptions(cfg.Subscriptions)
	srv.AddTransport(transport.Websocket{
		Implementation:        closeCodes{transport.CoderWebsocketImplementation{}},
		KeepAlivePingInterval: 10 * time.Second,
		InitTimeout:           10 * time.Second,
		// The acknowledgement carries no payload: echoing the init payload
		// would send the bearer token back down the socket.
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			ctx = withConnCount(ctx)
			if cfg.WebsocketAuth == nil {
				return ctx, nil, nil
			}
			authed, err := cfg.WebsocketAuth(ctx, p.Authorization())
			if err != nil {
				ctx = transport.WithWebsocketCloseCode(ctx, closeUnauthorized)
				return transport.AppendCloseReason(ctx, "Unauthorized"), nil, err
			}
			return authed, nil, nil
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
	srv.SetValidationRulesFn(validationRules(cfg.Introspection))
	srv.SetParserTokenLimit(maxTokens)
	srv.Use(newLimits(es, cfg.MaxDepth, cfg.MaxComplexity))
	if cfg.OperationTimeout > 0 {
		srv.AroundOperations(bounded(cfg.OperationTimeout))
	}
	srv.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil {
			return next(ctx)
		}
		if len(fc.Args) > 0 {
			if name, bad := argsProblem(fc.Args); bad {
				return nil, badArgument(name)
			}
		}
		if fc.Object == "Subscription" {
			if err := subs.acquire(ctx); err != nil {
				return nil, err
			}
		}
		return next(ctx)
	})
	if cfg.Observe != nil {
		srv.AroundResponses(observe(cfg.Observe))
	}
	wait := cfg.LoaderWait
	if wait == 0 {
		wait = defaultLoaderWait
	}
	srv.AroundResponses(withLoaders(cfg.Resolver.Service, wait))
	srv.SetErrorPresenter(presentError(cfg.Logger, cfg.Suggestions))
	srv.SetRecoverFunc(recoverPanic(cfg.Logger))
	return srv
}

// bounded runs each query and mutation in a context that ends after
// timeout (see HandlerConfig.OperationTimeout), released with the
// operation's last response (a query with @defer has several).
func bounded(timeout time.Duration) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		opCtx := graphql.GetOperationContext(ctx)
		op := opCtx.Operation
		if op == nil || op.Operation == ast.Subscription {
			return next(ctx)
		}
		// Root fields reached through fragments too.
		for _, f := range graphql.CollectFields(opCtx, op.SelectionSet, nil) {
			if unboundedFields[f.Name] {
				return next(ctx)
			}
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		respond := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			resp := respond(ctx)
			if resp == nil || resp.HasNext == nil || !*resp.HasNext {
				cancel()
			}
			return resp
		}
	}
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
