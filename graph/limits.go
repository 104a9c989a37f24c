package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/pago/pago/payment"
)

// limits refuses, with QUERY_TOO_COMPLEX and before any resolver runs,
// operations deeper than MaxDepth or costlier than MaxComplexity. It runs
// as an OperationContextMutator, that is after gqlgen's validation, which
// already refused fragment cycles, unknown fragments and the like: the walk
// below never meets a cycle in a document it is given.
//
// Cost comes from gqlgen's complexity machinery: each field's cost is its
// complexity function (see complexityRoot: list fields cost by their page
// size) or 1 plus its children. The walk is linear in the document: a
// fragment's depth and cost are computed once and reused at every spread,
// so fragments that spread each other twice per level cost their size, not
// 2^levels, to judge.
//
// Introspection (__schema, __type) has its own limits: the data depth limit
// would refuse every standard client's introspection query (graphql-js's
// getIntrospectionQuery nests ofType nine times), so its subtree counts
// against maxIntrospectionDepth instead, and against a cost budget measured
// on the standard query itself.
type limits struct {
	es            graphql.ExecutableSchema
	MaxDepth      int
	MaxComplexity int
	intro         introspectionCost
}

// maxIntrospectionDepth is deep enough for graphql-js's
// getIntrospectionQuery (15 levels) and no deeper.
const maxIntrospectionDepth = 15

// maxIntrospectionLists is gqlparser's MaxIntrospectionDepth limit on
// nested fields/interfaces/possibleTypes/inputFields. That rule walks every
// path through the fragments, which takes 2^n steps on n fragments that
// spread the next one twice, so the walk here (memoised) enforces it instead.
const maxIntrospectionLists = 3

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = limits{}

func newLimits(es graphql.ExecutableSchema, maxDepth, maxComplexity int) limits {
	return limits{es: es, MaxDepth: maxDepth, MaxComplexity: maxComplexity, intro: newIntrospectionCost(es.Schema())}
}

func (limits) ExtensionName() string                   { return "QueryLimits" }
func (limits) Validate(graphql.ExecutableSchema) error { return nil }
func (l limits) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	c := l.measure(ctx, oc.Operation, oc.Variables)
	switch {
	case c.depth > l.MaxDepth:
		return tooComplex(fmt.Sprintf("query depth exceeds the limit of %d", l.MaxDepth))
	case c.introDepth > maxIntrospectionDepth:
		return tooComplex(fmt.Sprintf("introspection depth exceeds the limit of %d", maxIntrospectionDepth))
	case c.complexity > l.MaxComplexity:
		return tooComplex(fmt.Sprintf("query complexity %d exceeds the limit of %d", c.complexity, l.MaxComplexity))
	case c.introLists >= maxIntrospectionLists:
		return tooComplex("maximum introspection depth exceeded")
	case c.introCost > l.intro.budget:
		return tooComplex("introspection selects more than a schema download")
	}
	return nil
}

// QUERY_TOO_COMPLEX is a request error like a validation failure: HTTP 422
// on POST, an "error" message on the websocket.
func init() { errcode.RegisterErrorType(string(payment.CodeQueryTooComplex), errcode.KindProtocol) }

func tooComplex(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": string(payment.CodeQueryTooComplex)}}
}

// cost is what one selection set weighs: the deepest data field nesting and
// the data fields' complexity, and the same for introspection fields.
type cost struct {
	depth, complexity     int
	introDepth, introCost int
	// introLists is the deepest nesting of introspection's recursive list
	// fields (fields, interfaces, possibleTypes, inputFields): gqlparser's
	// MaxIntrospectionDepth rule, which this replaces, allows fewer than 3.
	introLists int
}

// and combines siblings: depths take the deeper, costs add.
func (c cost) and(o cost) cost {
	return cost{
		depth: max(c.depth, o.depth), complexity: satAdd(c.complexity, o.complexity),
		introDepth: max(c.introDepth, o.introDepth), introCost: satAdd(c.introCost, o.introCost),
		introLists: max(c.introLists, o.introLists),
	}
}

type costWalker struct {
	ctx   context.Context
	es    graphql.ExecutableSchema
	intro introspectionCost
	vars  map[string]any
	// memo holds each fragment's cost, computed once. A fragment spread in
	// an introspection subtree and outside one is weighed differently, hence
	// the flag in the key.
	memo map[fragmentKey]cost
	// splits holds connectionSplit's answer per fragment, likewise.
	splits map[string][2]int
	// walking marks fragments being computed: a cycle (which validation
	// already refused) weighs nothing instead of recursing forever.
	walking map[fragmentKey]bool
}

type fragmentKey struct {
	name  string
	intro bool
}

func (l limits) measure(ctx context.Context, op *ast.OperationDefinition, vars map[string]any) cost {
	w := costWalker{ctx: ctx, es: l.es, intro: l.intro, vars: vars,
		memo: map[fragmentKey]cost{}, splits: map[string][2]int{}, walking: map[fragmentKey]bool{}}
	return w.selectionSet(op.SelectionSet, false)
}

func (w *costWalker) selectionSet(set ast.SelectionSet, intro bool) cost {
	var total cost
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			total = total.and(w.field(s, intro))
		case *ast.InlineFragment:
			total = total.and(w.selectionSet(s.SelectionSet, intro))
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			k := fragmentKey{s.Name, intro}
			c, ok := w.memo[k]
			if !ok {
				if w.walking[k] {
					continue
				}
				w.walking[k] = true
				c = w.selectionSet(s.Definition.SelectionSet, intro)
				delete(w.walking, k)
				w.memo[k] = c
			}
			total = total.and(c)
		}
	}
	return total
}

func (w *costWalker) field(f *ast.Field, intro bool) cost {
	if !intro && (f.Name == "__schema" || f.Name == "__type") {
		intro = true
	}
	child := w.selectionSet(f.SelectionSet, intro)
	if intro {
		lists := child.introLists
		switch f.Name {
		case "fields", "interfaces", "possibleTypes", "inputFields":
			lists++
		}
		return cost{
			introDepth: child.introDepth + 1,
			introCost:  satAdd(1, satMul(w.intro.fanOut(f.Name), child.introCost)),
			introLists: lists,
		}
	}
	c := satAdd(1, child.complexity)
	if f.ObjectDefinition != nil {
		// A connection's complexity function is given what one item costs
		// (its nodes and edges); pageInfo is fetched once per page.
		perItem, once := child.complexity, 0
		if isConnection(f) {
			perItem, once = w.connectionSplit(f.SelectionSet)
		}
		if custom, ok := w.es.Complexity(w.ctx, f.ObjectDefinition.Name, f.Name, perItem, f.ArgumentMap(w.vars)); ok && custom >= 1 {
			c = satAdd(custom, once)
		}
	}
	return cost{depth: child.depth + 1, complexity: c}
}

// isConnection tells a Relay connection (nodes, edges, pageInfo) apart.
func isConnection(f *ast.Field) bool {
	return f.Definition != nil && strings.HasSuffix(f.Definition.Type.Name(), "Connection")
}

// connectionSplit weighs a connection's selection in two parts: what is
// fetched per item (nodes, edges) and what once (pageInfo, __typename).
func (w *costWalker) connectionSplit(set ast.SelectionSet) (perItem, once int) {
	for _, sel := range set {
		var c cost
		per := false
		switch s := sel.(type) {
		case *ast.Field:
			c, per = w.field(s, false), s.Name == "nodes" || s.Name == "edges"
		case *ast.InlineFragment:
			p, o := w.connectionSplit(s.SelectionSet)
			perItem, once = satAdd(perItem, p), satAdd(once, o)
			continue
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			split, ok := w.splits[s.Name]
			if !ok {
				k := fragmentKey{"split:" + s.Name, false}
				if w.walking[k] {
					continue
				}
				w.walking[k] = true
				split[0], split[1] = w.connectionSplit(s.Definition.SelectionSet)
				delete(w.walking, k)
				w.splits[s.Name] = split
			}
			perItem, once = satAdd(perItem, split[0]), satAdd(once, split[1])
			continue
		}
		if per {
			perItem = satAdd(perItem, c.complexity)
		} else {
			once = satAdd(once, c.complexity)
		}
	}
	return perItem, once
}

// introspectionCost weighs introspection selections by how many objects
// each list field can return in this schema, and allows a few times what
// graphql-js's standard introspection query costs.
type introspectionCost struct {
	lists  map[string]int // list field name → most items it returns
	budget int
}

func (ic introspectionCost) fanOut(field string) int {
	if n, ok := ic.lists[field]; ok {
		return max(n, 1)
	}
	return 1
}

func newIntrospectionCost(s *ast.Schema) introspectionCost {
	ic := introspectionCost{lists: map[string]int{"types": len(s.Types), "directives": len(s.Directives)}}
	grow := func(name string, n int) { ic.lists[name] = max(ic.lists[name], n) }
	for _, t := range s.Types {
		grow("fields", len(t.Fields))
		grow("enumValues", len(t.EnumValues))
		grow("interfaces", len(t.Interfaces))
		grow("possibleTypes", len(s.GetPossibleTypes(t)))
		if t.Kind == ast.InputObject {
			grow("inputFields", len(t.Fields))
		}
		for _, f := range t.Fields {
			grow("args", len(f.Arguments))
		}
	}
	for _, d := range s.Directives {
		grow("args", len(d.Arguments))
		grow("locations", len(d.Locations))
	}
	ic.budget = 1 // until measured: refuse all rather than allow all
	doc, err := gqlparser.LoadQuery(s, standardIntrospectionQuery)
	if err != nil {
		panic("the standard introspection query does not validate against pago's schema: " + err.Error())
	}
	w := costWalker{ctx: context.Background(), intro: ic, memo: map[fragmentKey]cost{}, splits: map[string][2]int{}, walking: map[fragmentKey]bool{}}
	standard := w.selectionSet(doc.Operations[0].SelectionSet, false).introCost
	ic.budget = standard + standard/4
	return ic
}

// standardIntrospectionQuery is graphql-js 16's getIntrospectionQuery with
// every option on (what GraphiQL and code generators send, or less).
const standardIntrospectionQuery = `
query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name description isRepeatable locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL isOneOf
  fields(includeDeprecated: true) {
    name description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

const maxInt = int(^uint(0) >> 1)

func satAdd(a, b int) int {
	if a > maxInt-b {
		return maxInt
	}
	return a + b
}

func satMul(a, b int) int {
	if a != 0 && b > maxInt/a {
		return maxInt
	}
	return a * b
}

// validationRules are gqlparser's defaults but MaxIntrospectionDepth
// (limits enforces it in linear time). Without introspection, a rule
// refuses __schema and __type as a client error (the executor would
// otherwise fail them as internal errors).
func validationRules(introspection bool) func() *rules.Rules {
	return func() *rules.Rules {
		r := rules.NewDefaultRules()
		r.RemoveRule(rules.MaxIntrospectionDepth.Name)
		if !introspection {
			r.AddRule("NoIntrospection", func(observers *core.Events, addError core.AddErrFunc) {
				observers.OnField(func(_ *core.Walker, f *ast.Field) {
					if f.Name == "__schema" || f.Name == "__type" {
						addError(core.Message("introspection is disabled"), core.At(f.Position))
					}
				})
			})
		}
		return r
	}
}

// withoutSuggestions drops gqlparser's "Did you mean …?" from a message:
// in production they would spell out the schema to anyone guessing.
func withoutSuggestions(msg string) string {
	if i := strings.Index(msg, " Did you mean "); i >= 0 {
		return msg[:i]
	}
	return msg
}
