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
// runReconciliation are not bounded, and a bounded operation's context is
// released once it has answered.
func TestBoundedOperations(t *testing.T) {
	cases := []struct {
		op      ast.Operation
		field   string
		bounded bool
	}{
		{ast.Query, "order", true},
		{ast.Mutation, "payWithWallet", true},
		{ast.Subscription, "orderUpdated", false},
		{ast.Mutation, "runReconciliation", false},
	}
	for _, tc := range cases {
		t.Run(string(tc.op)+" "+tc.field, func(t *testing.T) {
			op := &ast.OperationDefinition{Operation: tc.op, SelectionSet: ast.SelectionSet{&ast.Field{Name: tc.field}}}
			ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{Operation: op})
			var inner context.Context
			respond := bounded(time.Minute)(ctx, func(ctx context.Context) graphql.ResponseHandler {
				inner = ctx
				return func(context.Context) *graphql.Response { return &graphql.Response{} }
			})
			deadline, has := inner.Deadline()
			require.Equal(t, tc.bounded, has)
			if has {
				require.WithinDuration(t, time.Now().Add(time.Minute), deadline, 5*time.Second)
			}
			require.NotNil(t, respond(ctx))
			if tc.bounded {
				require.ErrorIs(t, inner.Err(), context.Canceled, "released after its answer")
			} else {
				require.NoError(t, inner.Err())
			}
		})
	}
}
