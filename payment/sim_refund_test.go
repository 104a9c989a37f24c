package payment_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/pago/pago/payment"
)

// refunder pays a purchase (by card or from the wallet), then refunds it:
// one to three refunds at once, partial or the rest, by the customer or an
// operator, with the same key or not, while the PG's webhooks about the
// cancels, the refund and probe jobs, crashes and the PG's faults race them.
func (w *world) refunder(string) {
	u := w.user()
	o, ok := w.createOrder(u, payment.OrderPurchase)
	if !ok {
		return
	}
	retryable := func(err error) bool {
		return errors.Is(err, payment.ErrPGUnavailable) || errors.Is(err, payment.ErrRequestInProgress) || errors.Is(err, errProcessDied)
	}
	if w.s.chance(0.6) {
		pk := w.pg.authenticate(o.ID, o.Amount.Amount)
		k := w.key("rconfirm")
		in := payment.ConfirmInput{OrderID: o.ID, PaymentKey: pk, Amount: o.Amount.Amount}
		for range 3 {
			_, err := w.call(u, "confirmPayment", k, func() (any, error) { return w.svc.ConfirmPayment(w.as(u), k, payment.SourceMutation, in) })
			if !retryable(err) {
				break
			}
			w.s.sleep(time.Duration(w.s.rng.IntN(100)) * time.Millisecond)
		}
	} else {
		k := w.key("rpay")
		w.call(u, "payWithWallet", k, func() (any, error) { return w.svc.PayWithWallet(w.as(u), k, o.ID) })
	}
	type ask struct {
		key    string
		amount *int64
		who    payment.User
	}
	var asks []ask
	for i := range 1 + w.s.rng.IntN(3) {
		if i > 0 && w.s.chance(0.3) {
			asks = append(asks, asks[0]) // a double click: the same request
			continue
		}
		a := ask{key: w.key("refund"), who: u}
		if w.s.chance(0.5) {
			n := 1 + w.s.rng.Int64N(o.Amount.Amount)
			a.amount = &n
		}
		if w.s.chance(0.3) {
			a.who = w.admin
		}
		asks = append(asks, a)
	}
	for _, a := range asks {
		w.client("refund "+a.key, func() {
			w.s.sleep(time.Duration(w.s.rng.IntN(30)) * time.Millisecond)
			in := payment.CancelPaymentInput{OrderID: o.ID, Amount: a.amount, Reason: "changed my mind"}
			for range 3 {
				_, err := w.call(a.who, "cancelPayment", a.key, func() (any, error) { return w.svc.CancelPayment(w.as(a.who), a.key, in) })
				if !retryable(err) && !errors.Is(err, payment.ErrRefundInDoubt) {
					return
				}
				w.s.sleep(time.Duration(w.s.rng.IntN(200)) * time.Millisecond)
			}
		})
	}
}

// checkRefunds: every refund is settled; what was refunded never exceeds
// what was paid; the PG's cancels and pago's DONE card refunds are the same
// set (by transaction key and amount), and each DONE refund was booked once.
func (w *world) checkRefunds(o payment.Order, kinds map[string]int, wtx map[payment.WalletTxType]int) {
	s, db := w.s, w.db
	var refunded int64
	nCard, nWallet := 0, 0
	for _, p := range visible[payment.Payment](db, nil, "pay/"+o.ID) {
		pgCancels := map[string]int64{}
		if g := w.pg.payments[p.PGPaymentKey]; g != nil && p.PGPaymentKey != "" {
			for _, c := range g.cancels {
				pgCancels[c.TransactionKey] = c.Amount
			}
		}
		ours := map[string]bool{}
		for _, r := range visible[payment.Refund](db, nil, "rfd/"+p.ID) {
			switch r.Status {
			case payment.RefundPending, payment.RefundInDoubt:
				var jobs []string
				for _, j := range db.jobs {
					if j.arg == r.ID {
						jobs = append(jobs, fmt.Sprintf("%s state %d attempts %d at %s: %v", j.kind, j.state, j.attempts, j.at.Format("15:04:05.000"), j.lastErr))
					}
				}
				s.failf("refund %s of payment %s left %s (attempt %d, sent %v); its jobs: %v", r.ID, p.ID, r.Status, r.Attempt, r.SentAt != nil, jobs)
			case payment.RefundDone:
				refunded += r.Amount.Amount
				if r.Method == payment.MethodCard {
					nCard++
					if amt, ok := pgCancels[r.PGTransactionKey]; !ok || amt != r.Amount.Amount {
						s.failf("refund %s is DONE as PG cancel %q of %d, the PG has %v", r.ID, r.PGTransactionKey, r.Amount.Amount, pgCancels)
					}
					ours[r.PGTransactionKey] = true
				} else {
					nWallet++
				}
			}
		}
		if p.Method == payment.MethodCard && p.RefundDecidedAt == nil {
			for tx, amt := range pgCancels {
				if !ours[tx] {
					s.failf("the PG cancelled %d of payment %s (%s) but no refund of pago's is DONE for it", amt, p.ID, tx)
				}
			}
		}
		if p.RefundedAmount.Amount > p.Amount.Amount {
			s.failf("payment %s refunded %d of %d", p.ID, p.RefundedAmount.Amount, p.Amount.Amount)
		}
	}
	if refunded != o.RefundedAmount.Amount {
		s.failf("order %s says %d refunded, its DONE refunds add up to %d", o.ID, o.RefundedAmount.Amount, refunded)
	}
	if kinds["CARD_REFUND"] != nCard || kinds["WALLET_REFUND"] != nWallet || wtx[payment.WalletRefund] != nWallet {
		s.failf("order %s has %d card and %d wallet refunds DONE but %d CARD_REFUND, %d WALLET_REFUND ledger transactions and %d REFUND wallet transactions",
			o.ID, nCard, nWallet, kinds["CARD_REFUND"], kinds["WALLET_REFUND"], wtx[payment.WalletRefund])
	}
	if refunded > 0 {
		s.count(fmt.Sprintf("refund: order ended %s", o.Status))
	}
}

// splitter pays a purchase partly from the wallet (a hold) and the rest by
// card, while a cancel, the order's expiry, a payWithWallet of the whole
// order, crashes and the PG's faults race it: each hold must resolve once.
func (w *world) splitter(string) {
	u := w.user()
	o, ok := w.createOrder(u, payment.OrderPurchase)
	if !ok || o.Amount.Amount < 2 {
		return
	}
	key := w.key("split")
	walletPart := 1 + w.s.rng.Int64N(o.Amount.Amount-1)
	res, err := w.call(u, "startSplitPayment", key, func() (any, error) {
		return w.svc.StartSplitPayment(w.as(u), key, payment.StartSplitPaymentInput{OrderID: o.ID, WalletAmount: walletPart})
	})
	if err != nil {
		return
	}
	card := res.(payment.StartSplitPaymentResult).CardAmount.Amount
	if w.s.chance(0.15) {
		return // abandoned: the order expires and the hold goes back
	}
	pk := w.pg.authenticate(o.ID, card)
	w.confirmer(u, "split-redirect", w.key("redirect"), payment.SourceRedirect, payment.ConfirmInput{OrderID: o.ID, PaymentKey: pk, Amount: card})
	if w.s.chance(0.3) {
		w.confirmer(u, "split-spa", w.key("spa"), payment.SourceMutation, payment.ConfirmInput{OrderID: o.ID, PaymentKey: pk, Amount: card})
	}
	if w.s.chance(0.2) {
		w.cancel(u, o)
	}
	if w.s.chance(0.15) {
		k := w.key("pay")
		w.client("pay-instead "+k, func() {
			w.call(u, "payWithWallet", k, func() (any, error) { return w.svc.PayWithWallet(w.as(u), k, o.ID) })
		})
	}
}

// checkHolds: every hold resolved once, as its payment ended: POSTED for a
// completed split, RELEASED otherwise, with a RELEASE wallet transaction
// exactly for the released ones.
func (w *world) checkHolds(o payment.Order, wtx map[payment.WalletTxType]int) {
	s, db := w.s, w.db
	released := 0
	for _, h := range visible[payment.Hold](db, nil, "hld/"+o.ID) {
		p, _ := getRow[payment.Payment](db, nil, "pay/"+h.PaymentID)
		completed := p.Status == payment.PaymentDone || p.Status == payment.PaymentPartiallyCanceled || p.Status == payment.PaymentCanceled
		switch {
		case h.Status == payment.HoldOpen:
			s.failf("hold %s of order %s (%s) left OPEN; payment %s", h.ID, o.ID, o.Status, p.Status)
		case h.Status == payment.HoldPosted && !completed:
			s.failf("hold %s POSTED but payment %s is %s", h.ID, p.ID, p.Status)
		case h.Status == payment.HoldReleased && completed:
			s.failf("hold %s RELEASED but payment %s is %s", h.ID, p.ID, p.Status)
		case h.Status == payment.HoldReleased:
			released++
		}
		s.count("hold: " + string(h.Status))
	}
	if wtx[payment.WalletRelease] != released {
		s.failf("order %s released %d holds with %d RELEASE wallet transactions", o.ID, released, wtx[payment.WalletRelease])
	}
}
