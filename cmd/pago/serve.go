package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h/--help: the flag set printed the usage
		}
		return usageError{err.Error()}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if err := cfg.ensureDevJWTSecret(); err != nil {
		return err
	}
	log.Info("starting pago", cfg.logAttrs()...)
	if cfg.jwtSecretGenerated && getenv("PAGO_JWT_SECRET") == "" {
		log.Warn("dev mode: using the generated JWT secret in " + cfg.DataDir + "/jwt-secret; set PAGO_JWT_SECRET in production")
	}

	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		a.close(context.Background())
		return fmt.Errorf("listen on %s: %w (set PAGO_ADDR to another address)", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if cfg.PprofAddr != "" {
		stop, err := servePprof(cfg.PprofAddr)
		if err != nil {
			a.close(context.Background())
			return err
		}
		defer stop()
		log.Info("profiling on", "pprof", "http://"+cfg.PprofAddr+"/debug/pprof/")
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = srv.Close()
			a.close(context.Background())
			return fmt.Errorf("listen on %s: %w (set PAGO_METRICS_ADDR to another address)", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics.Handler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("metrics listener", "addr", mln.Addr().String())
	}
	log.Info("pago is ready", "url", cfg.PublicURL, "graphql", cfg.PublicURL+"/graphql", "playground", cfg.PublicURL+"/playground")

	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	// Graceful: stop accepting, let in-flight requests (confirms included)
	// finish, then stop the job queue and close connections.
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	serr := srv.Shutdown(sctx)
	// Confirms whose customers stopped waiting (ConfirmWait) are still at
	// the PG: let them settle before the database goes.
	derr := a.service.Drain(sctx)
	cerr := a.close(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err = errors.Join(err, serr, derr, cerr); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// servePprof serves net/http/pprof's handlers on addr (loopback, checked by
// the config) until stop is called.
func servePprof(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on PAGO_PPROF_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}
