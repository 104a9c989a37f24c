package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/pago/pago/payment"
)

// limits rejects operations costlier than MaxComplexity (every field costs
// 1, so alias bombs count in full) before any resolver runs, with
// QUERY_TOO_COMPLEX. Depth is a validation rule (depthRule): it must run
// before the other rules' errors would hide it.
type limits struct {
	es            graphql.ExecutableSchema
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
	if c := complexity.Calculate(ctx, l.es, oc.Operation, oc.Variables); c > l.MaxComplexity {
		return tooComplex(fmt.Sprintf("query complexity %d exceeds the limit of %d", c, l.MaxComplexity))
	}
	return nil
}

func tooComplex(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": string(payment.CodeQueryTooComplex)}}
}

// depthRuleName names the validation rule; the error presenter maps its
// errors (and gqlparser's own MaxIntrospectionDepth) to QUERY_TOO_COMPLEX.
const depthRuleName = "QueryDepth"

// validationRules are gqlparser's defaults plus the depth limit.
func validationRules(maxDepth int) func() *rules.Rules {
	return func() *rules.Rules {
		r := rules.NewDefaultRules()
		r.AddRule(depthRuleName, func(observers *core.Events, addError core.AddErrFunc) {
			observers.OnOperation(func(_ *core.Walker, op *ast.OperationDefinition) {
				if d := selectionDepth(op.SelectionSet, 0, maxDepth+1); d > maxDepth {
					addError(core.Message("query depth exceeds the limit of %d", maxDepth), core.At(op.Position))
				}
			})
		})
		return r
	}
}

// selectionDepth is the deepest field nesting, following fragments, counted
// no further than limit: that also ends fragment cycles, which another rule
// reports.
func selectionDepth(set ast.SelectionSet, depth, limit int) int {
	deepest := depth
	for _, sel := range set {
		if deepest >= limit {
			return deepest
		}
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				d = depth + 1
			} else {
				d = selectionDepth(s.SelectionSet, depth+1, limit)
			}
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth, limit)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet, depth, limit)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
