// Package web is pago's HTTP server: routing, middleware (request ids,
// logging, metrics, panics, auth, CSP, cross-origin protection), the GraphQL
// endpoint's transport rules, health checks, the checkout pages' handlers and
// the webhook endpoint. It declares what it needs of payment as small
// interfaces and renders pages with views.
package web
