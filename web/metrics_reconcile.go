package web

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pago/pago/payment"
)

// reconcileMetrics are reconciliation's: runs by outcome, the mismatches
// runs find by class and kind, and the items open in each queue.
type reconcileMetrics struct {
	runs       *prometheus.CounterVec
	mismatches *prometheus.CounterVec
	open       *prometheus.GaugeVec
}

func newReconcileMetrics(reg prometheus.Registerer) reconcileMetrics {
	m := reconcileMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pago_reconciliation_runs_total", Help: "Reconciliation runs by status (DONE or FAILED).",
		}, []string{"status"}),
		mismatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pago_reconciliation_mismatches_total", Help: "Mismatches found by reconciliation runs, by class and kind (a re-run counts again what it finds again).",
		}, []string{"class", "kind"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pago_reconciliation_open_items", Help: "Open reconciliation items by class and kind, as of the latest run or resolution.",
		}, []string{"class", "kind"}),
	}
	reg.MustRegister(m.runs, m.mismatches, m.open)
	return m
}

var _ payment.ReconcileObserver = (*Metrics)(nil)

// ObserveReconciliation implements payment.ReconcileObserver. A zero run
// (a resolution) only refreshes the open items.
func (m *Metrics) ObserveReconciliation(run payment.ReconciliationRun, found []payment.Mismatch, counts []payment.MismatchCount) {
	if run.ID != "" {
		m.reconcile.runs.WithLabelValues(string(run.Status)).Inc()
	}
	for _, f := range found {
		m.reconcile.mismatches.WithLabelValues(string(f.Class), string(f.Kind)).Inc()
	}
	m.reconcile.open.Reset()
	for _, c := range counts {
		if c.Status == payment.MismatchOpen {
			m.reconcile.open.WithLabelValues(string(c.Class), string(c.Kind)).Add(float64(c.N))
		}
	}
}
