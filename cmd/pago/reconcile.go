package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store"
)

// errOpenItems makes pago reconcile exit non-zero while a person has work.
var errOpenItems = errors.New("reconciliation items need an operator")

// reconcileCmd reconciles one PG sold date from the shell, the same run as
// the daily job's, and prints the date's items per class. It exits non-zero
// when MANUAL or UNKNOWN items of the date are open, or the run failed.
func reconcileCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	date := fs.String("date", "", "the PG's sold date (KST) to reconcile, YYYY-MM-DD (default: yesterday)")
	if err := fs.Parse(args); err != nil {
		return usageError{"pago reconcile: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"pago reconcile takes only --date YYYY-MM-DD"}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.OpenJobInserts(log); err != nil {
		return err
	}
	var redisURLs []string
	for _, u := range strings.Split(cfg.RedisURL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			redisURLs = append(redisURLs, u)
		}
	}
	locker, err := store.OpenLocker(ctx, store.LockerConfig{URLs: redisURLs, Prefix: cfg.RedisPrefix, Expiry: cfg.LockExpiry, MaxWait: cfg.LockWait})
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	defer locker.Close()
	pgClient, err := newPGClient(cfg, log, nil)
	if err != nil {
		return err
	}
	now := clock
	idem := payment.NewIdempotency(st, now, cfg.IdempotencyLease)
	svc := newService(cfg, st, locker, idem, now, func(id string) string { return cfg.PublicURL + "/checkout/" + id }, pgClient, log)
	rec := newReconciler(cfg, st, svc, pgClient, nil)
	if *date == "" {
		*date = rec.Yesterday()
	}

	run, runErr := rec.RunDate(ctx, *date)
	if run.ID == "" {
		return runErr
	}
	counts, err := rec.Counts(ctx, *date)
	if err != nil {
		return errors.Join(runErr, err)
	}
	printRun(stdout, run, counts)
	if runErr != nil {
		return runErr
	}
	open := 0
	for _, c := range counts {
		if c.Status == payment.MismatchOpen && c.Class != payment.ClassAutoFixed {
			open += int(c.N)
		}
	}
	if open > 0 {
		return fmt.Errorf("%d %w (see the mismatches query)", open, errOpenItems)
	}
	return nil
}

func printRun(w io.Writer, run payment.ReconciliationRun, counts []payment.MismatchCount) {
	fmt.Fprintf(w, "reconcile %s: %s; checked %d, matched %d, mismatches %d (auto-fixed %d)\n",
		run.Date, run.Status, run.Checked, run.Matched, run.MismatchCount, run.AutoFixed)
	if run.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", run.Error)
	}
	for _, class := range []payment.MismatchClass{payment.ClassAutoFixed, payment.ClassManual, payment.ClassUnknown} {
		var total, open int64
		kinds := map[payment.MismatchKind]int64{}
		for _, c := range counts {
			if c.Class != class {
				continue
			}
			total += c.N
			kinds[c.Kind] += c.N
			if c.Status == payment.MismatchOpen {
				open += c.N
			}
		}
		fmt.Fprintf(w, "  %-10s %d (open %d)", class, total, open)
		for _, k := range slices.Sorted(maps.Keys(kinds)) {
			fmt.Fprintf(w, " %s=%d", k, kinds[k])
		}
		fmt.Fprintln(w)
	}
	state := "consistent"
	if run.ClearingBalance != -run.PGOwes {
		state = "INCONSISTENT"
	}
	fmt.Fprintf(w, "  PG clearing %d, the PG still owes %d: %s\n", run.ClearingBalance, run.PGOwes, state)
}
