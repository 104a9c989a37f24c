package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/pago/pago/payment"
)

// limits rejects operations nested deeper than MaxDepth or costlier than
// MaxComplexity (every field costs 1, so alias bombs count in full) before
// any resolver runs, with QUERY_TOO_COMPLEX.
type limits struct {
	es            graphql.ExecutableSchema
	MaxDepth      int
	MaxComplexity int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = limits{}

func (limits) ExtensionName() string                   { return "QueryLimits" }
func (limits) Validate(graphql.ExecutableSchema) error { return nil }
func (l limits) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if d := selectionDepth(oc.Operation.SelectionSet, 0); d > l.MaxDepth {
		return tooComplex(fmt.Sprintf("query depth %d exceeds the limit of %d", d, l.MaxDepth))
	}
	if c := complexity.Calculate(ctx, l.es, oc.Operation, oc.Variables); c > l.MaxComplexity {
		return tooComplex(fmt.Sprintf("query complexity %d exceeds the limit of %d", c, l.MaxComplexity))
	}
	return nil
}

func tooComplex(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": string(payment.CodeQueryTooComplex)}}
}

// selectionDepth is the deepest field nesting, following fragments. The
// validator has already rejected fragment cycles.
func selectionDepth(set ast.SelectionSet, depth int) int {
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				d = depth + 1
			} else {
				d = selectionDepth(s.SelectionSet, depth+1)
			}
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet, depth)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
