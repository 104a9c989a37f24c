package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pago/pago/pg/sandbox"
)

// sandboxCmd runs the Toss-compatible PG on its own port, so that real
// network timeouts and process crashes can be tested: point pago at it with
// PAGO_PG_BASE_URL. For tests and development only: its /_sandbox/ admin
// routes answer loopback callers only, or holders of --admin-token.
func sandboxCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	webhook := fs.String("webhook-url", "", "where to POST PAYMENT_STATUS_CHANGED webhooks (e.g. http://localhost:8080/webhooks/pg)")
	secretKey := fs.String("secret-key", sandbox.DefaultSecretKey, "the secret key pago must send (PAGO_PG_SECRET_KEY)")
	clientKey := fs.String("client-key", sandbox.DefaultClientKey, "the client key checkout pages use (PAGO_PG_CLIENT_KEY)")
	adminToken := fs.String("admin-token", "", "bearer token the /_sandbox/ admin API requires; without one it answers loopback callers only")
	redirects := fs.String("redirect-origins", "", "comma-separated origins (e.g. https://shop.example) the pay page may send customers back to, besides loopback hosts")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h/--help: the flag set printed the usage
		}
		return usageError{err.Error()}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("component", "sandbox")
	var origins []string
	for _, o := range strings.Split(*redirects, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	sb := sandbox.New(sandbox.Config{SecretKey: *secretKey, ClientKey: *clientKey, WebhookURL: *webhook, Logger: log,
		AdminToken: *adminToken, RedirectOrigins: origins})
	defer sb.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	// HTTP/1.1, and HTTP/2 without TLS for a pago with PAGO_PG_H2C=true.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second, Protocols: &protocols}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("PG sandbox listening", "url", "http://"+ln.Addr().String(), "webhook_url", *webhook)
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		err = errors.Join(err, serr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
