package graph

import (
	"context"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
)

// Queries and mutations run within OperationTimeout; subscriptions and
// runReconciliation (also behind a fragment) are not bounded, and a
// bounded operation's context is released with its last response: a
// query with @defer answers more than once.
func TestBoundedOperations(t *testing.T) {
	field := func(name string) ast.Selection { return &ast.Field{Name: name, Alias: name} }
	cases := []struct {
		name      string
		op        ast.Operation
		selection ast.Selection
		responses int // the last one without hasNext
		bounded   bool
	}{
		{"query", ast.Query, field("order"), 1, true},
		{"mutation", ast.Mutation, field("payWithWallet"), 1, true},
		{"query with @defer", ast.Query, field("order"), 3, true},
		{"subscription", ast.Subscription, field("orderUpdated"), 1, false},
		{"runReconciliation", ast.Mutation, field("runReconciliation"), 1, false},
		{"runReconciliation in a fragment", ast.Mutation,
			&ast.InlineFragment{SelectionSet: ast.SelectionSet{field("runReconciliation")}}, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := &ast.OperationDefinition{Operation: tc.op, SelectionSet: ast.SelectionSet{tc.selection}}
			ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{Operation: op})
			var inner context.Context
			left := tc.responses
			respond := bounded(time.Minute)(ctx, func(ctx context.Context) graphql.ResponseHandler {
				inner = ctx
				return func(context.Context) *graphql.Response {
					left--
					more := left > 0
					return &graphql.Response{HasNext: &more}
				}
			})
			deadline, has := inner.Deadline()
			require.Equal(t, tc.bounded, has)
			if has {
				require.WithinDuration(t, time.Now().Add(time.Minute), deadline, 5*time.Second)
			}
			for range tc.responses - 1 {
				require.NotNil(t, respond(ctx))
				require.NoError(t, inner.Err(), "open while responses are to come")
			}
			require.NotNil(t, respond(ctx))
			if tc.bounded {
				require.ErrorIs(t, inner.Err(), context.Canceled, "released after its last response")
			} else {
				require.NoError(t, inner.Err())
			}
		})
	}
}
