package payment

import (
	"context"
	"fmt"
	"time"
)

// post writes one balanced ledger transaction. Entries must sum to zero;
// anything else is a programming error and is refused before it is written.
func (s *Service) post(ctx context.Context, q Queries, kind, orderID, desc string, now time.Time, entries ...LedgerEntry) (string, error) {
	var sum int64
	for i := range entries {
		sum += entries[i].Amount
		entries[i].ID = NewID("ent", now)
	}
	if sum != 0 {
		return "", fmt.Errorf("ledger %s for order %q is unbalanced by %d", kind, orderID, sum)
	}
	t := LedgerTransaction{ID: NewID("ltx", now), Kind: kind, OrderID: orderID, Description: desc, Entries: entries, CreatedAt: now}
	if err := q.InsertLedgerTransaction(ctx, t); err != nil {
		return "", fmt.Errorf("post ledger %s: %w", kind, err)
	}
	return t.ID, nil
}

// Verify recomputes every invariant: ledger transactions balance, wallet
// balances equal their ledger accounts and their history, stock adds up,
// and paid orders are exactly the ones with completed payments.
func (s *Service) Verify(ctx context.Context) ([]Violation, error) {
	return s.store.Violations(ctx)
}
