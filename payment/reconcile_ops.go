package payment

import (
	"context"
	"fmt"
	"strings"
)

// RunDate reconciles date under the date's lock, so that the daily job and
// an operator's re-run do not do the same work at once (correctness never
// rests on the lock: fixes and bookings are conditional writes).
func (r *Reconciler) RunDate(ctx context.Context, date string) (ReconciliationRun, error) {
	lock, err := r.svc.locker.Lock(ctx, "reconcile:"+date)
	if err != nil {
		return ReconciliationRun{}, err
	}
	defer func() {
		if err := lock.Unlock(context.WithoutCancel(ctx)); err != nil {
			r.log.WarnContext(ctx, "reconcile unlock", "date", date, "err", err)
		}
	}()
	return r.Run(ctx, date)
}

// RunReconciliationInput is runReconciliation's input.
type RunReconciliationInput struct {
	Date string `json:"date"`
}

// RunReconciliation reconciles a sold date for an operator (admin only),
// once per idempotency key.
func (r *Reconciler) RunReconciliation(ctx context.Context, key string, in RunReconciliationInput) (ReconciliationRun, error) {
	admin, err := requireAdmin(ctx)
	if err != nil {
		return ReconciliationRun{}, err
	}
	if _, err := r.parseSoldDate(in.Date); err != nil {
		return ReconciliationRun{}, err
	}
	return Run(ctx, r.svc.idem, admin.ID, key, "runReconciliation", in, func(ctx context.Context, call *Call) (ReconciliationRun, error) {
		run, err := r.RunDate(ctx, in.Date)
		if err != nil && run.ID == "" {
			return run, err
		}
		// A FAILED run is an answer too (its error is on the run).
		if run.Status == RunFailed {
			r.log.WarnContext(ctx, "operator's reconciliation failed", "date", in.Date, "by", admin.Name, "err", err)
		}
		err = r.svc.store.InTx(ctx, func(q Queries) error { return call.Complete(ctx, q, run) })
		return run, err
	})
}

// ResolveMismatchInput is resolveMismatch's input.
type ResolveMismatchInput struct {
	MismatchID string `json:"mismatchId"`
	Note       string `json:"note"`
}

// ResolveMismatch closes an open item with who and why (admin only). Any
// money it needs moved goes through adjustWallet or a refund, audited on
// their own; resolving moves nothing.
func (r *Reconciler) ResolveMismatch(ctx context.Context, key string, in ResolveMismatchInput) (Mismatch, error) {
	admin, err := requireAdmin(ctx)
	if err != nil {
		return Mismatch{}, err
	}
	if err := checkID("mismatchId", in.MismatchID); err != nil {
		return Mismatch{}, err
	}
	in.Note = strings.TrimSpace(in.Note)
	if in.Note == "" || len(in.Note) > 1000 {
		return Mismatch{}, BadInput("note", "note must be 1–1000 characters")
	}
	return Run(ctx, r.svc.idem, admin.ID, key, "resolveMismatch", in, func(ctx context.Context, call *Call) (Mismatch, error) {
		var m Mismatch
		err := r.st.InReconcileTx(ctx, func(q ReconcileTx) error {
			var err error
			if m, err = q.Mismatch(ctx, in.MismatchID); err != nil {
				return err
			}
			if m.Status != MismatchOpen {
				return errorf(CodeInvalidState, "mismatch %s is %s", m.ID, m.Status)
			}
			ok, err := q.ResolveMismatch(ctx, m.ID, admin.Name, in.Note, r.now().UTC())
			if err != nil {
				return err
			}
			if !ok {
				return errorf(CodeInvalidState, "mismatch %s was resolved meanwhile", m.ID)
			}
			if m, err = q.Mismatch(ctx, m.ID); err != nil {
				return err
			}
			return call.Complete(ctx, q, m)
		})
		if err == nil && r.cfg.Observer != nil {
			if open, cerr := r.st.CountMismatches(ctx, ""); cerr == nil {
				r.cfg.Observer.ObserveReconciliation(ReconciliationRun{}, nil, open)
			}
		}
		return m, err
	})
}

// Runs lists reconciliation runs, newest sold date first (admin only).
func (r *Reconciler) Runs(ctx context.Context, page Page) (Connection[ReconciliationRun], error) {
	var out Connection[ReconciliationRun]
	if _, err := requireAdmin(ctx); err != nil {
		return out, err
	}
	limit, err := pageLimit(page.First)
	if err != nil {
		return out, err
	}
	before, err := beforeID("run", page.After)
	if err != nil {
		return out, err
	}
	items, err := r.st.Runs(ctx, before, limit+1)
	if err != nil {
		return out, err
	}
	return pageOf(items, limit, "run", func(x ReconciliationRun) string { return x.Date }), nil
}

// Mismatches lists the queues, newest first (admin only).
func (r *Reconciler) Mismatches(ctx context.Context, f MismatchFilter, page Page) (Connection[Mismatch], error) {
	var out Connection[Mismatch]
	if _, err := requireAdmin(ctx); err != nil {
		return out, err
	}
	limit, err := pageLimit(page.First)
	if err != nil {
		return out, err
	}
	before, err := beforeID("mis", page.After)
	if err != nil {
		return out, err
	}
	items, err := r.st.Mismatches(ctx, f, before, limit+1)
	if err != nil {
		return out, err
	}
	return pageOf(items, limit, "mis", func(m Mismatch) string { return m.ID }), nil
}

// OpenCounts counts the open items of date ("" for every date) by class.
func (r *Reconciler) OpenCounts(ctx context.Context, date string) (map[MismatchClass]int64, error) {
	counts, err := r.st.CountMismatches(ctx, date)
	if err != nil {
		return nil, fmt.Errorf("count mismatches: %w", err)
	}
	out := map[MismatchClass]int64{}
	for _, c := range counts {
		if c.Status == MismatchOpen {
			out[c.Class] += c.N
		}
	}
	return out, nil
}

// Counts counts date's items ("" for every date) by class, any status.
func (r *Reconciler) Counts(ctx context.Context, date string) ([]MismatchCount, error) {
	return r.st.CountMismatches(ctx, date)
}
