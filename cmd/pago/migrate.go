package main

import (
	"context"
	"io"
)

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 {
		return usageError{"pago migrate takes no arguments"}
	}
	log, st, err := storeFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	log.Info("database is up to date", "engine", st.Engine())
	return st.Close()
}
