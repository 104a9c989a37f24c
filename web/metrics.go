package web

import (
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
	m.Registry.MustRegister(m.httpRequests, m.httpDuration, m.gqlOps, m.gqlDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
