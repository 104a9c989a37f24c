// Package graph is pago's GraphQL API: the schema (*.graphqls), the
// gqlgen-generated executable schema and models, thin resolvers that convert
// input, call one payment service method and convert output, the one error
// presenter, and the query limits. It knows nothing of storage or HTTP routing.
package graph

import (
	"time"

	"github.com/pago/pago/payment"
)

//go:generate go tool gqlgen generate

// Resolver holds the services resolvers call.
type Resolver struct {
	Service Service
	// Reconciler serves the reconciliation queues (operators).
	Reconciler *payment.Reconciler
	// DeadLetters serves the jobs that exhausted their retries (operators).
	DeadLetters *payment.DeadLetters
	// PollInterval is how often orderUpdated looks at its order (default 500 ms).
	PollInterval time.Duration
}
