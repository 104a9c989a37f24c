package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/pago/pago/graph"
	"github.com/pago/pago/payment"
	"github.com/pago/pago/pg"
	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/store"
	"github.com/pago/pago/web"
	"github.com/pago/pago/worker"
)

// app is pago assembled: every service built by hand from the config.
type app struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	locker  *store.Locker
	handler http.Handler
	metrics *web.Metrics
	service *payment.Service
	// reconciler matches the PG's settlements against pago (reconcile.go).
	reconciler *payment.Reconciler
	sandbox    *sandbox.Sandbox              // the in-process PG, when mounted
	closers    []func(context.Context) error // run in reverse order by close
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	return slog.New(web.ContextLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel})))
}

// storeFromEnv is the start of every command that only needs the database:
// configuration, logger, migrated store.
func storeFromEnv(ctx context.Context, getenv func(string) string, stderr io.Writer) (*slog.Logger, *store.Store, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, nil, err
	}
	log := newLogger(cfg, stderr)
	st, err := openStore(ctx, cfg, log)
	return log, st, err
}

// openStore connects to the database and applies migrations.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx, log); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// appOptions replaces parts of pago in tests.
type appOptions struct {
	// locker wraps the real locker (e.g. one that lets two holders in).
	locker func(payment.Locker) payment.Locker
	// idempotencyStore wraps the store the idempotency keys are claimed
	// in (e.g. one whose claims hang, as on a stuck database).
	idempotencyStore func(payment.Store) payment.Store
}

// newApp builds pago and starts its job queue. The caller serves a.handler
// and calls a.close.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	return newAppWith(ctx, cfg, log, appOptions{})
}

func newAppWith(ctx context.Context, cfg Config, log *slog.Logger, opts appOptions) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close(context.Background())
		}
	}()
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a.store = st
	a.closers = append(a.closers, func(context.Context) error { return st.Close() })

	locker, err := store.OpenLocker(ctx, store.LockerConfig{
		URLs: splitURLs(cfg.RedisURL), Prefix: cfg.RedisPrefix, Expiry: cfg.LockExpiry, MaxWait: cfg.LockWait,
		// With a logger the locker starts while Redis is down, says so at
		// ERROR, reports not ready and recovers when Redis answers again.
		Logger: log.With("component", "redis"),
	})
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	a.locker = locker
	a.closers = append(a.closers, func(context.Context) error { return locker.Close() })
	if locker.InProcess() {
		log.Info("using in-process redis for locks; set PAGO_REDIS_URL to share locks between instances")
	}

	metrics := web.NewMetrics()
	a.metrics = metrics
	now := clock
	users := payment.NewUsers(st, now)
	var idemStore payment.Store = st
	if opts.idempotencyStore != nil {
		idemStore = opts.idempotencyStore(st)
	}
	idem := payment.NewIdempotency(idemStore, now, cfg.IdempotencyLease)
	var svcLocker payment.Locker = locker
	if opts.locker != nil {
		svcLocker = opts.locker(locker)
	}
	pgClient, err := newPGClient(cfg, log, metrics)
	if err != nil {
		return nil, err
	}
	if err := checkJWTSecret(cfg.JWTSecret, false); err != nil {
		return nil, fmt.Errorf("JWT secret, which also signs checkout links: %w", err)
	}
	links := web.NewCheckoutLinks([]byte(cfg.JWTSecret), cfg.PublicURL)
	svc := newService(cfg, st, svcLocker, idem, now, links.URL, pgClient, log)
	a.service = svc
	reconciler := newReconciler(cfg, st, svc, pgClient, metrics)
	a.reconciler = reconciler
	// orderUpdated subscribers are served by one watcher per instance
	// (LISTEN/NOTIFY on PostgreSQL), stopped with the app.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	svc.WatchOrders(watchCtx, st)
	a.closers = append(a.closers, func(context.Context) error { stopWatch(); return nil })
	if cfg.Dev() {
		if seeded, err := svc.SeedProducts(ctx, demoProducts); err != nil {
			return nil, err
		} else if seeded {
			log.Info("dev mode: seeded demo products", "count", len(demoProducts))
		}
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &worker.PruneIdempotencyKeys{Idempotency: idem, Retention: cfg.IdempotencyRetention, Logger: log})
	river.AddWorker(workers, &worker.ExpireOrder{Service: svc})
	river.AddWorker(workers, &worker.ProbePayment{Service: svc, MaxDelay: cfg.ProbeMaxDelay})
	river.AddWorker(workers, &worker.PGWebhook{Service: svc})
	river.AddWorker(workers, &worker.Reconcile{Reconciler: reconciler})
	river.AddWorker(workers, &worker.Refund{Service: svc, MaxDelay: cfg.ProbeMaxDelay})
	if err := st.StartJobs(ctx, store.JobsConfig{
		Workers:      workers,
		PeriodicJobs: []*river.PeriodicJob{worker.PrunePeriodic(time.Hour), worker.ReconcilePeriodic()},
		Logger:       log.With("component", "river"),
	}); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, st.StopJobs)

	// Webhook look-ups coalesced per payment key fire after their window;
	// once the app closes, one due then is left to the probe and the PG's
	// next delivery instead of failing against a closed database.
	webhooks := &webhookGate{WebhookAcceptor: svc}
	a.closers = append(a.closers, func(context.Context) error { webhooks.closed.Store(true); return nil })
	a.handler = web.New(web.Config{
		Logger:        log,
		Metrics:       metrics,
		Tokens:        web.NewTokens([]byte(cfg.JWTSecret), time.Now),
		Users:         users,
		Resolver:      &graph.Resolver{Service: svc, Reconciler: reconciler, DeadLetters: payment.NewDeadLetters(svc, st)},
		PublicURL:     cfg.PublicURL,
		Dev:           cfg.Dev(),
		MaxDepth:      cfg.MaxQueryDepth,
		MaxComplexity: cfg.MaxQueryComplexity,
		Ready: []web.Check{
			{Name: "database", Ping: st.Ping},
			{Name: "redis", Ping: locker.Ping},
		},
		Sandbox:        a.inProcessSandbox(cfg, log),
		Webhooks:       webhooks,
		Checkout:       web.CheckoutConfig{Service: svc, Links: links, PGScriptURL: cfg.PGScriptURL, PGClientKey: cfg.PGClientKey},
		MetricsToken:   string(cfg.MetricsToken),
		MetricsPublic:  cfg.Dev(),
		Subscriptions:  graph.SubscriptionLimits{PerConnection: cfg.MaxSubscriptionsPerConn, PerUser: cfg.MaxSubscriptionsPerUser},
		RequestTimeout: cfg.RequestTimeout,
	})
	return a, nil
}

// splitURLs splits PAGO_REDIS_URL's comma-separated list.
func splitURLs(list string) []string {
	var urls []string
	for _, u := range strings.Split(list, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// close stops the job queue and closes connections, newest first.
func (a *app) close(ctx context.Context) error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i](ctx))
	}
	a.closers = nil
	return errors.Join(errs...)
}

// inProcessSandbox is the Toss-compatible PG mounted at /sandbox in sandbox
// mode, unless PAGO_PG_BASE_URL points at a standalone one elsewhere.
func (a *app) inProcessSandbox(cfg Config, log *slog.Logger) http.Handler {
	if cfg.PGMode != "sandbox" || cfg.PGBaseURL != cfg.PublicURL+"/sandbox" {
		return nil
	}
	sb := sandbox.New(sandbox.Config{
		SecretKey:  string(cfg.PGSecretKey),
		ClientKey:  cfg.PGClientKey,
		BasePath:   "/sandbox",
		WebhookURL: cfg.PublicURL + "/webhooks/pg",
		AdminToken: string(cfg.SandboxAdminToken),
		// The pay page sends customers back to pago only.
		RedirectOrigins: []string{cfg.PublicURL},
		Logger:          log.With("component", "sandbox"),
	})
	a.sandbox = sb
	a.closers = append(a.closers, func(context.Context) error { sb.Close(); return nil })
	return sb
}

// newPGClient is the PG client of cfg; metrics may be nil (commands).
func newPGClient(cfg Config, log *slog.Logger, metrics *web.Metrics) (*pg.Client, error) {
	pcfg := pg.Config{
		BaseURL:          cfg.PGBaseURL,
		SecretKey:        string(cfg.PGSecretKey),
		RequestTimeout:   cfg.PGTimeout,
		UnencryptedHTTP2: cfg.PGH2C,
		Breaker:          pg.BreakerConfig{ConsecutiveFailures: uint32(cfg.BreakerFailures), OpenTimeout: cfg.BreakerOpenTimeout},
		Logger:           log.With("component", "pg"),
		OnBreakerStateChange: func(from, to string) {
			log.Warn("PG circuit breaker", "from", from, "to", to)
			if metrics != nil {
				metrics.SetBreakerState(to)
			}
		},
	}
	if metrics != nil {
		pcfg.OnCall = metrics.ObservePG
	}
	c, err := pg.New(pcfg)
	if err != nil {
		return nil, fmt.Errorf("PG client: %w", err)
	}
	return c, nil
}

// newService is pago's money core on st, paying by card through pgClient.
func newService(cfg Config, st *store.Store, locker payment.Locker, idem *payment.Idempotency, now payment.Clock,
	checkoutURL func(string) string, pgClient *pg.Client, log *slog.Logger) *payment.Service {
	return payment.NewService(st, locker, idem, now, payment.Config{
		WalletLimit:      payment.Won(cfg.WalletLimit),
		OrderTTL:         cfg.OrderTTL,
		CheckoutURL:      checkoutURL,
		Gateway:          pg.Gateway{Client: pgClient},
		ProbeDelay:       cfg.ProbeDelay,
		ConfirmTimeout:   cfg.ConfirmTimeout,
		ConfirmWait:      cfg.ConfirmWait,
		RefundWait:       cfg.RefundWait,
		BatchTimeout:     cfg.BatchTimeout,
		MaxOpenOrders:    cfg.MaxOpenOrders,
		MaxReservedUnits: int64(cfg.MaxReservedUnits),
	}, log)
}

// newReconciler matches the PG's settlements (through pgClient) against
// svc's payments; metrics may be nil (commands).
func newReconciler(cfg Config, st *store.Store, svc *payment.Service, pgClient *pg.Client, metrics *web.Metrics) *payment.Reconciler {
	rc := payment.ReconcilerConfig{Store: st, Settlements: pg.Gateway{Client: pgClient}, FeePerMille: cfg.PGFeePerMille}
	if metrics != nil {
		rc.Observer = metrics
	}
	return payment.NewReconciler(svc, rc)
}

// webhookGate passes webhooks to the service until the app closes.
type webhookGate struct {
	web.WebhookAcceptor
	closed atomic.Bool
}

// AcceptWebhook implements web.WebhookAcceptor.
func (g *webhookGate) AcceptWebhook(ctx context.Context, dedupeKey, paymentKey string, claimed payment.GatewayStatus) error {
	if g.closed.Load() {
		return nil
	}
	return g.WebhookAcceptor.AcceptWebhook(ctx, dedupeKey, paymentKey, claimed)
}

// clock is pago's time: UTC, to the microsecond PostgreSQL keeps, so that
// an answer built from what a batch wrote (a settle or wallet batch at
// once) says what a later read of the same rows says.
func clock() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
