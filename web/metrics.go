package web

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics owns pago's Prometheus registry (not the global one: tests and
// several servers in one process each get their own).
type Metrics struct {
	Registry     *prometheus.Registry
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	gqlOps       *prometheus.CounterVec
	gqlDuration  *prometheus.HistogramVec
	pgCalls      *prometheus.HistogramVec
	breaker      *prometheus.GaugeVec
	reconcile    reconcileMetrics
}

// NewMetrics registers pago's collectors plus the Go and process ones.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pago_http_requests_total", Help: "HTTP requests by route pattern and status.",
		}, []string{"route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pago_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}, []string{"route"}),
		gqlOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pago_graphql_operations_total", Help: "GraphQL operations by root fields and outcome (ok or error code).",
		}, []string{"operation", "outcome"}),
		gqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pago_graphql_operation_duration_seconds", Help: "GraphQL operation latency by root fields.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}, []string{"operation"}),
	}
	m.pgCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "pago_pg_call_duration_seconds", Help: "PG calls by operation and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
	}, []string{"op", "outcome"})
	m.breaker = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pago_pg_breaker_state", Help: "1 for the PG circuit breaker's current state.",
	}, []string{"state"})
	m.SetBreakerState("closed")
	m.Registry.MustRegister(m.httpRequests, m.httpDuration, m.gqlOps, m.gqlDuration, m.pgCalls, m.breaker,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reconcile = newReconcileMetrics(m.Registry)
	return m
}

func (m *Metrics) observeHTTP(route string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// ObserveGraphQL counts one GraphQL operation.
func (m *Metrics) ObserveGraphQL(operation, outcome string, d time.Duration) {
	m.gqlOps.WithLabelValues(operation, outcome).Inc()
	m.gqlDuration.WithLabelValues(operation).Observe(d.Seconds())
}

// Handler serves the metrics in Prometheus's text format, to anyone: mount
// it behind bearerOnly or on a listener only the monitoring network reaches.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObservePG records one PG call.
func (m *Metrics) ObservePG(op, outcome string, d time.Duration) {
	m.pgCalls.WithLabelValues(op, outcome).Observe(d.Seconds())
}

// SetBreakerState marks the breaker's current state.
func (m *Metrics) SetBreakerState(state string) {
	for _, s := range []string{"closed", "half-open", "open"} {
		v := 0.0
		if s == state {
			v = 1
		}
		m.breaker.WithLabelValues(s).Set(v)
	}
}

// bearerOnly lets a request through only with "Authorization: Bearer token".
func bearerOnly(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
