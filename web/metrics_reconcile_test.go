package web

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
)

// samples reads the samples of one metric family: labels "class/kind" (or
// the status) → value.
func samples(t *testing.T, m *Metrics, name string) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			key := ""
			for _, l := range s.GetLabel() {
				if key != "" {
					key += "/"
				}
				key += l.GetValue()
			}
			switch {
			case s.GetCounter() != nil:
				out[key] = s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				out[key] = s.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestReconciliationMetrics(t *testing.T) {
	m := NewMetrics()
	run := payment.ReconciliationRun{ID: "rcr_1", Status: payment.RunDone}
	found := []payment.Mismatch{
		{Class: payment.ClassManual, Kind: payment.KindAmountDiffers},
		{Class: payment.ClassAutoFixed, Kind: payment.KindFeeDiffers},
	}
	open := []payment.MismatchCount{
		{Class: payment.ClassManual, Kind: payment.KindAmountDiffers, Status: payment.MismatchOpen, N: 2},
		{Class: payment.ClassAutoFixed, Kind: payment.KindFeeDiffers, Status: payment.MismatchResolved, N: 1},
	}
	m.ObserveReconciliation(run, found, open)
	require.Equal(t, map[string]float64{"DONE": 1}, samples(t, m, "pago_reconciliation_runs_total"))
	require.Equal(t, map[string]float64{"MANUAL/AMOUNT_DIFFERS": 1, "AUTO_FIXED/FEE_DIFFERS": 1},
		samples(t, m, "pago_reconciliation_mismatches_total"))
	require.Equal(t, map[string]float64{"MANUAL/AMOUNT_DIFFERS": 2}, samples(t, m, "pago_reconciliation_open_items"),
		"resolved items are not open")

	// A resolution refreshes the open items only.
	m.ObserveReconciliation(payment.ReconciliationRun{}, nil, nil)
	require.Equal(t, map[string]float64{"DONE": 1}, samples(t, m, "pago_reconciliation_runs_total"))
	require.Empty(t, samples(t, m, "pago_reconciliation_open_items"))
}
