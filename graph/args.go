package graph

import (
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/pago/pago/payment"
)

// argsProblem finds a string argument no pago input may hold: a NUL byte
// (PostgreSQL's text cannot store it, so it would fail deep in the store as
// an internal error) or invalid UTF-8. It returns the argument's name.
func argsProblem(args map[string]any) (string, bool) {
	for name, v := range args {
		if badString(reflect.ValueOf(v), 0) {
			return name, true
		}
	}
	return "", false
}

func badString(v reflect.Value, depth int) bool {
	if depth > 32 || !v.IsValid() {
		return false
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && badString(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if badString(v.Index(i), depth+1) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if badString(it.Key(), depth+1) || badString(it.Value(), depth+1) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && badString(v.Field(i), depth+1) {
				return true
			}
		}
	}
	return false
}

func badArgument(name string) error {
	return payment.BadInput(name, "%s contains a NUL byte or invalid UTF-8", name)
}
