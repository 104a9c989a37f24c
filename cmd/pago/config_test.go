package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every setting loadConfig reads has a row in the README's configuration
// table, so what pago prints at start can be looked up.
func TestREADMEListsEverySetting(t *testing.T) {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`"(PAGO_[A-Z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(vars) < 20 {
		t.Fatalf("found %d PAGO_ settings in config.go; has its shape changed?", len(vars))
	}
	for _, v := range vars {
		if !strings.Contains(string(readme), "| `"+v[1]+"` |") {
			t.Errorf("README.md's configuration table has no row for %s", v[1])
		}
	}
}
