package main

import (
	"context"
	"io"
)

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 {
		return usageError{"pago migrate takes no arguments"}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	log.Info("database is up to date", "engine", st.Engine())
	return st.Close()
}
