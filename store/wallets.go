package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/queries"
)

// InsertLedgerAccount implements payment.WalletQueries.
func (s *Store) InsertLedgerAccount(ctx context.Context, a payment.LedgerAccount) error {
	return dbErr(s.q.InsertLedgerAccount(ctx, queries.InsertLedgerAccountParams{
		ID: a.ID, Kind: string(a.Kind), Currency: string(a.Currency), CreatedAt: a.CreatedAt.UTC(),
	}), "row")
}

// InsertWalletIfAbsent implements payment.WalletQueries.
func (s *Store) InsertWalletIfAbsent(ctx context.Context, w payment.Wallet) (bool, error) {
	n, err := s.q.InsertWalletIfAbsent(ctx, queries.InsertWalletIfAbsentParams{
		ID: w.ID, UserID: w.UserID, AccountID: w.AccountID, Currency: string(w.Limit.Currency),
		BalanceLimit: w.Limit.Amount, CreatedAt: w.CreatedAt.UTC(),
	})
	return n == 1, dbErr(err, "row")
}

// WalletByUser implements payment.WalletQueries.
func (s *Store) WalletByUser(ctx context.Context, userID string) (payment.Wallet, error) {
	row, err := s.q.GetWalletByUser(ctx, userID)
	if err != nil {
		return payment.Wallet{}, dbErr(err, "wallet")
	}
	return walletToDomain(row), nil
}

// Wallet implements payment.WalletQueries.
func (s *Store) Wallet(ctx context.Context, id string) (payment.Wallet, error) {
	row, err := s.q.GetWallet(ctx, id)
	if err != nil {
		return payment.Wallet{}, dbErr(err, "wallet")
	}
	return walletToDomain(row), nil
}

func walletToDomain(r queries.Wallet) payment.Wallet {
	cur := payment.Currency(r.Currency)
	return payment.Wallet{
		ID: r.ID, UserID: r.UserID, AccountID: r.AccountID,
		Balance: payment.Money{Amount: r.Balance, Currency: cur}, Limit: payment.Money{Amount: r.BalanceLimit, Currency: cur},
		Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// DebitWallet implements payment.WalletQueries.
func (s *Store) DebitWallet(ctx context.Context, id string, version, amount int64, now time.Time) (bool, error) {
	n, err := s.q.DebitWallet(ctx, queries.DebitWalletParams{ID: id, Version: version, Amount: amount, Now: now.UTC()})
	return n == 1, dbErr(err, "row")
}

// CreditWallet implements payment.WalletQueries.
func (s *Store) CreditWallet(ctx context.Context, id string, version, amount int64, now time.Time) (bool, error) {
	n, err := s.q.CreditWallet(ctx, queries.CreditWalletParams{ID: id, Version: version, Amount: amount, Now: now.UTC()})
	return n == 1, dbErr(err, "row")
}

// InsertWalletTransaction implements payment.WalletQueries.
func (s *Store) InsertWalletTransaction(ctx context.Context, t payment.WalletTransaction) error {
	return dbErr(s.q.InsertWalletTransaction(ctx, queries.InsertWalletTransactionParams{
		ID: t.ID, WalletID: t.WalletID, Seq: t.Seq, Type: string(t.Type), Amount: t.Amount.Amount,
		BalanceAfter: t.BalanceAfter.Amount, OrderID: nullString(t.OrderID),
		LedgerTransactionID: t.LedgerTransactionID, Reason: nullString(t.Reason), CreatedAt: t.CreatedAt.UTC(),
	}), "row")
}

// WalletTransactions implements payment.WalletQueries.
func (s *Store) WalletTransactions(ctx context.Context, walletID string, beforeSeq int64, limit int) ([]payment.WalletTransaction, error) {
	rows, err := s.q.ListWalletTransactions(ctx, queries.ListWalletTransactionsParams{WalletID: walletID, Before: beforeSeq, Lim: int32(limit)})
	if err != nil {
		return nil, dbErr(err, "row")
	}
	out := make([]payment.WalletTransaction, len(rows))
	for i, r := range rows {
		out[i] = payment.WalletTransaction{
			ID: r.ID, WalletID: r.WalletID, Seq: r.Seq, Type: payment.WalletTxType(r.Type),
			Amount: payment.Won(r.Amount), BalanceAfter: payment.Won(r.BalanceAfter),
			OrderID: r.OrderID.String, LedgerTransactionID: r.LedgerTransactionID, Reason: r.Reason.String,
			HoldStatus: payment.HoldStatus(r.HoldStatus.String), CreatedAt: r.CreatedAt.UTC(),
		}
	}
	return out, nil
}

// InsertLedgerTransaction implements payment.WalletQueries: the
// transaction and its entries together. On PostgreSQL they are one
// statement (a data-modifying WITH; the entries' foreign key is checked at
// its end): one round trip.
func (s *Store) InsertLedgerTransaction(ctx context.Context, t payment.LedgerTransaction) error {
	if s.engine == Postgres && len(t.Entries) > 0 {
		return s.InsertLedgerTransactions(ctx, []payment.LedgerTransaction{t})
	}
	return s.together(ctx, len(t.Entries) > 0, func(s *Store) error {
		err := s.q.InsertLedgerTransaction(ctx, queries.InsertLedgerTransactionParams{
			ID: t.ID, Kind: t.Kind, OrderID: nullString(t.OrderID), Description: t.Description, CreatedAt: t.CreatedAt.UTC(),
		})
		if err != nil {
			return dbErr(err, "row")
		}
		for _, e := range t.Entries {
			err := s.q.InsertLedgerEntry(ctx, queries.InsertLedgerEntryParams{
				ID: e.ID, TransactionID: t.ID, AccountID: e.AccountID, Amount: e.Amount, CreatedAt: t.CreatedAt.UTC(),
			})
			if err != nil {
				return fmt.Errorf("ledger entry: %w", err)
			}
		}
		return nil
	})
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
