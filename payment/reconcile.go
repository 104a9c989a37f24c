package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// kst is the PG's business time zone: sold dates are KST dates.
var kst = time.FixedZone("KST", 9*60*60)

// ReconcilerConfig holds the reconciler's dependencies and knobs.
type ReconcilerConfig struct {
	Store       ReconcileStore
	Settlements Settlements
	// FeePerMille is the PG's contracted card fee in thousandths, VAT
	// included (default 32: 3.2 %). A line charged otherwise is corrected
	// in the ledger and reported as FEE_DIFFERS.
	FeePerMille int64
	// Refunds records refunds pago missed; nil until refunds land (such
	// lines are then MANUAL).
	Refunds MissedRefunds
	// Observer hears about every run (metrics); nil for none.
	Observer ReconcileObserver
}

// Reconciler matches the PG's settlements against pago, date by date.
type Reconciler struct {
	svc *Service
	st  ReconcileStore
	cfg ReconcilerConfig
	now Clock
	log *slog.Logger
}

// NewReconciler returns the reconciler of svc's payments.
func NewReconciler(svc *Service, cfg ReconcilerConfig) *Reconciler {
	if cfg.FeePerMille == 0 {
		cfg.FeePerMille = 32
	}
	return &Reconciler{svc: svc, st: cfg.Store, cfg: cfg, now: svc.now, log: svc.log.With("component", "reconcile")}
}

// Yesterday is the sold date a daily run reconciles: yesterday in KST.
func (r *Reconciler) Yesterday() string {
	return r.now().In(kst).AddDate(0, 0, -1).Format(time.DateOnly)
}

// parseSoldDate checks a YYYY-MM-DD sold date that is not in the future.
func (r *Reconciler) parseSoldDate(date string) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, date, kst)
	if err != nil || d.Format(time.DateOnly) != date {
		return time.Time{}, BadInput("date", "date must be a sold date as YYYY-MM-DD")
	}
	if d.After(r.now().In(kst)) {
		return time.Time{}, BadInput("date", "date %s is in the future", date)
	}
	return d, nil
}

// runState is one execution of a run.
type runState struct {
	run     ReconciliationRun
	stamp   string // this execution, for "found again" bookkeeping
	found   []Mismatch
	pgKeys  map[string]bool // payment keys with a sale line on the date
	checked int64
	matched int64
}

// Run reconciles one sold date (YYYY-MM-DD, KST): it pulls the PG's lines
// for the date, matches each against pago's payment, books the matched
// lines' fees and due payouts, applies the automated fixes, records every
// mismatch, lists pago's approved payments the PG did not settle, and
// checks that the PG-clearing account holds what the PG still owes. A re-run
// refreshes the same run and the same mismatches; nothing is fixed or booked
// twice, because every fix goes through a conditional state transition and
// every booking is keyed by the PG's transaction.
func (r *Reconciler) Run(ctx context.Context, date string) (ReconciliationRun, error) {
	day, err := r.parseSoldDate(date)
	if err != nil {
		return ReconciliationRun{}, err
	}
	now := r.now().UTC()
	run, err := r.st.StartRun(ctx, NewID("rcr", now), date, now)
	if err != nil {
		return ReconciliationRun{}, fmt.Errorf("start reconciliation of %s: %w", date, err)
	}
	rs := &runState{run: run, stamp: NewID("rcx", now), pgKeys: map[string]bool{}}
	if err := r.reconcile(ctx, rs, day); err != nil {
		rs.run.Status, rs.run.Error = RunFailed, err.Error()
		r.log.ErrorContext(ctx, "reconciliation failed", "date", date, "err", err)
	} else {
		rs.run.Status = RunDone
	}
	if ferr := r.finish(context.WithoutCancel(ctx), rs); ferr != nil {
		return rs.run, errors.Join(err, ferr)
	}
	if err != nil {
		return rs.run, fmt.Errorf("reconcile %s: %w", date, err)
	}
	return rs.run, nil
}

func (r *Reconciler) reconcile(ctx context.Context, rs *runState, day time.Time) error {
	date := rs.run.Date
	lines, err := r.cfg.Settlements.SettlementsSold(ctx, date)
	if err != nil {
		return fmt.Errorf("PG settlements: %w", err)
	}
	seen := map[string]bool{}
	changedPG, err := r.matchLines(ctx, rs, lines, seen)
	if err != nil {
		return err
	}
	if changedPG {
		// A fix acted at the PG (a refund): its cancel line is part of the
		// date too. One more pass over the lines not seen yet.
		again, err := r.cfg.Settlements.SettlementsSold(ctx, date)
		if err != nil {
			return fmt.Errorf("PG settlements after fixes: %w", err)
		}
		var fresh []SettlementLine
		for _, l := range again {
			if !seen[l.PaymentKey+"\x00"+l.TransactionKey] {
				fresh = append(fresh, l)
			}
		}
		if _, err := r.matchLines(ctx, rs, fresh, seen); err != nil {
			return err
		}
	}
	if err := r.missingAtPG(ctx, rs, day); err != nil {
		return err
	}
	return r.checkClearing(ctx, rs)
}

// matchLines classifies and handles each line; it reports whether a fix
// changed the PG's records.
func (r *Reconciler) matchLines(ctx context.Context, rs *runState, lines []SettlementLine, seen map[string]bool) (bool, error) {
	changedPG := false
	for _, l := range lines {
		key := l.PaymentKey + "\x00" + l.TransactionKey
		f, err := r.facts(ctx, l, seen[key])
		if err != nil {
			return changedPG, err
		}
		seen[key] = true
		rs.checked++
		if !l.IsCancel() {
			rs.pgKeys[l.PaymentKey] = true
		}
		c := classify(f)
		if c.matched {
			rs.matched++
			if err := r.book(ctx, f, false); err != nil {
				return changedPG, err
			}
			continue
		}
		m := r.mismatchFor(rs, f, c)
		if c.class == ClassAutoFixed {
			res, err := c.rule.fix(ctx, r, f)
			switch {
			case err != nil:
				// Not fixed this time: an operator sees it; the next run
				// tries again (an open item's class follows the latest run).
				m.Class = ClassManual
				m.Detail += "; the automated fix failed: " + err.Error()
				r.log.WarnContext(ctx, "automated fix failed", "rule", c.rule.name, "payment_key", l.PaymentKey, "err", err)
			default:
				changedPG = changedPG || res.changedPG
				m.Status, m.Resolution, m.ResolvedBy = MismatchResolved, res.did, SourceReconciliation
				resolvedAt := r.now().UTC()
				m.ResolvedAt = &resolvedAt
				if f, err = r.facts(ctx, l, false); err != nil {
					return changedPG, err
				}
				if f.settled() && amountsAgree(f) {
					if err := r.book(ctx, f, c.rule.kind == KindFeeDiffers); err != nil {
						return changedPG, err
					}
				}
			}
		}
		if err := r.record(ctx, rs, m); err != nil {
			return changedPG, err
		}
	}
	return changedPG, nil
}

// facts gathers what pago has for line l.
func (r *Reconciler) facts(ctx context.Context, l SettlementLine, duplicate bool) (*lineFacts, error) {
	f := &lineFacts{Line: l, Duplicate: duplicate, ExpectedFee: contractFee(l.Amount, r.cfg.FeePerMille),
		RefundsWired: r.cfg.Refunds != nil}
	s := r.svc.store
	p, err := s.PaymentByPGKey(ctx, l.PaymentKey)
	switch {
	case err == nil:
		f.Payment = &p
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	orderID := l.OrderID
	if f.Payment != nil {
		orderID = f.Payment.OrderID
	}
	if checkID("orderId", orderID) == nil {
		o, err := s.Order(ctx, orderID)
		switch {
		case err == nil:
			f.Order = &o
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	if l.IsCancel() {
		booked, err := r.st.SettlementLinesByPayment(ctx, l.PaymentKey)
		if err != nil {
			return nil, err
		}
		f.Cancelled = -l.Amount
		for _, b := range booked {
			if b.IsCancel() && b.TransactionKey != l.TransactionKey {
				f.Cancelled += -b.Amount
			}
		}
	}
	return f, nil
}

func (r *Reconciler) mismatchFor(rs *runState, f *lineFacts, c classification) Mismatch {
	now := r.now().UTC()
	m := Mismatch{ID: NewID("mis", now), RunID: rs.run.ID, Date: rs.run.Date, Kind: c.rule.kind, Class: c.class,
		Status: MismatchOpen, Rule: c.rule.name, PaymentKey: f.Line.PaymentKey, TransactionKey: f.Line.TransactionKey,
		Detail: c.rule.detail(f), LastSeenRun: rs.stamp, CreatedAt: now, UpdatedAt: now}
	pg := f.Line.Amount
	m.PGAmount = &pg
	if f.Order != nil {
		m.OrderID = f.Order.ID
	}
	if f.Payment != nil {
		amount := f.Payment.CardAmount() // the PG sees a split's card part only
		if f.Line.IsCancel() {
			amount = -f.pagoRefunded()
		}
		m.PagoAmount = &amount
	} else if f.Order != nil && !f.Line.IsCancel() {
		amount := f.Order.Amount.Amount
		m.PagoAmount = &amount
	}
	if c.rule.kind == KindFeeDiffers {
		pgFee, pagoFee := f.Line.Fee, f.ExpectedFee
		m.PGAmount, m.PagoAmount = &pgFee, &pagoFee
	}
	if c.rule.kind == KindDuplicateAtPG {
		// One item per repeated transaction, however often it repeats.
		m.TransactionKey = f.Line.TransactionKey
	}
	return m
}

func (r *Reconciler) record(ctx context.Context, rs *runState, m Mismatch) error {
	if err := r.st.UpsertMismatch(ctx, m); err != nil {
		return fmt.Errorf("record mismatch %s of %s: %w", m.Kind, m.PaymentKey, err)
	}
	rs.found = append(rs.found, m)
	return nil
}

// missingAtPG lists pago's card payments approved on the date that the PG
// did not settle (MANUAL: pago delivered something the PG may never pay).
func (r *Reconciler) missingAtPG(ctx context.Context, rs *runState, day time.Time) error {
	ps, err := r.st.CardPaymentsApproved(ctx, day.UTC(), day.AddDate(0, 0, 1).UTC())
	if err != nil {
		return fmt.Errorf("pago's payments of %s: %w", rs.run.Date, err)
	}
	for _, p := range ps {
		if rs.pgKeys[p.PGPaymentKey] {
			continue
		}
		rs.checked++
		booked, err := r.st.SettlementLinesByPayment(ctx, p.PGPaymentKey)
		if err != nil {
			return err
		}
		if len(booked) > 0 {
			rs.matched++ // settled on a neighbouring date (approval near midnight)
			continue
		}
		now := r.now().UTC()
		amount := p.Amount.Amount
		if err := r.record(ctx, rs, Mismatch{ID: NewID("mis", now), RunID: rs.run.ID, Date: rs.run.Date,
			Kind: KindMissingAtPG, Class: ClassManual, Status: MismatchOpen, Rule: "payment-not-settled",
			OrderID: p.OrderID, PaymentKey: p.PGPaymentKey, PagoAmount: &amount,
			Detail:      fmt.Sprintf("pago has payment %s as %s, approved %s, but the PG settled no sale for it", p.ID, p.Status, p.ApprovedAt.Format(time.RFC3339)),
			LastSeenRun: rs.stamp, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
	}
	return nil
}

// checkClearing compares, payment key by payment key, what the PG-clearing
// account holds for the date's booked lines with what the PG still owes
// for them; any difference is a LEDGER_DIFFERS item nobody can explain yet.
func (r *Reconciler) checkClearing(ctx context.Context, rs *runState) error {
	pos, err := r.st.ClearingByPaymentKey(ctx, rs.run.Date)
	if err != nil {
		return fmt.Errorf("clearing of %s: %w", rs.run.Date, err)
	}
	rs.run.ClearingBalance, rs.run.PGOwes = 0, 0
	for _, p := range pos {
		rs.run.ClearingBalance += p.Clearing
		rs.run.PGOwes += p.Owed
		if p.Clearing == -p.Owed {
			continue
		}
		now := r.now().UTC()
		clearing, owed := -p.Clearing, p.Owed
		if err := r.record(ctx, rs, Mismatch{ID: NewID("mis", now), RunID: rs.run.ID, Date: rs.run.Date,
			Kind: KindLedgerDiffers, Class: ClassUnknown, Status: MismatchOpen, Rule: "clearing-differs-from-owed",
			PaymentKey: p.PaymentKey, PagoAmount: &clearing, PGAmount: &owed,
			Detail:      fmt.Sprintf("PG clearing holds %d for this payment, the PG still owes %d", -p.Clearing, p.Owed),
			LastSeenRun: rs.stamp, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
	}
	return nil
}

// finish closes the date's items this execution did not find again, counts
// the date's picture and records the run.
func (r *Reconciler) finish(ctx context.Context, rs *runState) error {
	now := r.now().UTC()
	if rs.run.Status == RunDone {
		if _, err := r.st.ResolveUnseenMismatches(ctx, rs.run.Date, rs.stamp,
			"no longer found by the reconciliation of "+now.Format(time.RFC3339), now); err != nil {
			return err
		}
	}
	counts, err := r.st.CountMismatches(ctx, rs.run.Date)
	if err != nil {
		return err
	}
	rs.run.MismatchCount, rs.run.AutoFixed = 0, 0
	for _, c := range counts {
		rs.run.MismatchCount += c.N
		if c.Class == ClassAutoFixed {
			rs.run.AutoFixed += c.N
		}
	}
	rs.run.Checked, rs.run.Matched, rs.run.FinishedAt = rs.checked, rs.matched, &now
	if err := r.st.FinishRun(ctx, rs.run); err != nil {
		return fmt.Errorf("record run %s: %w", rs.run.ID, err)
	}
	if r.cfg.Observer != nil {
		open, err := r.st.CountMismatches(ctx, "")
		if err == nil {
			r.cfg.Observer.ObserveReconciliation(rs.run, rs.found, open)
		}
	}
	r.log.InfoContext(ctx, "reconciliation run", "date", rs.run.Date, "status", rs.run.Status, "checked", rs.run.Checked,
		"matched", rs.run.Matched, "mismatches", rs.run.MismatchCount, "auto_fixed", rs.run.AutoFixed,
		"clearing", rs.run.ClearingBalance, "pg_owes", rs.run.PGOwes)
	return nil
}

// PayoutsDue re-runs the dates whose booked lines have payouts that fell
// due since (the PG paid them out): their runs book the payouts.
func (r *Reconciler) PayoutsDue(ctx context.Context) ([]string, error) {
	return r.st.SoldDatesWithPayoutsDue(ctx, r.now().In(kst).Format(time.DateOnly))
}

// book records a matched line in the ledger, once: the PG's fee (PG
// clearing → PG fees; the contract's fee, and a correction when the PG
// charged otherwise) and, once its paid-out date has come, the payout (PG
// clearing → merchant bank). A line booked before only gets its payout.
func (r *Reconciler) book(ctx context.Context, f *lineFacts, feeCorrected bool) error {
	l := f.Line
	today := r.now().In(kst).Format(time.DateOnly)
	due := l.PaidOutDate != "" && l.PaidOutDate <= today
	existing, err := r.st.SettlementLine(ctx, l.PaymentKey, l.TransactionKey)
	switch {
	case err == nil:
		if existing.PayoutLedgerTx != "" || !due {
			return nil
		}
		return r.bookPayout(ctx, existing)
	case !errors.Is(err, ErrNotFound):
		return err
	}
	err = r.st.InReconcileTx(ctx, func(q ReconcileTx) error {
		now := r.now().UTC()
		b := BookedLine{SettlementLine: l, CreatedAt: now}
		if f.Order != nil {
			b.OrderID = f.Order.ID
			posts, err := q.OrderClearingPostings(ctx, f.Order.ID)
			if err != nil {
				return err
			}
			used, err := q.SettlementLinesByPayment(ctx, l.PaymentKey)
			if err != nil {
				return err
			}
			b.PagoLedgerTx = pagoPosting(posts, used, l)
		}
		var entries []LedgerEntry
		if f.ExpectedFee != 0 {
			entries = append(entries, LedgerEntry{AccountID: AccountIDPGClearing, Amount: f.ExpectedFee},
				LedgerEntry{AccountID: AccountIDPGFees, Amount: -f.ExpectedFee})
		}
		desc := fmt.Sprintf("PG fee %d on %s/%s", l.Fee, l.PaymentKey, l.TransactionKey)
		if diff := l.Fee - f.ExpectedFee; diff != 0 {
			entries = append(entries, LedgerEntry{AccountID: AccountIDPGClearing, Amount: diff},
				LedgerEntry{AccountID: AccountIDPGFees, Amount: -diff})
			desc += fmt.Sprintf(" (contract %d, corrected by %+d)", f.ExpectedFee, diff)
		}
		if len(entries) > 0 {
			kind := "PG_FEE"
			if feeCorrected {
				kind = "PG_FEE_CORRECTED"
			}
			id, err := r.svc.post(ctx, q, kind, b.OrderID, desc, now, entries...)
			if err != nil {
				return err
			}
			b.FeeLedgerTx = id
		}
		if due && l.PayOut != 0 {
			id, err := r.postPayout(ctx, q, b, now)
			if err != nil {
				return err
			}
			b.PayoutLedgerTx = id
		}
		ok, err := q.InsertSettlementLine(ctx, b)
		if err != nil {
			return err
		}
		if !ok {
			return errAlreadyBooked
		}
		return nil
	})
	if errors.Is(err, errAlreadyBooked) {
		return nil // a concurrent run booked it: its postings stand, ours were rolled back
	}
	if err != nil {
		return fmt.Errorf("book settlement %s/%s: %w", l.PaymentKey, l.TransactionKey, err)
	}
	return nil
}

var errAlreadyBooked = errors.New("settlement line already booked")

func (r *Reconciler) bookPayout(ctx context.Context, b BookedLine) error {
	if b.PayOut == 0 {
		return nil
	}
	err := r.st.InReconcileTx(ctx, func(q ReconcileTx) error {
		now := r.now().UTC()
		id, err := r.postPayout(ctx, q, b, now)
		if err != nil {
			return err
		}
		ok, err := q.SetSettlementPayout(ctx, b.PaymentKey, b.TransactionKey, id)
		if err != nil {
			return err
		}
		if !ok {
			return errAlreadyBooked
		}
		return nil
	})
	if errors.Is(err, errAlreadyBooked) {
		return nil
	}
	return err
}

func (r *Reconciler) postPayout(ctx context.Context, q Queries, b BookedLine, now time.Time) (string, error) {
	return r.svc.post(ctx, q, "PG_PAYOUT", b.OrderID,
		fmt.Sprintf("PG payout %d on %s for %s/%s", b.PayOut, b.PaidOutDate, b.PaymentKey, b.TransactionKey), now,
		LedgerEntry{AccountID: AccountIDPGClearing, Amount: b.PayOut},
		LedgerEntry{AccountID: AccountIDMerchantBank, Amount: -b.PayOut})
}

// settlementKinds are the ledger transactions settlement itself books (the
// PG's fees and payouts), never pago's own posting of a payment.
var settlementKinds = map[string]bool{"PG_FEE": true, "PG_FEE_CORRECTED": true, "PG_PAYOUT": true}

// pagoPosting picks pago's own posting a line matched: for a sale, the
// order's posting that took the amount into PG clearing (card payment or
// top-up); for a cancel, one that gave it back (a refund). Postings other
// lines of the payment matched, and settlement's own, are skipped.
func pagoPosting(posts []ClearingPosting, booked []BookedLine, l SettlementLine) string {
	used := map[string]bool{}
	for _, b := range booked {
		used[b.PagoLedgerTx] = true
		used[b.FeeLedgerTx] = true
		used[b.PayoutLedgerTx] = true
	}
	for _, p := range posts {
		if used[p.LedgerTxID] || settlementKinds[p.Kind] {
			continue
		}
		if p.Clearing == -l.Amount {
			return p.LedgerTxID
		}
	}
	return ""
}

// fixResult says what an automated fix did.
type fixResult struct {
	did       string
	changedPG bool // the fix acted at the PG (a refund)
}

type fixFunc func(ctx context.Context, r *Reconciler, f *lineFacts) (fixResult, error)

// errNotFixed: the fix found the situation is not the one its rule fixes.
var errNotFixed = errors.New("not fixable automatically")

// fixSettlePayment settles a payment pago has as PENDING or IN_DOUBT from
// the PG's record, through settle: the state machine every other source
// uses, whose conditional transitions make a second settle a no-op.
func fixSettlePayment(ctx context.Context, r *Reconciler, f *lineFacts) (fixResult, error) {
	s := r.svc
	p := *f.Payment
	truth, err := s.cfg.Gateway.Payment(ctx, p.PGPaymentKey)
	if err != nil {
		return fixResult{}, fmt.Errorf("look up %s at the PG: %w", p.PGPaymentKey, err)
	}
	if f.Order != nil && f.Order.Status == OrderExpired {
		// The order expired while pago did not know: the goods are gone.
		if p.Status == PaymentPending {
			if err := r.markInDoubt(ctx, p); err != nil {
				return fixResult{}, err
			}
		}
		return r.refundExpired(ctx, p, *f.Order)
	}
	if p.Status == PaymentPending {
		if err := r.resumeInDoubt(ctx, p); err != nil {
			return fixResult{}, err
		}
	}
	o, err := r.orderOf(ctx, f.Order, p)
	if err != nil {
		return fixResult{}, err
	}
	res, err := s.settle(ctx, p, o, truth, SourceReconciliation, nil)
	if err != nil {
		return fixResult{}, err
	}
	return settledResult(res)
}

func settledResult(res ConfirmResult) (fixResult, error) {
	switch res.Payment.Status {
	case PaymentDone, PaymentPartiallyCanceled:
		return fixResult{did: fmt.Sprintf("settled payment %s: order %s is %s", res.Payment.ID, res.Order.ID, res.Order.Status)}, nil
	case PaymentCanceled:
		return fixResult{did: fmt.Sprintf("payment %s refunded at the PG: order %s is %s", res.Payment.ID, res.Order.ID, res.Order.Status),
			changedPG: true}, nil
	}
	return fixResult{}, fmt.Errorf("%w: payment %s is still %s", errNotFixed, res.Payment.ID, res.Payment.Status)
}

// resumeInDoubt takes a PENDING payment (pago believed its confirm never
// reached the PG) and its order back to IN_DOUBT, where settle takes over.
func (r *Reconciler) resumeInDoubt(ctx context.Context, p Payment) error {
	s := r.svc
	return s.store.InTx(ctx, func(q Queries) error {
		now := s.now().UTC()
		cur, err := q.LockPayment(ctx, p.ID)
		if err != nil || cur.Status != PaymentPending {
			return err // settled meanwhile: settle below re-reads
		}
		o := Order{ID: p.OrderID, Status: OrderPending}
		if ok, err := s.moveOrder(ctx, q, &o, OrderInDoubt, SourceReconciliation, now); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("%w: order %s is no longer PENDING", errNotFixed, p.OrderID)
			}
			return err
		}
		if err := s.movePayment(ctx, q, &cur, PaymentInDoubt, EventFoundAtPG, SourceReconciliation,
			"the PG settled this payment; settling it from the PG's record", now); err != nil {
			return err
		}
		return q.EnqueuePaymentProbe(ctx, p.ID, now.Add(s.cfg.ProbeDelay))
	})
}

// markInDoubt takes a PENDING payment of an expired order to IN_DOUBT, the
// state refundExpired closes from.
func (r *Reconciler) markInDoubt(ctx context.Context, p Payment) error {
	s := r.svc
	return s.store.InTx(ctx, func(q Queries) error {
		cur, err := q.LockPayment(ctx, p.ID)
		if err != nil || cur.Status != PaymentPending {
			return err
		}
		return s.movePayment(ctx, q, &cur, PaymentInDoubt, EventFoundAtPG, SourceReconciliation,
			"the PG settled this payment of an expired order; refunding it at the PG", s.now().UTC())
	})
}

// fixAdoptSale records the payment the PG approved for an order pago never
// confirmed, then settles it (a PENDING order), or refunds it at the PG (an
// EXPIRED order: its stock went back, it cannot be delivered).
func fixAdoptSale(ctx context.Context, r *Reconciler, f *lineFacts) (fixResult, error) {
	s := r.svc
	o := *f.Order
	key := f.Line.PaymentKey
	truth, err := s.cfg.Gateway.Payment(ctx, key)
	if err != nil {
		return fixResult{}, fmt.Errorf("look up %s at the PG: %w", key, err)
	}
	if truth.Status != GatewayDone || truth.TotalAmount != o.Amount.Amount || truth.OrderID != o.ID {
		return fixResult{}, fmt.Errorf("%w: the PG's payment %s is %s for %d (order %s)", errNotFixed, key, truth.Status, truth.TotalAmount, truth.OrderID)
	}
	now := s.now().UTC()
	h := sha256.Sum256([]byte("reconcile\x00" + key))
	p := Payment{ID: NewID("pay", now), OrderID: o.ID, Method: MethodCard, Status: PaymentPending, Amount: o.Amount,
		RefundedAmount: Money{0, o.Amount.Currency}, PGPaymentKey: key,
		PGIdempotencyKey: "pago-reconcile-" + hex.EncodeToString(h[:]), CreatedAt: now, UpdatedAt: now}
	err = s.store.InTx(ctx, func(q Queries) error {
		if o.Status == OrderPending {
			ok, err := s.moveOrder(ctx, q, &o, OrderInDoubt, SourceReconciliation, now)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: order %s is no longer PENDING", errNotFixed, o.ID)
			}
		}
		if err := q.InsertPayment(ctx, p); err != nil {
			return err
		}
		detail := "the PG settled a payment pago never confirmed; settling it from the PG's record"
		if o.Status == OrderExpired {
			detail = "the PG settled a payment for an order that had expired; refunding it at the PG"
		}
		if err := s.movePayment(ctx, q, &p, PaymentInDoubt, EventFoundAtPG, SourceReconciliation, detail, now); err != nil {
			return err
		}
		if o.Status == OrderPending {
			// The probe is the safety net should this process die before settling.
			return q.EnqueuePaymentProbe(ctx, p.ID, now.Add(s.cfg.ProbeDelay))
		}
		return nil
	})
	if err != nil {
		// A confirm (the customer's, late) may have recorded the payment
		// meanwhile: then it is that payment's to settle.
		if existing, perr := s.store.PaymentByPGKey(ctx, key); perr == nil {
			f.Payment = &existing
			return fixSettlePayment(ctx, r, f)
		}
		return fixResult{}, fmt.Errorf("record the PG's payment %s: %w", key, err)
	}
	if o.Status == OrderExpired {
		return r.refundExpired(ctx, p, o)
	}
	res, err := s.settle(ctx, p, o, truth, SourceReconciliation, nil)
	if err != nil {
		return fixResult{}, err
	}
	return settledResult(res)
}

// refundExpired cancels at the PG a payment for an order that expired
// before pago heard of the payment, and closes the payment CANCELED; the
// order stays EXPIRED and no ledger entry is posted (no money stays with
// pago). The cancel's Idempotency-Key is derived from the payment, so a
// re-run after a crash is the same cancel.
func (r *Reconciler) refundExpired(ctx context.Context, p Payment, o Order) (fixResult, error) {
	s := r.svc
	err := s.cancelInFull(ctx, p, "order expired before the payment reached pago")
	if err != nil {
		return fixResult{}, fmt.Errorf("refund %s at the PG: %w", p.PGPaymentKey, err)
	}
	err = s.store.InTx(ctx, func(q Queries) error {
		now := s.now().UTC()
		cur, err := q.LockPayment(ctx, p.ID)
		if err != nil || cur.Status != PaymentInDoubt {
			return err // not IN_DOUBT any more: the re-read below tells
		}
		cur.FailureCode = "ORDER_EXPIRED"
		cur.FailureMessage = "the order had expired; the payment was refunded to the card"
		return s.movePayment(ctx, q, &cur, PaymentCanceled, EventExpiredRefunded, SourceReconciliation,
			"order "+o.ID+" had expired: refunded at the PG", now)
	})
	if err != nil {
		return fixResult{}, fmt.Errorf("close refunded payment %s: %w", p.ID, err)
	}
	if now, err := s.store.Payment(ctx, p.ID); err != nil || now.Status != PaymentCanceled {
		if err == nil {
			err = fmt.Errorf("%w: payment %s is %s after its refund at the PG", errNotFixed, p.ID, now.Status)
		}
		return fixResult{}, err
	}
	return fixResult{did: fmt.Sprintf("order %s had expired: payment %s refunded at the PG", o.ID, p.ID), changedPG: true}, nil
}

// fixFee: the booking of the line posts the contract fee and the
// correction to what the PG charged; the caller books it.
func fixFee(_ context.Context, _ *Reconciler, f *lineFacts) (fixResult, error) {
	return fixResult{did: fmt.Sprintf("corrective fee entry of %+d posted", f.Line.Fee-f.ExpectedFee)}, nil
}

// fixMissedRefund records the refund the PG performed.
func fixMissedRefund(ctx context.Context, r *Reconciler, f *lineFacts) (fixResult, error) {
	missed := f.Cancelled - f.pagoRefunded()
	if err := r.cfg.Refunds.RecordMissedRefund(ctx, f.Line.PaymentKey, missed, f.Line.TransactionKey); err != nil {
		return fixResult{}, err
	}
	return fixResult{did: fmt.Sprintf("refund of %d recorded", missed)}, nil
}

// orderOf is the order of p: the one the facts hold, or read.
func (r *Reconciler) orderOf(ctx context.Context, o *Order, p Payment) (Order, error) {
	if o != nil {
		return *o, nil
	}
	return r.svc.store.Order(ctx, p.OrderID)
}
