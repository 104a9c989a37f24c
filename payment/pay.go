package payment

import (
	"context"
	"errors"
	"fmt"
)

// PayWithWalletResult is what paying from the wallet changed.
type PayWithWalletResult struct {
	Order   Order
	Payment Payment
	Wallet  Wallet
}

// PayWithWallet pays the caller's PENDING purchase from its wallet: the
// debit, the order's move to PAID, the payment, its event and the ledger
// entries are one transaction, run under the wallet's mutex. The debit is
// conditional on balance and version, so the mutex is never what keeps the
// balance right.
func (s *Service) PayWithWallet(ctx context.Context, key, orderID string) (PayWithWalletResult, error) {
	u, err := caller(ctx)
	if err != nil {
		return PayWithWalletResult{}, err
	}
	if err := checkID("orderId", orderID); err != nil {
		return PayWithWalletResult{}, err
	}
	type input struct{ OrderID string }
	return Run(ctx, s.idem, u.ID, key, "payWithWallet", input{orderID}, func(ctx context.Context, call *Call) (PayWithWalletResult, error) {
		var res PayWithWalletResult
		o, err := s.ownOrder(ctx, s.store, u, orderID)
		if err != nil {
			return res, err
		}
		if o.UserID != u.ID {
			return res, errorf(CodeForbidden, "only the order's owner pays it")
		}
		if o.Kind != OrderPurchase {
			return res, errorf(CodeInvalidState, "a %s order is paid by card, not from the wallet", o.Kind)
		}
		if o.Status != OrderPending {
			return res, errorf(CodeInvalidState, "order %s is %s, not PENDING", o.ID, o.Status)
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
				o := o // a retry after a lost race starts from the order as read
				ok, err := s.moveOrder(ctx, q, &o, OrderPaid, SourceWallet, now)
				if err != nil {
					return err
				}
				if !ok {
					cur, err := q.Order(ctx, o.ID)
					if err != nil {
						return err
					}
					return errorf(CodeInvalidState, "order %s is %s, not PENDING", o.ID, cur.Status)
				}
				// A split started on this order gives its hold back first.
				if err := s.voidSplits(ctx, q, o, SourceWallet, now); err != nil {
					return err
				}
				wallet, err := s.moveWallet(ctx, q, walletMove{
					walletID: w.ID, amount: -o.Amount.Amount, typ: WalletPayment, orderID: o.ID,
					counter: AccountIDRevenue, ledgerKind: "WALLET_PAYMENT", desc: "wallet payment for " + o.ID,
				})
				if err != nil {
					return err
				}
				p := Payment{ID: NewID("pay", now), OrderID: o.ID, Method: MethodWallet, Status: PaymentDone,
					Amount: o.Amount, RefundedAmount: Money{0, o.Amount.Currency}, ApprovedAt: &now, CreatedAt: now, UpdatedAt: now}
				if err := q.InsertPayment(ctx, p); err != nil {
					return fmt.Errorf("insert payment: %w", err)
				}
				if err := s.recordEvent(ctx, q, p, PaymentPending, EventPaidFromWallet, SourceWallet, "wallet "+w.ID, now); err != nil {
					return err
				}
				res = PayWithWalletResult{Order: o, Payment: p, Wallet: wallet}
				return call.Complete(ctx, q, res)
			})
		})
		return res, err
	})
}
