package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// StartSplitPaymentInput asks to pay WalletAmount of an order from the
// wallet and the rest by card.
type StartSplitPaymentInput struct {
	OrderID      string
	WalletAmount int64
}

// StartSplitPaymentResult is the order, its SPLIT payment and what is left
// for the card.
type StartSplitPaymentResult struct {
	Order      Order
	Payment    Payment
	CardAmount Money
}

// StartSplitPayment starts paying the caller's PENDING purchase partly
// from its wallet: a SPLIT payment is recorded and its wallet part held (a
// HOLD wallet transaction: the balance drops at once, so no other payment
// can spend the same won, while the ledger sees nothing yet), in one
// transaction under the wallet's lock. confirmPayment with amount =
// CardAmount then completes it: the card is confirmed at the PG and, in the
// transaction that records the PG's approval, the hold is posted (the
// ledger books it as a wallet payment). A decline, a cancel, the order's
// expiry, or paying it all from the wallet instead, releases the hold
// (RELEASE) — each hold resolves exactly once. A split needs a positive
// card part; an order the wallet covers is paid by payWithWallet.
func (s *Service) StartSplitPayment(ctx context.Context, key string, in StartSplitPaymentInput) (StartSplitPaymentResult, error) {
	u, err := caller(ctx)
	if err != nil {
		return StartSplitPaymentResult{}, err
	}
	if err := checkID("orderId", in.OrderID); err != nil {
		return StartSplitPaymentResult{}, err
	}
	if in.WalletAmount <= 0 {
		return StartSplitPaymentResult{}, BadInput("walletAmount", "walletAmount must be positive")
	}
	if s.cfg.Gateway == nil {
		return StartSplitPaymentResult{}, errors.New("split payment: no payment gateway configured")
	}
	return Run(ctx, s.idem, u.ID, key, "startSplitPayment", in, func(ctx context.Context, call *Call) (StartSplitPaymentResult, error) {
		var res StartSplitPaymentResult
		o, err := s.ownOrder(ctx, s.store, u, in.OrderID)
		if err != nil {
			return res, err
		}
		switch {
		case o.UserID != u.ID:
			return res, errorf(CodeForbidden, "only the order's owner pays it")
		case o.Kind != OrderPurchase:
			return res, errorf(CodeInvalidState, "a %s order is paid by card, not from the wallet", o.Kind)
		case o.Status != OrderPending:
			return res, errorf(CodeInvalidState, "order %s is %s, not PENDING", o.ID, o.Status)
		case in.WalletAmount >= o.Amount.Amount:
			return res, BadInput("walletAmount", "walletAmount must be less than the order's %s; pay it all with payWithWallet", o.Amount)
		}
		w, err := s.store.WalletByUser(ctx, u.ID)
		if errors.Is(err, ErrNotFound) {
			return res, errorf(CodeInsufficientBalance, "no wallet yet: create and charge one first")
		}
		if err != nil {
			return res, err
		}
		err = s.withWalletLock(ctx, w.ID, func() error {
			return s.store.InTx(ctx, func(q Queries) error {
				now := s.now().UTC()
				cur := o
				locked, err := s.moveOrder(ctx, q, &cur, OrderPending, SourceWallet, now)
				if err != nil {
					return err
				}
				if !locked {
					return errorf(CodeInvalidState, "order %s is no longer PENDING", o.ID)
				}
				p := Payment{ID: NewID("pay", now), OrderID: o.ID, Method: MethodSplit, Status: PaymentPending, Amount: o.Amount,
					RefundedAmount: Money{0, o.Amount.Currency}, WalletAmount: Money{in.WalletAmount, o.Amount.Currency},
					CreatedAt: now, UpdatedAt: now}
				p.PGIdempotencyKey = splitConfirmKey(p.ID)
				if err := q.InsertPayment(ctx, p); err != nil {
					return fmt.Errorf("insert payment: %w", err)
				}
				_, wtx, err := s.moveWalletTx(ctx, q, walletMove{
					walletID: w.ID, amount: -in.WalletAmount, typ: WalletHold, orderID: o.ID, memo: true,
					ledgerKind: "WALLET_HOLD", desc: "hold for split payment " + p.ID,
				})
				if err != nil {
					return err
				}
				err = q.InsertHold(ctx, Hold{ID: NewID("hld", now), WalletID: w.ID, PaymentID: p.ID, OrderID: o.ID,
					Amount: p.WalletAmount, Status: HoldOpen, HoldTransactionID: wtx.ID, CreatedAt: now})
				if err != nil {
					return fmt.Errorf("record hold: %w", err)
				}
				res = StartSplitPaymentResult{Order: cur, Payment: p, CardAmount: Money{p.CardAmount(), o.Amount.Currency}}
				return call.Complete(ctx, q, res)
			})
		})
		return res, err
	})
}

// splitConfirmKey is the base confirm key of a SPLIT payment's card part:
// one card confirm per split payment, so it is derived from the payment.
func splitConfirmKey(paymentID string) string {
	h := sha256.Sum256([]byte("split\x00" + paymentID))
	return "pago-confirm-" + hex.EncodeToString(h[:])
}

// openSplit is order o's SPLIT payment still waiting for its card, if any.
func (s *Service) openSplit(ctx context.Context, q Queries, orderID string) (Payment, bool, error) {
	ps, err := q.PaymentsByOrder(ctx, orderID)
	if err != nil {
		return Payment{}, false, err
	}
	if i := slices.IndexFunc(ps, IsOpenSplit); i >= 0 {
		return ps[i], true, nil
	}
	return Payment{}, false, nil
}

// IsOpenSplit tells a split payment still waiting for its card: its hold
// is on the wallet.
func IsOpenSplit(p Payment) bool { return p.Method == MethodSplit && p.Status == PaymentPending }

// postHold books split payment p's hold now that its card went through:
// the hold is POSTED and the ledger moves the wallet part to revenue. The
// balance left the wallet when the hold was placed.
func (s *Service) postHold(ctx context.Context, q Queries, p Payment, now time.Time) error {
	holds, err := q.HoldsByOrder(ctx, p.OrderID)
	if err != nil {
		return err
	}
	for _, h := range holds {
		if h.PaymentID != p.ID {
			continue
		}
		ok, err := q.ResolveHold(ctx, h.ID, HoldPosted, now)
		if err != nil {
			return fmt.Errorf("post hold %s: %w", h.ID, err)
		}
		if !ok {
			return fmt.Errorf("hold %s of payment %s was resolved before its card went through", h.ID, p.ID)
		}
		w, err := q.Wallet(ctx, h.WalletID)
		if err != nil {
			return err
		}
		_, err = s.post(ctx, q, "WALLET_PAYMENT", p.OrderID, "split payment "+p.ID+": wallet part (hold "+h.ID+")", now,
			LedgerEntry{AccountID: w.AccountID, Amount: -h.Amount.Amount},
			LedgerEntry{AccountID: AccountIDRevenue, Amount: h.Amount.Amount})
		return err
	}
	return fmt.Errorf("split payment %s has no hold", p.ID)
}

// releaseHolds gives back order orderID's OPEN holds (paymentID "": all
// of them): each is RELEASED and its amount credited back (a RELEASE
// wallet transaction, past the ceiling if need be: it was the customer's).
// The caller holds the wallet's lock; a credit that lost a race is
// ErrConflict, for the caller to retry.
func (s *Service) releaseHolds(ctx context.Context, q Queries, orderID, paymentID string, now time.Time) error {
	holds, err := q.HoldsByOrder(ctx, orderID)
	if err != nil {
		return err
	}
	for _, h := range holds {
		if h.Status != HoldOpen || (paymentID != "" && h.PaymentID != paymentID) {
			continue
		}
		ok, err := q.ResolveHold(ctx, h.ID, HoldReleased, now)
		if err != nil {
			return fmt.Errorf("release hold %s: %w", h.ID, err)
		}
		if !ok {
			continue // resolved meanwhile
		}
		if _, _, err := s.moveWalletTx(ctx, q, walletMove{
			walletID: h.WalletID, amount: h.Amount.Amount, typ: WalletRelease, orderID: orderID, memo: true, pastLimit: true,
			ledgerKind: "WALLET_RELEASE", desc: "release of hold " + h.ID,
		}); err != nil {
			return err
		}
	}
	return nil
}

// voidSplits closes order o's split payments still waiting for their card
// (the order is being cancelled, expired or paid otherwise): holds
// released, payments FAILED.
func (s *Service) voidSplits(ctx context.Context, q Queries, o Order, source string, now time.Time) error {
	p, ok, err := s.openSplit(ctx, q, o.ID)
	if err != nil || !ok {
		return err
	}
	// The payment's row first, then its hold: settle (postHold) takes them
	// in that order, and the other order deadlocks against it.
	cur, err := q.LockPayment(ctx, p.ID)
	if err != nil {
		return err
	}
	if cur.Status != PaymentPending {
		return fmt.Errorf("split payment %s: %w", p.ID, ErrConflict)
	}
	if err := s.releaseHolds(ctx, q, o.ID, p.ID, now); err != nil {
		return err
	}
	cur.FailureCode, cur.FailureMessage = "SPLIT_VOIDED", "the order was not paid by card; the wallet part was given back"
	return s.movePayment(ctx, q, &cur, PaymentFailed, EventHoldReleased, source, "order "+string(o.Status), now)
}

// underWallet runs fn under userID's wallet lock, retrying lost races, if
// the user has a wallet (one a hold may be released to); else just fn.
func (s *Service) underWallet(ctx context.Context, userID string, fn func() error) error {
	id, err := s.walletID(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return fn()
	}
	if err != nil {
		return err
	}
	return s.withWalletLock(ctx, id, fn)
}

// CheckoutWallet is what the checkout page of an order can offer from its
// owner's wallet.
type CheckoutWallet struct {
	// Available is the owner's balance (holds already excluded); zero
	// without a wallet.
	Available Money
	// Split is the order's split payment waiting for its card, if any.
	Split *Payment
}

// CheckoutWalletFor reads what order o's checkout page can offer from the
// wallet; the caller has verified the order's signed link.
func (s *Service) CheckoutWalletFor(ctx context.Context, o Order) (CheckoutWallet, error) {
	out := CheckoutWallet{Available: Money{0, o.Amount.Currency}}
	split, ok, err := s.openSplit(ctx, s.store, o.ID)
	if err != nil {
		return out, err
	}
	if ok {
		out.Split = &split
	}
	w, err := s.store.WalletByUser(ctx, o.UserID)
	if errors.Is(err, ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.Available = w.Balance
	return out, nil
}
