package payment_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/store/storetest"
)

// situation is one row of the reconciliation table: how to create it, and
// the mismatch it must produce (none for a clean row).
type situation struct {
	name  string
	setup func(e *reconEnv) (orderID string, after func(e *reconEnv))
	kind  payment.MismatchKind // "" for none
	class payment.MismatchClass
}

var situations = []situation{
	{
		// First: it moves the clock past the order's life.
		name: "sale of an order that expired before pago heard of it", kind: payment.KindMissingInPago, class: payment.ClassAutoFixed,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			uctx := e.customer("expired")
			o := e.topUpOrder(uctx, 4_000)
			e.clock.Advance(11 * time.Minute)
			require.NoError(e.t, e.svc.ExpireOrder(e.ctx, o.ID))
			key := e.confirmedBehindPagosBack(uctx, o)
			return o.ID, func(e *reconEnv) {
				got, err := e.svc.Order(uctx, o.ID)
				require.NoError(e.t, err)
				require.Equal(e.t, payment.OrderExpired, got.Status)
				ps, err := e.svc.OrderPayments(uctx, o.ID)
				require.NoError(e.t, err)
				require.Len(e.t, ps, 1)
				require.Equal(e.t, payment.PaymentCanceled, ps[0].Status)
				require.Equal(e.t, int64(0), e.wallet(uctx))
				require.Equal(e.t, 1, e.pgOps("cancel", key), "refunded at the PG exactly once")
			}
		},
	},
	{
		// Also before the others: it moves the clock too.
		name: "sale pago believed never sent, order expired since", kind: payment.KindStatusDiffers, class: payment.ClassAutoFixed,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			uctx := e.customer("unsent-expired")
			o := e.topUpOrder(uctx, 3_000)
			key := e.confirmBelievedUnsent(uctx, o)
			e.clock.Advance(11 * time.Minute)
			require.NoError(e.t, e.svc.ExpireOrder(e.ctx, o.ID))
			return o.ID, func(e *reconEnv) {
				got, err := e.svc.Order(uctx, o.ID)
				require.NoError(e.t, err)
				require.Equal(e.t, payment.OrderExpired, got.Status)
				ps, err := e.svc.OrderPayments(uctx, o.ID)
				require.NoError(e.t, err)
				require.Equal(e.t, payment.PaymentCanceled, ps[0].Status)
				require.Equal(e.t, 1, e.pgOps("cancel", key), "refunded at the PG exactly once")
			}
		},
	},
	{
		name: "sale pago believed never sent (PG looked unreachable)", kind: payment.KindStatusDiffers, class: payment.ClassAutoFixed,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			uctx := e.customer("unsent")
			o := e.topUpOrder(uctx, 2_000)
			e.confirmBelievedUnsent(uctx, o)
			return o.ID, func(e *reconEnv) {
				got, err := e.svc.Order(uctx, o.ID)
				require.NoError(e.t, err)
				require.Equal(e.t, payment.OrderPaid, got.Status)
				require.Equal(e.t, int64(2_000), e.wallet(uctx), "credited exactly once")
			}
		},
	},
	{
		name: "clean card sale",
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			return e.paidByCard("clean", 10_000).ID, nil
		},
	},
	{
		name: "DropLine: the PG never settled a sale pago has as PAID", kind: payment.KindMissingAtPG, class: payment.ClassManual,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			o := e.paidByCard("dropped", 11_000)
			e.fault(sandbox.SettlementFault{Kind: sandbox.SettlementDropLine, OrderID: o.ID})
			return o.ID, nil
		},
	},
	{
		name: "AmountDiffers", kind: payment.KindAmountDiffers, class: payment.ClassManual,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			o := e.paidByCard("amount", 12_000)
			e.fault(sandbox.SettlementFault{Kind: sandbox.SettlementAmountDiffers, OrderID: o.ID})
			return o.ID, nil
		},
	},
	{
		name: "FeeDiffers: corrective fee entry", kind: payment.KindFeeDiffers, class: payment.ClassAutoFixed,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			o := e.paidByCard("fee", 13_000)
			e.fault(sandbox.SettlementFault{Kind: sandbox.SettlementFeeDiffers, OrderID: o.ID})
			return o.ID, func(e *reconEnv) {
				// 3.2 % of 13,000 is 416; the PG charged 426.
				require.Equal(e.t, int64(-426), e.ledgerSum(payment.AccountIDPGFees, "PG_FEE_CORRECTED"))
			}
		},
	},
	{
		name: "Duplicate line", kind: payment.KindDuplicateAtPG, class: payment.ClassManual,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			o := e.paidByCard("duplicate", 14_000)
			e.fault(sandbox.SettlementFault{Kind: sandbox.SettlementDuplicate, OrderID: o.ID})
			return o.ID, nil
		},
	},
	{
		name: "ForeignLine: a sale of an order pago never created", kind: payment.KindUnknownAtPG, class: payment.ClassUnknown,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			e.fault(sandbox.SettlementFault{Kind: sandbox.SettlementForeignLine, Amount: 7_700})
			return "", nil
		},
	},
	{
		name: "sale confirmed at the PG behind pago's back", kind: payment.KindMissingInPago, class: payment.ClassAutoFixed,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			uctx := e.customer("behind")
			o := e.topUpOrder(uctx, 15_000)
			e.confirmedBehindPagosBack(uctx, o)
			return o.ID, func(e *reconEnv) {
				got, err := e.svc.Order(uctx, o.ID)
				require.NoError(e.t, err)
				require.Equal(e.t, payment.OrderPaid, got.Status)
				require.Equal(e.t, int64(15_000), e.wallet(uctx), "credited exactly once")
			}
		},
	},
	{
		name: "answer lost: pago has the payment IN_DOUBT", kind: payment.KindStatusDiffers, class: payment.ClassAutoFixed,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			uctx := e.customer("lost")
			o := e.topUpOrder(uctx, 16_000)
			key := e.authenticate(o)
			e.gw.loseAnswer(o.ID, fmt.Errorf("%w: read: connection reset by peer", payment.ErrGatewayUnknownOutcome))
			_, err := e.svc.ConfirmPayment(uctx, "confirm-"+o.ID, payment.SourceMutation,
				payment.ConfirmInput{OrderID: o.ID, PaymentKey: key, Amount: o.Amount.Amount})
			require.ErrorIs(e.t, err, payment.ErrPaymentInDoubt)
			return o.ID, func(e *reconEnv) {
				got, err := e.svc.Order(uctx, o.ID)
				require.NoError(e.t, err)
				require.Equal(e.t, payment.OrderPaid, got.Status)
				require.Equal(e.t, int64(16_000), e.wallet(uctx), "credited exactly once")
			}
		},
	},
	{
		name: "cancel pago missed, refunds not wired yet", kind: payment.KindMissingInPago, class: payment.ClassManual,
		setup: func(e *reconEnv) (string, func(*reconEnv)) {
			o := e.paidByCard("cancelled", 17_000)
			e.cancelAtPG(o.ID)
			return o.ID, nil
		},
	},
}

// confirmBelievedUnsent confirms o at the PG while pago hears "PG
// unavailable": pago gives the order back (payment PENDING) although the
// PG charged it.
func (e *reconEnv) confirmBelievedUnsent(uctx context.Context, o payment.Order) string {
	key := e.authenticate(o)
	e.gw.loseAnswer(o.ID, fmt.Errorf("%w: connect: connection refused", payment.ErrGatewayUnavailable))
	_, err := e.svc.ConfirmPayment(uctx, "confirm-"+o.ID, payment.SourceMutation,
		payment.ConfirmInput{OrderID: o.ID, PaymentKey: key, Amount: o.Amount.Amount})
	require.ErrorIs(e.t, err, payment.ErrPGUnavailable)
	ps, err := e.svc.OrderPayments(uctx, o.ID)
	require.NoError(e.t, err)
	require.Equal(e.t, payment.PaymentPending, ps[0].Status)
	return key
}

// pgOps counts the PG's executed operations (confirm, cancel) on key.
func (e *reconEnv) pgOps(op, key string) int {
	n := 0
	for _, r := range e.sb.Record() {
		if r.Op == op && r.PaymentKey == key {
			n++
		}
	}
	return n
}

// cancelAtPG refunds an order's card payment at the PG, behind pago's back.
func (e *reconEnv) cancelAtPG(orderID string) {
	ps, err := e.svc.OrderPayments(e.admin, orderID)
	require.NoError(e.t, err)
	require.Len(e.t, ps, 1)
	_, err = e.gw.Cancel(e.ctx, ps[0].PGPaymentKey, nil, "behind pago's back", "cancel-"+orderID)
	require.NoError(e.t, err)
}

// TestReconciliationTable creates every situation on one sold date, runs
// the date, and checks each is classified as its row says; then re-runs it:
// the same mismatches, nothing fixed twice, pago verify clean throughout.
func TestReconciliationTable(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			e := newReconEnv(t, eng, nil)
			orders := make([]string, len(situations))
			afters := make([]func(*reconEnv), len(situations))
			for i, s := range situations {
				orders[i], afters[i] = s.setup(e)
			}
			e.verifyClean()
			date := e.today()

			run := e.run(date)
			first := e.mismatches(date)
			for i, s := range situations {
				t.Run(s.name, func(t *testing.T) {
					var got []payment.Mismatch
					for _, m := range first {
						if (orders[i] != "" && m.OrderID == orders[i]) || (orders[i] == "" && m.Kind == s.kind) {
							got = append(got, m)
						}
					}
					if s.kind == "" {
						require.Empty(t, got)
						return
					}
					require.Len(t, got, 1, "%+v", got)
					require.Equal(t, s.kind, got[0].Kind, got[0].Detail)
					require.Equal(t, s.class, got[0].Class, got[0].Detail)
					wantStatus := payment.MismatchOpen
					if s.class == payment.ClassAutoFixed {
						wantStatus = payment.MismatchResolved
					}
					require.Equal(t, wantStatus, got[0].Status)
				})
			}
			require.Len(t, first, len(situations)-1, "one mismatch per faulty situation, none else: %+v", first)
			require.Equal(t, int64(len(first)), run.MismatchCount)
			require.Equal(t, int64(6), run.AutoFixed)
			require.Equal(t, run.ClearingBalance, -run.PGOwes, "PG clearing holds what the PG owes")
			require.NotZero(t, run.PGOwes)
			for _, after := range afters {
				if after != nil {
					after(e)
				}
			}
			e.verifyClean()

			// A re-run refreshes the same picture and fixes nothing again.
			rerun := e.run(date)
			require.Equal(t, run.ID, rerun.ID, "one run per date")
			again := e.mismatches(date)
			require.ElementsMatch(t, ids(first), ids(again), "no duplicate mismatches")
			require.Equal(t, run.MismatchCount, rerun.MismatchCount)
			require.Equal(t, run.AutoFixed, rerun.AutoFixed)
			require.Equal(t, rerun.ClearingBalance, -rerun.PGOwes)
			for _, after := range afters {
				if after != nil {
					after(e)
				}
			}
			e.verifyClean()

			// Two business days on, the PG has paid out: a run of the date
			// books the payouts, and PG clearing holds nothing for it.
			e.clock.Advance(5 * 24 * time.Hour)
			due, err := e.rec.PayoutsDue(e.ctx)
			require.NoError(t, err)
			require.Equal(t, []string{date}, due)
			paid := e.run(date)
			require.Zero(t, paid.PGOwes)
			require.Zero(t, paid.ClearingBalance)
			require.Negative(t, e.ledgerSum(payment.AccountIDMerchantBank, "PG_PAYOUT"))
			due, err = e.rec.PayoutsDue(e.ctx)
			require.NoError(t, err)
			require.Empty(t, due)
			require.ElementsMatch(t, ids(first), ids(e.mismatches(date)))
			e.verifyClean()
		})
	}
}

func ids(ms []payment.Mismatch) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID + "/" + string(m.Class) + "/" + string(m.Status)
	}
	return out
}

// A clean day has no mismatch at all, and PG clearing holds what the PG owes.
func TestReconciliationCleanDay(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			e := newReconEnv(t, eng, nil)
			for _, amount := range []int64{1_000, 2_500, 33_333} {
				e.paidByCard("c"+storetest.RandomHex(3), amount)
			}
			// A top-up the wallet could not take, refunded at the PG by
			// pago itself: a sale and its cancel, both pago's doing.
			full := e.customer("full")
			fullUser, err := payment.UserFrom(full)
			require.NoError(t, err)
			o := e.topUpOrder(full, 10_000)
			_, err = e.svc.AdjustWallet(e.admin, "fund-full", payment.AdjustWalletInput{UserID: fullUser.ID, Amount: 95_000, Reason: "test"})
			require.NoError(t, err)
			key := e.authenticate(o)
			_, err = e.svc.ConfirmPayment(full, "confirm-full", payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: key, Amount: 10_000})
			require.ErrorIs(t, err, payment.ErrBalanceLimitExceeded)
			require.Equal(t, 1, e.pgOps("cancel", key))

			run := e.run(e.today())
			require.Equal(t, int64(5), run.Checked)
			require.Equal(t, int64(5), run.Matched)
			require.Zero(t, run.MismatchCount)
			require.Empty(t, e.mismatches(e.today()))
			// 3.2 %: 32 + 80 + 1,067 in fees; the rest is owed.
			require.Equal(t, int64(1_000+2_500+33_333-32-80-1_067), run.PGOwes)
			require.Equal(t, -run.PGOwes, run.ClearingBalance)
			e.verifyClean()
			open, err := e.rec.OpenCounts(e.ctx, e.today())
			require.NoError(t, err)
			require.Empty(t, open)

			// pago verify checks it too: a payout the PG reports differently
			// from what pago holds in clearing is a violation.
			_, err = e.st.DB().ExecContext(e.ctx, "UPDATE settlement_lines SET pay_out = pay_out + 1 WHERE amount = 2500")
			require.NoError(t, err)
			v, err := e.svc.Verify(e.ctx)
			require.NoError(t, err)
			require.Len(t, v, 1)
			require.Equal(t, "clearing_equals_owed", v[0].Check)
		})
	}
}

// recordedRefunds stands in for the refund service.
type recordedRefunds struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordedRefunds) RecordMissedRefund(_ context.Context, paymentKey string, amount int64, txKey string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, paymentKey+"/"+txKey+"/"+strconv.FormatInt(amount, 10))
	return nil
}

// Once refunds are wired, a cancel pago missed is recorded by code.
func TestReconciliationMissedRefundWired(t *testing.T) {
	eng := storetest.SQLite()
	refunds := &recordedRefunds{}
	e := newReconEnv(t, eng, refunds)
	o := e.paidByCard("refund", 5_000)
	e.cancelAtPG(o.ID)
	e.run(e.today())
	ms := e.mismatches(e.today())
	require.Len(t, ms, 1)
	require.Equal(t, payment.KindMissingInPago, ms[0].Kind)
	require.Equal(t, payment.ClassAutoFixed, ms[0].Class)
	require.Len(t, refunds.calls, 1)
	require.Equal(t, ms[0].PaymentKey+"/"+ms[0].TransactionKey+"/5000", refunds.calls[0])
}

// An operator closes a MANUAL item with who and why; it stays closed when
// the date is re-run, and only operators may.
func TestResolveMismatch(t *testing.T) {
	e := newReconEnv(t, storetest.SQLite(), nil)
	o := e.paidByCard("manual", 9_000)
	e.fault(sandbox.SettlementFault{Kind: sandbox.SettlementAmountDiffers, OrderID: o.ID})
	e.run(e.today())
	ms := e.mismatches(e.today())
	require.Len(t, ms, 1)

	_, err := e.rec.ResolveMismatch(e.customer("nosy"), "k1", payment.ResolveMismatchInput{MismatchID: ms[0].ID, Note: "x"})
	require.ErrorIs(t, err, payment.ErrForbidden)

	m, err := e.rec.ResolveMismatch(e.admin, "k1", payment.ResolveMismatchInput{MismatchID: ms[0].ID, Note: "PG confirmed 9,000; their report was wrong"})
	require.NoError(t, err)
	require.Equal(t, payment.MismatchResolved, m.Status)
	require.Equal(t, "ops", m.ResolvedBy)
	require.Equal(t, "PG confirmed 9,000; their report was wrong", m.Resolution)

	e.run(e.today())
	again := e.mismatches(e.today())
	require.Len(t, again, 1)
	require.Equal(t, payment.MismatchResolved, again[0].Status, "a re-run does not reopen a resolved item")
	open, err := e.rec.OpenCounts(e.ctx, e.today())
	require.NoError(t, err)
	require.Empty(t, open)

	_, err = e.rec.ResolveMismatch(e.admin, "k2", payment.ResolveMismatchInput{MismatchID: ms[0].ID, Note: "again"})
	require.ErrorIs(t, err, payment.ErrInvalidState)
}
