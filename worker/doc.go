// Package worker holds pago's River job arguments and workers: pruning old
// idempotency keys, expiring orders, probing in-doubt payments and handling
// PG webhooks. Workers are thin: they decode the job, call one payment
// service method and let River retry on error.
package worker
