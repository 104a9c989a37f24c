package payment

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Connection is one page of a list, newest first.
type Connection[T any] struct {
	Items       []T
	Cursors     []string // Cursors[i] continues after Items[i]
	HasNextPage bool
}

func encodeCursor(kind, v string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + v))
}

// pageOf cuts items, fetched with one more than limit to learn whether
// another page follows, to limit and gives each item its cursor.
func pageOf[T any](items []T, limit int, kind string, key func(T) string) Connection[T] {
	var out Connection[T]
	if len(items) > limit {
		items, out.HasNextPage = items[:limit], true
	}
	out.Items = items
	for _, it := range items {
		out.Cursors = append(out.Cursors, encodeCursor(kind, key(it)))
	}
	return out
}

// beforeID turns an id cursor into the exclusive upper bound of the next
// page; no cursor is "~", which sorts after every id.
func beforeID(kind, after string) (string, error) {
	if after == "" {
		return "~", nil
	}
	return decodeCursor(kind, after)
}

func decodeCursor(kind, cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	v, ok := strings.CutPrefix(string(b), kind+":")
	// Cursors carry ids and sequence numbers: anything else (a NUL, which
	// PostgreSQL's text cannot hold) is a forged cursor, not a store fault.
	if err != nil || !ok || v == "" || strings.ContainsFunc(v, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return "", BadInput("after", "after is not a cursor from this list")
	}
	return v, nil
}

// CreateWallet returns the caller's wallet, creating it on the first call.
// Concurrent calls create one wallet; every call with a key replays.
func (s *Service) CreateWallet(ctx context.Context, key string) (Wallet, error) {
	u, err := caller(ctx)
	if err != nil {
		return Wallet{}, err
	}
	type input struct{}
	return Run(ctx, s.idem, u.ID, key, "createWallet", input{}, func(ctx context.Context, call *Call) (Wallet, error) {
		var w Wallet
		err := s.store.InTx(ctx, func(q Queries) error {
			var err error
			if w, err = s.ensureWallet(ctx, q, u.ID); err != nil {
				return err
			}
			return call.Complete(ctx, q, w)
		})
		return w, err
	})
}

// ensureWallet returns userID's wallet, creating it and its ledger account.
func (s *Service) ensureWallet(ctx context.Context, q Queries, userID string) (Wallet, error) {
	w, err := q.WalletByUser(ctx, userID)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return w, err
	}
	now := s.now().UTC()
	id := NewID("wal", now)
	acc := LedgerAccount{ID: "acc_" + id, Kind: AccountWallet, Currency: s.cfg.WalletLimit.Currency, CreatedAt: now}
	// The account is created even if another request wins the wallet insert;
	// an account without a wallet and without entries is harmless.
	if err := q.InsertLedgerAccount(ctx, acc); err != nil {
		return Wallet{}, fmt.Errorf("create wallet account: %w", err)
	}
	w = Wallet{ID: id, UserID: userID, AccountID: acc.ID, Balance: Money{0, s.cfg.WalletLimit.Currency},
		Limit: s.cfg.WalletLimit, CreatedAt: now, UpdatedAt: now}
	if _, err := q.InsertWalletIfAbsent(ctx, w); err != nil {
		return Wallet{}, fmt.Errorf("create wallet: %w", err)
	}
	return q.WalletByUser(ctx, userID)
}

// MyWallet returns the caller's wallet, or ErrNotFound before createWallet.
func (s *Service) MyWallet(ctx context.Context) (Wallet, error) {
	u, err := caller(ctx)
	if err != nil {
		return Wallet{}, err
	}
	return s.store.WalletByUser(ctx, u.ID)
}

// WalletTransactions lists the caller's wallet history, newest first.
func (s *Service) WalletTransactions(ctx context.Context, page Page) (Connection[WalletTransaction], error) {
	u, err := caller(ctx)
	if err != nil {
		return Connection[WalletTransaction]{}, err
	}
	return s.walletHistory(ctx, u.ID, page)
}

// walletHistory is userID's wallet history, newest first; empty before the
// user has a wallet.
func (s *Service) walletHistory(ctx context.Context, userID string, page Page) (Connection[WalletTransaction], error) {
	var out Connection[WalletTransaction]
	limit, err := pageLimit(page.First)
	if err != nil {
		return out, err
	}
	before := int64(math.MaxInt64)
	if page.After != "" {
		v, err := decodeCursor("wtx", page.After)
		if err != nil {
			return out, err
		}
		if before, err = strconv.ParseInt(v, 10, 64); err != nil {
			return out, BadInput("after", "after is not a cursor from this list")
		}
	}
	w, err := s.store.WalletByUser(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return out, nil // no wallet yet: no history
	}
	if err != nil {
		return out, err
	}
	items, err := s.store.WalletTransactions(ctx, w.ID, before, limit+1)
	if err != nil {
		return out, fmt.Errorf("wallet transactions: %w", err)
	}
	return pageOf(items, limit, "wtx", func(t WalletTransaction) string { return strconv.FormatInt(t.Seq, 10) }), nil
}

// walletMove is one balance change and the ledger entries behind it.
type walletMove struct {
	walletID string
	amount   int64 // signed: credit > 0, debit < 0
	typ      WalletTxType
	orderID  string
	reason   string
	// counter is the ledger account on the other side of the wallet's.
	counter    string
	ledgerKind string
	desc       string
	// pastLimit lets a credit pass the wallet's ceiling (a refund, a
	// released hold).
	pastLimit bool
	// memo books no ledger entries: a hold and its release move the
	// balance only; the ledger sees a hold when it is posted.
	memo bool
}

// moveWallet applies m inside q's transaction with one conditional UPDATE:
// a debit needs the balance to cover it, a credit must stay within the
// ceiling, and both need the version read here to be current, else
// ErrConflict (the caller retries).
func (s *Service) moveWallet(ctx context.Context, q Queries, m walletMove) (Wallet, error) {
	w, _, err := s.moveWalletTx(ctx, q, m)
	return w, err
}

// moveWalletTx is moveWallet, also returning the wallet transaction.
func (s *Service) moveWalletTx(ctx context.Context, q Queries, m walletMove) (Wallet, WalletTransaction, error) {
	w, err := q.Wallet(ctx, m.walletID)
	if err != nil {
		return Wallet{}, WalletTransaction{}, err
	}
	return s.moveWalletFrom(ctx, q, w, m)
}

// moveWalletFrom is moveWallet from a wallet state w already read in q's
// transaction (a batch knows it from the move before). A stale w is
// ErrConflict, as in moveWallet.
func (s *Service) moveWalletFrom(ctx context.Context, q Queries, w Wallet, m walletMove) (Wallet, WalletTransaction, error) {
	now := s.now().UTC()
	var ok bool
	var err error
	switch {
	case m.amount < 0:
		if w.Balance.Amount < -m.amount {
			return Wallet{}, WalletTransaction{}, errorf(CodeInsufficientBalance, "the wallet holds %s, %s is needed", w.Balance, Money{-m.amount, w.Balance.Currency})
		}
		ok, err = q.DebitWallet(ctx, w.ID, w.Version, -m.amount, now)
	case m.amount > 0 && m.pastLimit:
		ok, err = q.CreditWalletPastLimit(ctx, w.ID, w.Version, m.amount, now)
	case m.amount > 0:
		if w.Balance.Amount+m.amount > w.Limit.Amount {
			return Wallet{}, WalletTransaction{}, errorf(CodeBalanceLimitExceeded, "the wallet holds %s; adding %s would pass its limit of %s",
				w.Balance, Money{m.amount, w.Balance.Currency}, w.Limit)
		}
		ok, err = q.CreditWallet(ctx, w.ID, w.Version, m.amount, now)
	default:
		return Wallet{}, WalletTransaction{}, errors.New("a wallet move of zero")
	}
	if err != nil {
		return Wallet{}, WalletTransaction{}, fmt.Errorf("update wallet %s: %w", w.ID, err)
	}
	if !ok {
		return Wallet{}, WalletTransaction{}, ErrConflict
	}
	var entries []LedgerEntry
	if !m.memo {
		entries = []LedgerEntry{{AccountID: w.AccountID, Amount: m.amount}, {AccountID: m.counter, Amount: -m.amount}}
	}
	ltx, err := s.post(ctx, q, m.ledgerKind, m.orderID, m.desc, now, entries...)
	if err != nil {
		return Wallet{}, WalletTransaction{}, err
	}
	w.Version++
	w.Balance.Amount += m.amount
	w.UpdatedAt = now
	wtx := WalletTransaction{
		ID: NewID("wtx", now), WalletID: w.ID, Seq: w.Version, Type: m.typ,
		Amount: Money{m.amount, w.Balance.Currency}, BalanceAfter: w.Balance,
		OrderID: m.orderID, LedgerTransactionID: ltx, Reason: m.reason, CreatedAt: now,
	}
	if err := q.InsertWalletTransaction(ctx, wtx); err != nil {
		return Wallet{}, WalletTransaction{}, fmt.Errorf("record wallet transaction: %w", err)
	}
	return w, wtx, nil
}

// AdjustWalletInput is support's manual correction of a user's wallet.
type AdjustWalletInput struct {
	UserID string
	Amount int64 // signed
	Reason string
}

// AdjustWallet credits or debits a user's wallet against the adjustments
// account (operators only), with the same limits as any movement. It
// creates the wallet if the user has none.
func (s *Service) AdjustWallet(ctx context.Context, key string, in AdjustWalletInput) (Wallet, error) {
	admin, err := requireAdmin(ctx)
	if err != nil {
		return Wallet{}, err
	}
	if err := checkID("userId", in.UserID); err != nil {
		return Wallet{}, err
	}
	in.Reason = strings.TrimSpace(in.Reason)
	switch {
	case in.Amount == 0:
		return Wallet{}, BadInput("amount", "amount must not be zero")
	case in.Amount > s.cfg.WalletLimit.Amount || in.Amount < -s.cfg.WalletLimit.Amount:
		return Wallet{}, BadInput("amount", "amount must be within ±%s", s.cfg.WalletLimit)
	case in.Reason == "" || len(in.Reason) > 500:
		return Wallet{}, BadInput("reason", "reason must be 1–500 characters")
	}
	return Run(ctx, s.idem, admin.ID, key, "adjustWallet", in, func(ctx context.Context, call *Call) (Wallet, error) {
		if _, err := s.store.User(ctx, in.UserID); err != nil {
			return Wallet{}, err
		}
		var w Wallet
		err := s.store.InTx(ctx, func(q Queries) error {
			var err error
			w, err = s.ensureWallet(ctx, q, in.UserID)
			return err
		})
		if err != nil {
			return Wallet{}, err
		}
		typ := WalletAdjustment
		// The id is fixed before the first attempt: a failed attempt leaves w
		// zero, and the retry after a lost race must move the same wallet.
		walletID := w.ID
		err = s.withWalletLock(ctx, walletID, func() error {
			return s.store.InTx(ctx, func(q Queries) error {
				var err error
				w, err = s.moveWallet(ctx, q, walletMove{
					walletID: walletID, amount: in.Amount, typ: typ, reason: in.Reason,
					counter: AccountIDAdjustments, ledgerKind: "ADJUSTMENT",
					desc: fmt.Sprintf("adjusted by %s: %s", admin.Name, in.Reason),
				})
				if err != nil {
					return err
				}
				return call.Complete(ctx, q, w)
			})
		})
		return w, err
	})
}

// creditTopUp credits a paid WALLET_TOPUP order to its owner's wallet inside
// the caller's transaction, against PG clearing. The caller holds the
// wallet's lock (lockWallet) and marks the order PAID in the same q.
func (s *Service) creditTopUp(ctx context.Context, q Queries, o Order) (Wallet, error) {
	if o.Kind != OrderWalletTopUp {
		return Wallet{}, fmt.Errorf("credit top-up: order %s is a %s", o.ID, o.Kind)
	}
	w, err := s.ensureWallet(ctx, q, o.UserID)
	if err != nil {
		return Wallet{}, err
	}
	return s.moveWallet(ctx, q, walletMove{
		walletID: w.ID, amount: o.Amount.Amount, typ: WalletCharge, orderID: o.ID,
		counter: AccountIDPGClearing, ledgerKind: "TOPUP", desc: "wallet top-up " + o.ID,
	})
}

// lockWallet runs fn holding userID's wallet lock, retrying on ErrConflict;
// the PG flow wraps creditTopUp in it.
func (s *Service) lockWallet(ctx context.Context, userID string, fn func() error) error {
	var w Wallet
	err := s.store.InTx(ctx, func(q Queries) error {
		var err error
		w, err = s.ensureWallet(ctx, q, userID)
		return err
	})
	if err != nil {
		return err
	}
	return s.withWalletLock(ctx, w.ID, fn)
}

// DebitWalletRaw debits walletID by amount inside q's transaction with
// nothing around it: no idempotency, lock or order — one wallet read, the
// conditional UPDATE, the ledger transaction and the history row. It is the
// floor `pago bench` compares payWithWallet against, on the very code
// payments use. ErrConflict when the version moved; retry in a new
// transaction.
func (s *Service) DebitWalletRaw(ctx context.Context, q Queries, walletID string, amount int64) (Wallet, error) {
	return s.moveWallet(ctx, q, walletMove{
		walletID: walletID, amount: -amount, typ: WalletPayment,
		counter: AccountIDRevenue, ledgerKind: "WALLET_PAYMENT", desc: "pago bench raw debit",
	})
}
