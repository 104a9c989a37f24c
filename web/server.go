package web

import (
	"context"
	"embed"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/pago/pago/graph"
	"github.com/pago/pago/payment"
	"github.com/pago/pago/views"
	"github.com/pago/pago/web/playground"
)

//go:embed static
var static embed.FS

// Check is a named readiness probe (the database, Redis, …).
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Config is everything the server needs; cmd/pago builds it.
type Config struct {
	Logger    *slog.Logger
	Metrics   *Metrics
	Tokens    *Tokens
	Users     UserEnsurer
	Resolver  *graph.Resolver
	PublicURL string
	// Dev turns on introspection, schema suggestions and the playground.
	Dev           bool
	MaxDepth      int
	MaxComplexity int
	// Ready lists what /readyz checks.
	Ready []Check
	// Sandbox, when set, is mounted at /sandbox/ (the in-process PG).
	Sandbox http.Handler
	// Webhooks accepts POST /webhooks/pg.
	Webhooks WebhookAcceptor
	// Checkout serves the checkout pages when its Service is set.
	Checkout CheckoutConfig
	// MetricsToken, when set, is the bearer token GET /metrics requires.
	MetricsToken string
	// MetricsPublic serves GET /metrics without a token (dev). Production
	// mounts it only behind MetricsToken, or on a separate listener that
	// serves Metrics.Handler.
	MetricsPublic bool
	// Subscriptions caps live GraphQL subscriptions.
	Subscriptions graph.SubscriptionLimits
	// RequestTimeout bounds a GraphQL query or mutation
	// (graph.HandlerConfig.OperationTimeout), a checkout page and a
	// webhook: past it, what the request waits for gives up and the
	// customer sees an error to retry rather than a page that never loads.
	// Subscriptions and the in-process sandbox are not bounded. Zero: no
	// bound.
	RequestTimeout time.Duration
}

// maxGraphQLBody bounds a GraphQL request body; no legitimate operation is near it.
const maxGraphQLBody = 1 << 20

// New returns pago's HTTP handler with every route and middleware.
func New(cfg Config) http.Handler {
	auth := authenticator{tokens: cfg.Tokens, users: cfg.Users, timeout: cfg.RequestTimeout}
	gql := graph.NewHandler(graph.HandlerConfig{
		Resolver:         cfg.Resolver,
		Logger:           cfg.Logger,
		Introspection:    cfg.Dev,
		MaxDepth:         cfg.MaxDepth,
		MaxComplexity:    cfg.MaxComplexity,
		Suggestions:      cfg.Dev,
		Subscriptions:    cfg.Subscriptions,
		Observe:          cfg.Metrics.ObserveGraphQL,
		OperationTimeout: cfg.RequestTimeout,
		WebsocketAuth: func(ctx context.Context, authorization string) (context.Context, error) {
			if authorization == "" {
				return ctx, nil // anonymous; resolvers needing a user refuse
			}
			authed, err := auth.authenticate(ctx, authorization)
			if err != nil {
				logger(ctx).InfoContext(ctx, "websocket authentication failed", "err", err)
				return ctx, payment.ErrUnauthenticated
			}
			return authed, nil
		},
	})

	mux := http.NewServeMux()
	mux.Handle("POST /graphql", requireJSON(graphQLBody(maxGraphQLBody, auth.middleware(gql))))
	mux.Handle("GET /graphql", websocketOnly(gql))
	mux.Handle("POST /webhooks/pg", withTimeout(cfg.RequestTimeout, pgWebhook(cfg.Webhooks)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", readiness(cfg.Ready))
	switch {
	case cfg.MetricsToken != "":
		mux.Handle("GET /metrics", bearerOnly(cfg.MetricsToken, cfg.Metrics.Handler()))
	case cfg.MetricsPublic:
		mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	mux.Handle("GET /static/", http.FileServerFS(static))
	if cfg.Dev {
		pg := withCSP(playgroundCSP, playground.Handler("pago", "/graphql", cspNonce))
		mux.Handle("GET /playground", pg)
		mux.Handle("GET /playground/assets/", pg)
	}
	if cfg.Sandbox != nil {
		mux.Handle("/sandbox/", http.StripPrefix("/sandbox", cfg.Sandbox))
	}
	if cfg.Checkout.Service != nil {
		checkoutPages{svc: cfg.Checkout.Service, links: cfg.Checkout.Links,
			scriptURL: cfg.Checkout.PGScriptURL, clientKey: cfg.Checkout.PGClientKey,
			timeout: cfg.RequestTimeout}.mount(mux, cfg.PublicURL)
	}
	home := views.Home(views.HomeView{PublicURL: cfg.PublicURL, Playground: cfg.Dev, Sandbox: cfg.Sandbox != nil})
	mux.Handle("GET /{$}", withCSP(pageCSP, page(home)))

	return observeRequests(cfg.Logger, cfg.Metrics, securityHeaders(mux))
}

// withTimeout runs next in a context that ends after timeout (bounded):
// see Config.RequestTimeout.
func withTimeout(timeout time.Duration, next http.Handler) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := bounded(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// bounded is ctx ending after timeout, or ctx itself when timeout is zero.
func bounded(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

// requireJSON refuses anything but a JSON body: form and multipart posts
// can be sent cross-site without a CORS preflight (CSRF), and pago takes no
// file uploads.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			writeGraphQLError(w, http.StatusUnsupportedMediaType,
				payment.BadInput("Content-Type", "POST /graphql takes Content-Type: application/json only"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// websocketOnly lets GET through only as a websocket upgrade (graphql-ws
// subscriptions); GET queries are refused, since a link or an <img> could
// send them with the victim's cookies.
func websocketOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			w.Header().Set("Allow", "POST")
			writeGraphQLError(w, http.StatusMethodNotAllowed,
				&payment.Error{Code: payment.CodeBadUserInput, Message: "GET /graphql serves websocket subscriptions only; send queries with POST"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func readiness(checks []Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, body := http.StatusOK, map[string]string{}
		for _, c := range checks {
			if err := c.Ping(ctx); err != nil {
				status = http.StatusServiceUnavailable
				body[c.Name] = "unavailable"
				logger(r.Context()).WarnContext(r.Context(), "not ready", "check", c.Name, "err", err)
				continue
			}
			body[c.Name] = "ok"
		}
		writeJSON(w, status, body)
	})
}

// page renders c in full before sending anything, so a failed render never
// sends half a page. opts add templ.Handler options such as a status.
func page(c templ.Component, opts ...func(*templ.ComponentHandler)) http.Handler {
	return templ.Handler(c, append(opts, templ.WithErrorHandler(func(r *http.Request, err error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			logger(r.Context()).ErrorContext(r.Context(), "render page", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		})
	}))...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeGraphQLError answers in GraphQL's response shape for errors raised
// before the GraphQL executor runs.
func writeGraphQLError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]any{"errors": []any{graph.RequestError(err)}})
}
