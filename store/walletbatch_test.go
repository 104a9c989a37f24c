package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/storetest"
)

// A batch's writes land together on both engines (one statement on
// PostgreSQL), foreign keys between its own rows included; a batch read at
// a stale version answers false and, rolled back, leaves nothing.
func TestWriteWalletPaymentsIsAllOrNothing(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s, u, now := withUser(t, eng, "batch")
			acc := payment.LedgerAccount{ID: payment.NewID("acc", now), Kind: payment.AccountWallet, Currency: payment.KRW, CreatedAt: now}
			must(t, s.InsertLedgerAccount(ctx, acc))
			w := payment.Wallet{ID: payment.NewID("wal", now), UserID: u.ID, AccountID: acc.ID, Limit: payment.Won(100_000), CreatedAt: now}
			_, err := s.InsertWalletIfAbsent(ctx, w)
			must(t, err)
			_, err = s.db.DB.ExecContext(ctx, "UPDATE wallets SET balance = 10000 WHERE id = $1", w.ID)
			must(t, err)
			w, err = s.Wallet(ctx, w.ID)
			must(t, err)

			batch := func(version int64, amounts ...int64) payment.WalletPaymentsWrite {
				out := payment.WalletPaymentsWrite{WalletID: w.ID, Version: version, Now: now}
				balance := w.Balance.Amount
				for i, a := range amounts {
					o := payment.Order{ID: payment.NewID("ord", now), UserID: u.ID, Kind: payment.OrderPurchase, Status: payment.OrderPending,
						Name: "tea", Amount: payment.Won(a), ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
					must(t, s.InsertOrder(ctx, o))
					balance -= a
					ltx := payment.LedgerTransaction{ID: payment.NewID("ltx", now), Kind: "WALLET_PAYMENT", OrderID: o.ID, Description: "pay", CreatedAt: now,
						Entries: []payment.LedgerEntry{{ID: payment.NewID("ent", now), AccountID: acc.ID, Amount: -a},
							{ID: payment.NewID("ent", now), AccountID: payment.AccountIDRevenue, Amount: a}}}
					pay := payment.Payment{ID: payment.NewID("pay", now), OrderID: o.ID, Method: payment.MethodWallet, Status: payment.PaymentDone,
						Amount: o.Amount, ApprovedAt: &now, CreatedAt: now, UpdatedAt: now}
					out.Ledger = append(out.Ledger, ltx)
					out.History = append(out.History, payment.WalletTransaction{ID: payment.NewID("wtx", now), WalletID: w.ID,
						Seq: version + int64(i) + 1, Type: payment.WalletPayment, Amount: payment.Won(-a), BalanceAfter: payment.Won(balance),
						OrderID: o.ID, LedgerTransactionID: ltx.ID, CreatedAt: now})
					out.Payments = append(out.Payments, pay)
					out.Events = append(out.Events, payment.PaymentEvent{ID: payment.NewID("pev", now), PaymentID: pay.ID,
						FromStatus: payment.PaymentPending, ToStatus: payment.PaymentDone, Source: "wallet", CreatedAt: now})
				}
				return out
			}
			write := func(b payment.WalletPaymentsWrite) (bool, error) {
				var ok bool
				errStale := errors.New("stale")
				err := s.InTx(ctx, func(q payment.Queries) error {
					var err error
					if ok, err = q.WriteWalletPayments(ctx, b); err == nil && !ok {
						return errStale // the caller's part: roll the batch back
					}
					return err
				})
				if errors.Is(err, errStale) {
					err = nil
				}
				return ok, err
			}

			good := batch(w.Version, 1000, 2500)
			ok, err := write(good)
			must(t, err)
			if !ok {
				t.Fatal("a batch at the wallet's version was refused")
			}
			got, err := s.Wallet(ctx, w.ID)
			must(t, err)
			if got.Balance.Amount != 6500 || got.Version != w.Version+2 {
				t.Fatalf("wallet after the batch: balance %d version %d, want 6500 and %d", got.Balance.Amount, got.Version, w.Version+2)
			}
			for _, p := range good.Payments {
				ps, err := s.PaymentsByOrder(ctx, p.OrderID)
				must(t, err)
				if len(ps) != 1 || ps[0].ID != p.ID {
					t.Fatalf("order %s has payments %v, want %s", p.OrderID, ps, p.ID)
				}
				evs, err := s.PaymentEvents(ctx, p.ID)
				must(t, err)
				if len(evs) != 1 {
					t.Fatalf("payment %s has %d events, want 1", p.ID, len(evs))
				}
			}

			stale := batch(w.Version, 700) // the version the first batch moved past
			ok, err = write(stale)
			must(t, err)
			if ok {
				t.Fatal("a batch at a stale version was applied")
			}
			ps, err := s.PaymentsByOrder(ctx, stale.Payments[0].OrderID)
			must(t, err)
			after, err := s.Wallet(ctx, w.ID)
			must(t, err)
			if len(ps) != 0 || after != got {
				t.Fatalf("the stale batch left payments %v and wallet %+v (was %+v)", ps, after, got)
			}

			dup := batch(got.Version, 100)
			dup.History[0].Seq = got.Version // a history row that exists: the whole batch fails
			if _, err := write(dup); err == nil {
				t.Fatal("a batch with a duplicate history row was written")
			}
			after, err = s.Wallet(ctx, w.ID)
			must(t, err)
			if after != got {
				t.Fatalf("the failed batch moved the wallet to %+v (was %+v)", after, got)
			}
		})
	}
}
