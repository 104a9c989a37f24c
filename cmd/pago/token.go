package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pago/pago/web"
)

func tokenCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	user := fs.String("user", "", "the user's name (created on first use)")
	admin := fs.Bool("admin", false, "grant the operator role")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return usageError{"pago token: " + err.Error()}
	}
	if *user == "" {
		return usageError{"pago token: --user NAME is required"}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if err := cfg.ensureDevJWTSecret(); err != nil {
		return err
	}
	tok, err := web.NewTokens([]byte(cfg.JWTSecret), time.Now).Issue(*user, *admin, *ttl)
	if err != nil {
		return fmt.Errorf("pago token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
