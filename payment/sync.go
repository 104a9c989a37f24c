package payment

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ProbePayment settles an IN_DOUBT card payment from the PG's record (the
// probe job). A payment the PG still holds authenticated but unconfirmed is
// confirmed again under the next confirm attempt's key (see nextAttempt):
// Toss answers a repeated key with its first answer, so a confirm that
// failed retryably can only succeed under a new key. An error makes River
// retry with backoff.
func (s *Service) ProbePayment(ctx context.Context, paymentID string) error {
	p, err := s.store.Payment(ctx, paymentID)
	if err != nil {
		return err
	}
	if p.Status != PaymentInDoubt {
		return nil
	}
	o, err := s.store.Order(ctx, p.OrderID)
	if err != nil {
		return err
	}
	truth, err := s.lookUp(ctx, p)
	if errors.Is(err, ErrGatewayNotFound) {
		truth, err = GatewayPayment{PaymentKey: p.PGPaymentKey, Status: GatewayAborted, FailureCode: "NOT_FOUND_PAYMENT",
			FailureMessage: "the payment gateway has no record of this payment"}, nil
	}
	if err != nil {
		return fmt.Errorf("probe %s: %w", p.ID, err)
	}
	if truth.PaymentKey != "" && truth.PaymentKey != p.PGPaymentKey {
		return fmt.Errorf("probe %s: the PG's payment for order %s is %s, not %s", p.ID, p.OrderID, truth.PaymentKey, p.PGPaymentKey)
	}
	if truth.Status == GatewayInProgress && p.RefundDecidedAt == nil {
		if truth, err = s.reconfirm(ctx, p); err != nil {
			return fmt.Errorf("probe %s: %w", p.ID, err)
		}
	}
	res, err := s.settle(ctx, p, o, truth, SourceProbe, nil)
	if err != nil {
		return err
	}
	if res.Payment.Status == PaymentInDoubt {
		return fmt.Errorf("probe %s: the PG says %s; still in doubt", p.ID, truth.Status)
	}
	return nil
}

// errAttemptInFlight: the last confirm may still be on its way; only once it
// is ConfirmTimeout old is it certainly over.
var errAttemptInFlight = errors.New("the last confirm may still be in flight")

// reconfirm sends the next confirm attempt of p, which the PG holds
// authenticated but unconfirmed, and returns the PG's answer as a record.
func (s *Service) reconfirm(ctx context.Context, p Payment) (GatewayPayment, error) {
	next, err := s.nextAttempt(ctx, p.ID)
	if err != nil {
		return GatewayPayment{}, err
	}
	truth, err := s.cfg.Gateway.Confirm(ctx, next.PGPaymentKey, next.OrderID, next.CardAmount(), ConfirmKey(next))
	var declined *DeclinedError
	switch {
	case errors.As(err, &declined):
		return GatewayPayment{PaymentKey: next.PGPaymentKey, OrderID: next.OrderID, Status: GatewayAborted,
			FailureCode: declined.Code, FailureMessage: declined.Message}, nil
	case errors.Is(err, ErrGatewayAlreadyProcessed):
		return s.lookUp(ctx, next)
	case err != nil:
		return GatewayPayment{}, fmt.Errorf("re-confirm attempt %d: %w", next.ConfirmAttempt, err)
	}
	return truth, nil
}

// nextAttempt records, under the payment's row lock and before anything is
// sent, that confirm attempt n+1 may reach the PG from now on: a first
// confirm failing with PG_UNAVAILABLE afterwards then cannot give the order
// back while the PG charges it, and a crash cannot lose which key was used
// last. It refuses while the previous attempt may still be in flight, so
// two confirms of one payment are never at the PG at once.
func (s *Service) nextAttempt(ctx context.Context, paymentID string) (Payment, error) {
	var p Payment
	err := s.store.InTx(ctx, func(q Queries) error {
		var err error
		if p, err = q.LockPayment(ctx, paymentID); err != nil {
			return err
		}
		if p.Status != PaymentInDoubt {
			return errSettledMeanwhile
		}
		now := s.now().UTC()
		if p.ConfirmSentAt != nil && now.Before(p.ConfirmSentAt.Add(s.cfg.ConfirmTimeout)) {
			return errAttemptInFlight
		}
		p.ConfirmAttempt++
		p.ConfirmSentAt = &now
		return s.movePayment(ctx, q, &p, PaymentInDoubt, EventReconfirmSent, SourceProbe,
			fmt.Sprintf("confirm attempt %d", p.ConfirmAttempt), now)
	})
	return p, err
}

// lookUp asks the PG where p stands: by its order, and by p's own key when
// the order's answer is another payment window of the same order (the
// customer opened checkout twice), whose fate is not p's.
func (s *Service) lookUp(ctx context.Context, p Payment) (GatewayPayment, error) {
	truth, err := s.cfg.Gateway.PaymentByOrderID(ctx, p.OrderID)
	if err == nil && truth.PaymentKey != "" && truth.PaymentKey != p.PGPaymentKey {
		truth, err = s.cfg.Gateway.Payment(ctx, p.PGPaymentKey)
	}
	if err == nil && truth.Status == GatewayWaitingDeposit {
		return s.refuseVirtualAccount(ctx, p)
	}
	return truth, err
}

// CodeVirtualAccountNotSupported is the failure code of a payment the
// customer made by virtual account: pago takes cards only.
const CodeVirtualAccountNotSupported = "VIRTUAL_ACCOUNT_NOT_SUPPORTED"

// refuseVirtualAccount cancels at the PG a virtual-account payment waiting
// for its deposit (nothing was deposited, so nothing is refunded) and
// returns the record settle fails the payment (and its order) from, as a
// confirm answered WAITING_FOR_DEPOSIT is: pago takes cards only.
func (s *Service) refuseVirtualAccount(ctx context.Context, p Payment) (GatewayPayment, error) {
	s.log.WarnContext(ctx, "virtual-account payment refused: pago takes cards only", "payment", p.ID, "order", p.OrderID)
	got, err := s.cfg.Gateway.Cancel(ctx, p.PGPaymentKey, nil, "virtual accounts are not supported", voidKey(p))
	if err != nil && !errors.Is(err, ErrGatewayAlreadyCanceled) {
		return GatewayPayment{}, fmt.Errorf("cancel virtual-account payment %s: %w", p.PGPaymentKey, err)
	}
	// Never paid (nothing was deposited): a failed payment, not a refund.
	return GatewayPayment{PaymentKey: p.PGPaymentKey, OrderID: p.OrderID, Status: GatewayAborted, TotalAmount: got.TotalAmount,
		FailureCode: CodeVirtualAccountNotSupported, FailureMessage: "virtual accounts are not accepted; please pay by card"}, nil
}

// AcceptWebhook queues a PG webhook about paymentKey, once per dedupeKey.
// Nothing in the body is trusted: the job re-fetches the payment. claimed
// is the status the body claims ("" when unknown). A DONE claim about a
// payment whose confirm this process has at the PG right now is not
// queued: that call's answer settles the payment, and the probe job
// recorded with the confirm's intent does if the answer is lost. So a card
// payment's own approval costs no job; any other claim (a cancel, say) is
// queued as always.
func (s *Service) AcceptWebhook(ctx context.Context, dedupeKey, paymentKey string, claimed GatewayStatus) error {
	if !paymentKeyPattern.MatchString(paymentKey) {
		return BadInput("paymentKey", "paymentKey is malformed")
	}
	if claimed == GatewayDone && s.atPG.has(paymentKey) {
		return nil
	}
	return s.store.EnqueueWebhook(ctx, dedupeKey, paymentKey)
}

// confirmsAtPG counts, per PG payment key, the confirm calls this process
// has at the PG and not yet settled.
type confirmsAtPG struct {
	mu   sync.Mutex
	keys map[string]int
}

// start marks a confirm of key as sent; the returned func marks it settled.
func (c *confirmsAtPG) start(key string) (done func()) {
	c.mu.Lock()
	c.keys[key]++
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.keys[key]--; c.keys[key] <= 0 {
			delete(c.keys, key)
		}
	}
}

func (c *confirmsAtPG) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[key] > 0
}

// SyncFromGateway re-fetches a payment from the PG and settles pago's from
// that record (the webhook job). A payment pago does not know is ignored.
// A CANCELED or PARTIAL_CANCELED record of a paid card payment settles the
// refund pago sent (settleRefunds), never a second one.
func (s *Service) SyncFromGateway(ctx context.Context, paymentKey string) error {
	p, err := s.store.PaymentByPGKey(ctx, paymentKey)
	if errors.Is(err, ErrNotFound) {
		s.log.InfoContext(ctx, "webhook for a payment pago does not know; ignored", "payment_key", paymentKey)
		return nil
	}
	if err != nil {
		return err
	}
	if p.Status == PaymentDone || p.Status == PaymentPartiallyCanceled {
		truth, err := s.cfg.Gateway.Payment(ctx, paymentKey)
		if err != nil {
			return fmt.Errorf("re-fetch %s: %w", paymentKey, err)
		}
		if truth.Status != GatewayCanceled && truth.Status != GatewayPartialCanceled {
			return nil
		}
		return s.settleRefunds(ctx, p.ID, truth, SourceWebhook)
	}
	if p.Status != PaymentInDoubt {
		return nil // settled: a later record changes nothing the machine moves
	}
	o, err := s.store.Order(ctx, p.OrderID)
	if err != nil {
		return err
	}
	truth, err := s.cfg.Gateway.Payment(ctx, paymentKey)
	if err == nil && truth.Status == GatewayWaitingDeposit {
		truth, err = s.refuseVirtualAccount(ctx, p)
	}
	if err != nil {
		return fmt.Errorf("re-fetch %s: %w", paymentKey, err)
	}
	_, err = s.settle(ctx, p, o, truth, SourceWebhook, nil)
	if errors.Is(err, ErrInvalidState) {
		return nil // logged by settle; retrying will not change the PG's mind
	}
	return err
}
