package graph_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// docs/api.md is the API reference: every operation and type of the schema
// has its own section there, and each field, argument and enum value is
// named in its section. A schema change without its documentation fails.
func TestAPIReferenceCoversSchema(t *testing.T) {
	src, err := os.ReadFile("schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gqlErr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(src)})
	if gqlErr != nil {
		t.Fatal(gqlErr)
	}
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := docSections(string(doc))

	// section returns the text under the heading "### `name`".
	section := func(name string) (string, bool) {
		s, ok := sections[name]
		if !ok {
			t.Errorf("docs/api.md has no section \"### `%s`\"", name)
		}
		return s, ok
	}
	mentions := func(text, name string) bool { return strings.Contains(text, "`"+name) }

	roots := map[string]bool{}
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if root == nil {
			continue
		}
		roots[root.Name] = true
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			s, ok := section(f.Name)
			if !ok {
				continue
			}
			for _, a := range f.Arguments {
				if !mentions(s, a.Name) && !strings.Contains(s, a.Name+":") {
					t.Errorf("docs/api.md: %s.%s's argument %s is not named in its section", root.Name, f.Name, a.Name)
				}
			}
		}
	}
	for name, def := range schema.Types {
		if def.BuiltIn || roots[name] {
			continue
		}
		s, ok := section(name)
		if !ok {
			continue
		}
		for _, f := range def.Fields {
			if !mentions(s, f.Name) {
				t.Errorf("docs/api.md: field %s.%s is not named in its section", name, f.Name)
			}
		}
		for _, v := range def.EnumValues {
			if !mentions(s, v.Name) {
				t.Errorf("docs/api.md: enum value %s.%s is not named in its section", name, v.Name)
			}
		}
	}
}

// Every public error code (payment's Code constants) is in the error table.
func TestAPIReferenceCoversErrorCodes(t *testing.T) {
	src, err := os.ReadFile("../payment/errors.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	codes := regexp.MustCompile(`(?m)^\s*Code[A-Za-z]+\s+Code = "([A-Z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(codes) < 10 {
		t.Fatalf("found %d codes in payment/errors.go; has its shape changed?", len(codes))
	}
	for _, c := range codes {
		if !strings.Contains(string(doc), "| `"+c[1]+"` |") {
			t.Errorf("docs/api.md: error code %s has no row in the error table", c[1])
		}
	}
}

var heading = regexp.MustCompile("(?m)^### `([A-Za-z_][A-Za-z0-9_]*)`\\s*$")

// docSections maps each "### `name`" heading to the text up to the next heading.
func docSections(doc string) map[string]string {
	out := map[string]string{}
	locs := heading.FindAllStringSubmatchIndex(doc, -1)
	for i, l := range locs {
		end := len(doc)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		// Stop at a higher-level heading too.
		body := doc[l[1]:end]
		if j := strings.Index(body, "\n## "); j >= 0 {
			body = body[:j]
		}
		out[doc[l[2]:l[3]]] = body
	}
	return out
}
