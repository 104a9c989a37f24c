package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vikstrous/dataloadgen"

	"github.com/pago/pago/payment"
)

// maxBatch is the most parents one batch read asks for: a page's worth.
const maxBatch = 100

// defaultLoaderWait is how long a loader collects keys before it reads:
// the sibling fields of a list resolve concurrently within it.
const defaultLoaderWait = 2 * time.Millisecond

// loaders batch Order.payments and Payment.events across a list: one read
// per list instead of one per row. They are made afresh for every response
// (each event of a subscription too), so nothing is cached across them.
type loaders struct {
	payments *dataloadgen.Loader[string, []payment.Payment]
	events   *dataloadgen.Loader[string, []payment.PaymentEvent]
}

type loadersKey struct{}

func newLoaders(svc Service, wait time.Duration) *loaders {
	opts := []dataloadgen.Option{dataloadgen.WithWait(wait), dataloadgen.WithBatchCapacity(maxBatch)}
	return &loaders{
		payments: dataloadgen.NewMappedLoader(svc.PaymentsByOrders, opts...),
		events:   dataloadgen.NewMappedLoader(svc.PaymentEventsByPayments, opts...),
	}
}

// withLoaders gives each response its own loaders.
func withLoaders(svc Service, wait time.Duration) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		if svc == nil {
			return next(ctx) // a handler with no service behind it (limits' tests): nothing to load
		}
		return next(context.WithValue(ctx, loadersKey{}, newLoaders(svc, wait)))
	}
}

// loadersFrom returns the response's loaders, or one-off ones where the
// schema runs without NewHandler's middleware.
func (r *Resolver) loadersFrom(ctx context.Context) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return newLoaders(r.Service, 0)
}
