package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// testHandler is the GraphQL handler with no service behind it: every case
// here must be decided before a resolver runs.
func testHandler(t testing.TB, introspection bool) http.Handler {
	t.Helper()
	return NewHandler(HandlerConfig{
		Resolver:      &Resolver{},
		Logger:        slog.New(slog.DiscardHandler),
		Introspection: introspection,
		Suggestions:   introspection,
		MaxDepth:      10,
		MaxComplexity: 1000,
	})
}

type gqlResult struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (r gqlResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func post(t testing.TB, h http.Handler, query string) gqlResult {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query})
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out gqlResult
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), "body: %s", rec.Body.String())
	out.Status = rec.Code
	return out
}

// within fails the test if fn has not returned after a generous deadline:
// the work here is milliseconds, the bugs it guards against are hours.
func within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %s: the work is not linear in the document", d)
	}
}

// A fragment that spreads itself used to recurse in the depth walk until
// Go died of a stack overflow, which no recover catches: one anonymous
// request took the whole process down. Validation refuses the cycle first.
func TestFragmentCyclesAreRefused(t *testing.T) {
	for _, introspection := range []bool{true, false} {
		h := testHandler(t, introspection)
		for _, q := range []string{
			`query{...A} fragment A on Query{...A}`,
			`query{...A} fragment A on Query{...B} fragment B on Query{...A}`,
			`query{...A} fragment A on Query{wallet{id} ... on Query{...A}}`,
			`query{__type(name:"Order"){...T}} fragment T on __Type{ofType{...T}}`,
			`subscription{...S} fragment S on Subscription{...S}`,
		} {
			var res gqlResult
			within(t, 30*time.Second, func() { res = post(t, h, q) })
			require.Equal(t, "GRAPHQL_VALIDATION_FAILED", res.code(), q)
			require.Less(t, res.Status, 500, q)
		}
	}
}

// doubling is n fragments on typ where each spreads the next twice: 2^n
// paths in a document of n lines.
func doubling(root, typ, leaf string, n int) string {
	var b strings.Builder
	b.WriteString(root)
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on %s { ...F%d ...F%d }", i, typ, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on %s { %s }", n, typ, leaf)
	return b.String()
}

// 24 doubling levels used to cost seconds of CPU before the refusal, every
// level doubling it; now each fragment is weighed once.
func TestDoublingFragmentsAreCheap(t *testing.T) {
	h := testHandler(t, true)
	for _, q := range []string{
		doubling("query { ...F0 }", "Query", "me { id }", 60),
		doubling("query { __type(name: \"Order\") { ...F0 } }", "__Type", "name", 60),
		doubling("query { __schema { types { ...F0 } } }", "__Type", "fields { name }", 60),
		doubling("query { orders { nodes { ...F0 } } }", "Order", "id", 60),
		doubling("query { orders { ...F0 } }", "OrderConnection", "nodes { id }", 60),
	} {
		var res gqlResult
		within(t, 30*time.Second, func() { res = post(t, h, q) })
		require.Equal(t, "QUERY_TOO_COMPLEX", res.code(), "%.80s", q)
	}
}

// measure runs the limits on a query without serving it.
func measure(t *testing.T, q string, vars map[string]any) (cost, error) {
	t.Helper()
	es := NewExecutableSchema(Config{Resolvers: &Resolver{}, Complexity: complexityRoot()})
	doc, errs := gqlparser.LoadQuery(es.Schema(), q)
	require.Empty(t, errs)
	l := newLimits(es, 10, 1000)
	c := l.measure(context.Background(), doc.Operations[0], vars)
	oc := &graphql.OperationContext{Operation: doc.Operations[0], Variables: vars}
	if err := l.MutateOperationContext(context.Background(), oc); err != nil {
		return c, err
	}
	return c, nil
}

func TestListFieldsCostByPageSize(t *testing.T) {
	small, err := measure(t, `{ orders(first: 5) { nodes { id status } } }`, nil)
	require.NoError(t, err)
	big, err := measure(t, `{ orders(first: 100) { nodes { id status } } }`, nil)
	require.NoError(t, err)
	require.Greater(t, big.complexity, 10*small.complexity, "100 orders cost more than 5")

	viaVar, err := measure(t, `query($n: Int) { orders(first: $n) { nodes { id status } } }`, map[string]any{"n": 100})
	require.NoError(t, err)
	require.Equal(t, big.complexity, viaVar.complexity, "a page size in a variable counts the same")

	// One page of orders with their payments' events is too much already.
	_, err = measure(t, `{ orders(first: 100) { nodes { payments { events { to } } } } }`, nil)
	require.ErrorContains(t, err, "complexity")

	var b strings.Builder
	b.WriteString("{")
	for i := range 60 {
		fmt.Fprintf(&b, " a%d: orders(first: 100) { nodes { payments { events { detail } } } }", i)
	}
	b.WriteString(" }")
	_, err = measure(t, b.String(), nil)
	require.ErrorContains(t, err, "complexity")

	// Out-of-range page sizes are the resolver's BAD_USER_INPUT, not a cost.
	_, err = measure(t, `{ orders(first: 1000) { nodes { id } } }`, nil)
	require.NoError(t, err)
	_, err = measure(t, `{ orders(first: -1) { nodes { id } } }`, nil)
	require.NoError(t, err)
}

func TestDepthLimit(t *testing.T) {
	es := NewExecutableSchema(Config{Resolvers: &Resolver{}, Complexity: complexityRoot()})
	l := newLimits(es, 3, 1000)
	check := func(q string) *gqlerror.Error {
		doc, errs := gqlparser.LoadQuery(es.Schema(), q)
		require.Empty(t, errs)
		return l.MutateOperationContext(context.Background(), &graphql.OperationContext{Operation: doc.Operations[0]})
	}
	require.Nil(t, check(`{ orders { nodes { id } } }`))
	require.Nil(t, check(`{ ...A } fragment A on Query { orders { ... on OrderConnection { nodes { ...B } } } } fragment B on Order { id }`))
	// Four levels, through fragments and inline fragments.
	err := check(`{ ...A } fragment A on Query { orders { ... on OrderConnection { nodes { ...B } } } } fragment B on Order { payments { id } }`)
	require.NotNil(t, err)
	require.Equal(t, "QUERY_TOO_COMPLEX", err.Extensions["code"])

	// Introspection has its own depth limit, deep enough for the standard query.
	h := testHandler(t, true)
	tooDeep := "{ __schema { types { " + strings.Repeat("ofType { ", 17) + "name" + strings.Repeat(" }", 17) + " } } }"
	require.Equal(t, "QUERY_TOO_COMPLEX", post(t, h, tooDeep).code())
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return string(b)
}

// graphql-js's getIntrospectionQuery() (GraphiQL, Apollo, code generators)
// was refused by the depth limit, so the playground could not load its docs.
func TestStandardIntrospectionQueryWorks(t *testing.T) {
	h := testHandler(t, true)
	for _, name := range []string{"introspection-graphql-js-16-default.graphql", "introspection-graphql-js-16-all-options.graphql"} {
		res := post(t, h, readFixture(t, name))
		require.Empty(t, res.Errors, name)
		var data struct {
			Schema struct {
				Types []struct{ Name string } `json:"types"`
			} `json:"__schema"`
		}
		require.NoError(t, json.Unmarshal(res.Data, &data))
		names := map[string]bool{}
		for _, typ := range data.Schema.Types {
			names[typ.Name] = true
		}
		require.True(t, names["Order"] && names["Mutation"], name)
	}
}

// Introspection stays cheap: many schema downloads in one request, or one
// that selects every name thousands of times, are refused.
func TestIntrospectionBombsAreRefused(t *testing.T) {
	h := testHandler(t, true)
	var b strings.Builder
	b.WriteString("{")
	for i := range 100 {
		fmt.Fprintf(&b, " a%d: __schema { types { fields { name type { name } } } }", i)
	}
	b.WriteString(" }")
	require.Equal(t, "QUERY_TOO_COMPLEX", post(t, h, b.String()).code())

	b.Reset()
	b.WriteString("{ __schema { types { fields { type { fields {")
	for i := range 2000 {
		fmt.Fprintf(&b, " n%d: name", i)
	}
	b.WriteString(" } } } } } }")
	require.Equal(t, "QUERY_TOO_COMPLEX", post(t, h, b.String()).code())

	// gqlparser's own limit on nested lists still holds.
	require.Equal(t, "QUERY_TOO_COMPLEX",
		post(t, h, `{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`).code())
}

// Production: introspection is a client's mistake (not INTERNAL), and
// validation errors do not suggest field names.
func TestProductionHidesTheSchema(t *testing.T) {
	prod, dev := testHandler(t, false), testHandler(t, true)
	for _, q := range []string{`{ __schema { types { name } } }`, `{ __type(name: "Order") { name } }`} {
		res := post(t, prod, q)
		require.Equal(t, "GRAPHQL_VALIDATION_FAILED", res.code(), q)
		require.Less(t, res.Status, 500)
	}
	require.Empty(t, post(t, prod, `{ __typename }`).Errors)

	for _, q := range []string{`{ ordr(id: "x") { id } }`, `{ orders(status: PAYD) { nodes { id } } }`, `{ orders { nodes { statu } } }`} {
		res := post(t, dev, q)
		require.Equal(t, "GRAPHQL_VALIDATION_FAILED", res.code(), q)
		require.Contains(t, res.Errors[0].Message, "Did you mean", "dev keeps suggestions: %s", q)
		res = post(t, prod, q)
		require.Equal(t, "GRAPHQL_VALIDATION_FAILED", res.code(), q)
		for _, e := range res.Errors {
			require.NotContains(t, e.Message, "Did you mean", q)
		}
	}
}

// A NUL byte reaches no store: PostgreSQL cannot hold it, and the failure
// would surface as INTERNAL.
func TestNULInArgumentsIsBadInput(t *testing.T) {
	h := testHandler(t, true)
	for _, q := range []string{
		`{ order(id: "a\u0000b") { id } }`,
		`{ orders(after: "\u0000") { nodes { id } } }`,
		`mutation { createWallet(input: {idempotencyKey: "k\u0000"}) { wallet { id } } }`,
	} {
		res := post(t, h, q)
		require.Equal(t, "BAD_USER_INPUT", res.code(), q)
	}
}

func TestLimitsAreFastOnLargeDocuments(t *testing.T) {
	// The parser's token limit bounds the document; a document at the limit
	// must be judged quickly whatever its shape.
	var b strings.Builder
	b.WriteString("{")
	for i := 0; b.Len() < 30_000; i++ {
		fmt.Fprintf(&b, " a%d: __typename", i)
	}
	b.WriteString(" }")
	h := testHandler(t, true)
	var res gqlResult
	within(t, 30*time.Second, func() { res = post(t, h, b.String()) })
	require.Less(t, res.Status, 500)
	require.NotEmpty(t, res.Errors)
}
