// Command pago is the one pago binary: the server (serve), database
// migrations (migrate), the PG sandbox on its own (sandbox), the money
// invariants check (verify), reconciliation of a PG sold date (reconcile),
// a conformance check of a Toss-compatible PG (pg-check), bearer tokens for
// developers (token) and the wallet benchmark (bench). `pago help` lists them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "pago:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line itself.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg + "\n\n" + usage }

const usage = `usage: pago <command> [flags]

commands:
  serve     run the HTTP server (GraphQL, checkout pages, jobs)
  migrate   apply database migrations and exit
  sandbox   run the Toss-compatible PG sandbox alone: pago sandbox --addr 127.0.0.1:8090
  verify    check every money invariant; exits non-zero on any violation
  reconcile match one PG sold date's settlement against pago: pago reconcile
            [--date YYYY-MM-DD] (default yesterday, KST); prints the items per
            class and exits non-zero while MANUAL or UNKNOWN items are open
  pg-check  check a Toss-compatible endpoint with TEST keys: pago pg-check
            [--base-url URL --secret-key test_gsk_… --client-key test_gck_…]
  token     print a bearer token: pago token --user NAME [--admin] [--ttl 24h]
  bench     measure payWithWallet over HTTP against a local server, and the raw
            database limit: pago bench wallet [--url http://127.0.0.1:8080]
            [--clients 32] [--ops 2000] [--duration 30s] [--wallets 64]

Configuration comes from PAGO_* environment variables; see README.md.`

// run is main without the process: arguments, environment and output are
// parameters so tests can drive every command.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"pago: no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stderr)
	case "migrate":
		return migrateCmd(ctx, rest, getenv, stderr)
	case "sandbox":
		return sandboxCmd(ctx, rest, getenv, stderr)
	case "token":
		return tokenCmd(rest, getenv, stdout)
	case "verify":
		return verifyCmd(ctx, rest, getenv, stdout, stderr)
	case "reconcile":
		return reconcileCmd(ctx, rest, getenv, stdout, stderr)
	case "pg-check":
		return pgCheckCmd(ctx, rest, getenv, stdout, stderr)
	case "bench":
		return benchCmd(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return usageError{fmt.Sprintf("pago: unknown command %q", cmd)}
	}
}
