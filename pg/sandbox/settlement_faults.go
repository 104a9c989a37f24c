package sandbox

import (
	"fmt"
	"net/http"
	"time"
)

// SettlementFaultKind corrupts the settlement report for reconciliation to
// find (dev and tests only).
type SettlementFaultKind string

// Settlement faults. Each applies to the sale line of one order, except
// ForeignLine, which adds the sale of an order nobody created.
const (
	// SettlementDropLine: the PG omits the sale.
	SettlementDropLine SettlementFaultKind = "DropLine"
	// SettlementAmountDiffers: the line's amount is off by 100 (fee and
	// payout as for the true amount, so only the amount disagrees).
	SettlementAmountDiffers SettlementFaultKind = "AmountDiffers"
	// SettlementFeeDiffers: the fee is off by 10 (the payout follows).
	SettlementFeeDiffers SettlementFaultKind = "FeeDiffers"
	// SettlementDuplicate: the line appears twice.
	SettlementDuplicate SettlementFaultKind = "Duplicate"
	// SettlementForeignLine: a sale of Amount for an order nobody created.
	SettlementForeignLine SettlementFaultKind = "ForeignLine"
)

// SettlementFault is one corruption of the settlement report.
type SettlementFault struct {
	Kind    SettlementFaultKind `json:"kind"`
	OrderID string              `json:"orderId,omitempty"`
	Amount  int64               `json:"amount,omitempty"` // ForeignLine only
}

// foreignLine is a settled sale of an order the merchant never created.
type foreignLine struct {
	paymentKey, txKey, orderID string
	amount                     int64
	at                         time.Time
}

// AddSettlementFault corrupts the settlement report as f says.
func (s *Sandbox) AddSettlementFault(f SettlementFault) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f.Kind {
	case SettlementForeignLine:
		if f.Amount <= 0 {
			return fmt.Errorf("ForeignLine needs a positive amount")
		}
		s.foreignLines = append(s.foreignLines, foreignLine{
			paymentKey: "tgen_" + randomString(20), txKey: randomHex(32), orderID: "foreign-" + randomHex(12),
			amount: f.Amount, at: s.now(),
		})
	case SettlementDropLine, SettlementAmountDiffers, SettlementFeeDiffers, SettlementDuplicate:
		if f.OrderID == "" {
			return fmt.Errorf("%s needs an orderId", f.Kind)
		}
		if s.settleFaults == nil {
			s.settleFaults = map[string]map[SettlementFaultKind]bool{}
		}
		if s.settleFaults[f.OrderID] == nil {
			s.settleFaults[f.OrderID] = map[SettlementFaultKind]bool{}
		}
		s.settleFaults[f.OrderID][f.Kind] = true
	default:
		return fmt.Errorf("unknown settlement fault kind %q: use DropLine, AmountDiffers, FeeDiffers, Duplicate or ForeignLine", f.Kind)
	}
	return nil
}

// ClearSettlementFaults removes every settlement fault.
func (s *Sandbox) ClearSettlementFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleFaults, s.foreignLines = nil, nil
}

// POST /_sandbox/settlement-faults {kind, orderId, amount}
func (s *Sandbox) adminAddSettlementFault(w http.ResponseWriter, r *http.Request) {
	var f SettlementFault
	if !decodeAdmin(w, r, &f) {
		return
	}
	if err := s.AddSettlementFault(f); err != nil {
		adminError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

// DELETE /_sandbox/settlement-faults clears them.
func (s *Sandbox) adminClearSettlementFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearSettlementFaults()
	w.WriteHeader(http.StatusNoContent)
}

// corruptSale applies the order's faults to its sale row; it returns the
// rows to report instead (none, one, or two). Callers hold s.mu.
func (s *Sandbox) corruptSale(orderID string, row settlementJSON) []settlementJSON {
	faults := s.settleFaults[orderID]
	if faults[SettlementDropLine] {
		return nil
	}
	if faults[SettlementAmountDiffers] {
		row.Amount += 100
		row.PayOutAmount = row.Amount - row.Fee
	}
	if faults[SettlementFeeDiffers] {
		row.Fee += 10
		row.Fees = []feeJSON{{Type: "BASE", Fee: row.Fee}}
		row.SupplyAmount, row.VAT = vatOf(row.Fee)
		row.PayOutAmount = row.Amount - row.Fee
	}
	if faults[SettlementDuplicate] {
		return []settlementJSON{row, row}
	}
	return []settlementJSON{row}
}
