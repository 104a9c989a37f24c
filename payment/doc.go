// Package payment is pago's domain: money, users, wallets, the ledger, orders,
// the payment state machine and the idempotency rules every mutation follows.
//
// It declares the interfaces it needs from the outside (Store, Queries,
// Locker, Gateway) and imports no database, HTTP, GraphQL or template code:
// store and pg implement those interfaces, graph and web call the services.
package payment
