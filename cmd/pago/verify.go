package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pago/pago/payment"
)

// errViolations makes `pago verify` exit non-zero.
var errViolations = errors.New("invariants violated")

// verifyCmd recomputes every invariant over the whole database: ledger
// transactions sum to zero, wallet balances equal their ledger accounts and
// histories, stock adds up, paid orders have completed payments.
func verifyCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return usageError{"pago verify takes no arguments"}
	}
	log, st, err := storeFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	now := clock
	svc := payment.NewService(st, nil, nil, now, payment.Config{}, log)
	vs, err := svc.Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for _, v := range vs {
		fmt.Fprintf(stdout, "VIOLATION %s: %s\n", v.Check, v.Detail)
	}
	if len(vs) > 0 {
		return fmt.Errorf("%d %w", len(vs), errViolations)
	}
	fmt.Fprintln(stdout, "verify: ok — ledger balanced, wallets match their ledger and history, stock adds up, paid orders are paid, PG clearing holds what the PG owes")
	return nil
}
