package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/uptrace/bun/migrate"

	"github.com/pago/pago/sqlc"
)

// migrationLockID is the PostgreSQL advisory lock that serialises migrations
// of instances starting at once (bun's own lock table fails instead of waiting).
const migrationLockID = 7_345_001

// Migrate applies pago's migrations for the store's engine, then River's. It
// is idempotent and safe to run from several processes at once.
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	unlock, err := s.migrationLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	sub, err := fs.Sub(sqlc.Schema, "schema/"+string(s.engine))
	if err != nil {
		return fmt.Errorf("migrations for %s: %w", s.engine, err)
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(sub); err != nil {
		return fmt.Errorf("discover migrations: %w", err)
	}
	m := migrate.NewMigrator(s.db, ms,
		migrate.WithTableName("pago_migrations"),
		migrate.WithLocksTableName("pago_migration_locks"),
		migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("init migrations: %w", err)
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !group.IsZero() {
		log.Info("migrated", "engine", s.engine, "group", group.ID, "migrations", group.Migrations.String())
	}

	res, err := s.riverMigrator(log).Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	if len(res.Versions) > 0 {
		log.Info("migrated river", "engine", s.engine, "versions", len(res.Versions))
	}
	return nil
}

func (s *Store) riverMigrator(log *slog.Logger) *rivermigrate.Migrator[*sql.Tx] {
	m, err := rivermigrate.New(s.riverDriver(), &rivermigrate.Config{Logger: log})
	if err != nil {
		panic(err) // only fails on a nil driver, which riverDriver never returns
	}
	return m
}

func (s *Store) riverDriver() riverdriver.Driver[*sql.Tx] {
	if s.engine == SQLite {
		return riversqlite.New(s.db.DB)
	}
	return riverdatabasesql.New(s.db.DB)
}

// migrationLock takes a session-level advisory lock on PostgreSQL. SQLite
// needs none: its single connection and file lock already serialise.
func (s *Store) migrationLock(ctx context.Context) (func(), error) {
	if s.engine != Postgres {
		return func() {}, nil
	}
	conn, err := s.db.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration lock connection: %w", err)
	}
	lockCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := conn.ExecContext(lockCtx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
		conn.Close()
		return nil, fmt.Errorf("wait for migration lock: %w", err)
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLockID)
		conn.Close()
	}, nil
}
