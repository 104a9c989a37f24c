package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver: no cgo

	"github.com/pago/pago/payment"
	"github.com/pago/pago/store/pgqueries"
	"github.com/pago/pago/store/queries"
)

// Engine names a database engine.
type Engine string

// The engines pago runs on.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Store implements payment.Store on one database.
type Store struct {
	db     *bun.DB
	engine Engine
	q      *queries.Queries
	pq     *pgqueries.Queries     // PostgreSQL's own forms of some queries
	jobs   *river.Client[*sql.Tx] // set by StartJobs; nil in commands that run no jobs
	tx     *bun.Tx                // non-nil in the Store handed to an InTx callback
	dsn    string                 // PostgreSQL: for the connection that LISTENs
	local  *localFeed             // SQLite: this process's order changes
	// changed collects the orders whose status the open transaction
	// changed, announced on local when it commits (SQLite).
	changed *[]string
}

var _ payment.Store = (*Store)(nil)

// maxConns bounds a PostgreSQL pool: enough for the requests, jobs and
// batches of one instance on a few cores, few enough that many instances
// stay within the server's max_connections (100 by default).
const maxConns = 20

// Open connects to databaseURL: postgres:// or postgresql:// for PostgreSQL,
// sqlite:PATH or a plain file path for SQLite (relative paths are resolved
// against the working directory; the directory is created).
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	engine, dsn, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	var db *bun.DB
	switch engine {
	case Postgres:
		sqldb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// As many idle as open: a connection returned past the idle cap is
		// closed, and under load every request then paid for a new
		// PostgreSQL backend. Idle ones still close after five minutes.
		sqldb.SetMaxOpenConns(maxConns)
		sqldb.SetMaxIdleConns(maxConns)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = bun.NewDB(sqldb, pgdialect.New())
	case SQLite:
		sqldb, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// One connection: SQLite has one writer anyway, and riversqlite needs
		// it. Inside a transaction every query must go through the tx.
		sqldb.SetMaxOpenConns(1)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database %s: %w", engine, Redact(databaseURL), err)
	}
	return &Store{db: db, engine: engine, q: queries.New(db.DB), pq: pgqueries.New(db.DB), dsn: dsn,
		local: &localFeed{listeners: map[int]func(string){}}}, nil
}

// parseURL tells the engine and the driver's DSN.
func parseURL(raw string) (Engine, string, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return Postgres, raw, nil
	case strings.HasPrefix(raw, "sqlite:"), !strings.Contains(raw, "://"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		if path == "" {
			return "", "", errors.New("sqlite database path is empty: set PAGO_DATABASE_URL=sqlite:data/pago.db")
		}
		if path != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return "", "", fmt.Errorf("create database directory: %w", err)
			}
		}
		q := url.Values{}
		for _, p := range []string{"foreign_keys(1)", "busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		// Times are written as "2006-01-02 15:04:05.999999999-07:00"; pago
		// writes UTC only, so text order is time order.
		q.Set("_time_format", "sqlite")
		return SQLite, "file:" + path + "?" + q.Encode(), nil
	default:
		return "", "", fmt.Errorf("unsupported database URL %q: use postgres://… or sqlite:PATH", Redact(raw))
	}
}

// Redact hides the password of a database or Redis URL for logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Engine tells which engine the store runs on.
func (s *Store) Engine() Engine { return s.engine }

// DB returns the bun handle, for dynamic reads and tests.
func (s *Store) DB() *bun.DB { return s.db }

// Close stops nothing but the connection pool; stop jobs first.
func (s *Store) Close() error { return s.db.Close() }

// Ping tells whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.engine, err)
	}
	// database/sql's Ping may be answered by a pooled connection whose server
	// is gone; a real round trip tells the truth.
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("query %s: %w", s.engine, err)
	}
	return nil
}

// InTx runs fn in one transaction; fn's Queries use it for every statement.
// Errors leave translated (dbErr), whichever statement or the commit failed.
func (s *Store) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	if s.tx != nil {
		return fn(s) // already in a transaction: join it
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", dbErr(err, "row"))
	}
	// A panic in fn (a batch leader's, say) must not leave the transaction
	// open holding its row locks: on SQLite's one connection that stops
	// every later query. Roll back, then let the panic go on.
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	txs := &Store{db: s.db, engine: s.engine, q: s.q.WithTx(tx.Tx), pq: s.pq.WithTx(tx.Tx), jobs: s.jobs, tx: &tx,
		dsn: s.dsn, local: s.local, changed: new([]string)}
	if err := fn(txs); err != nil {
		_ = tx.Rollback()
		return dbErr(err, "row")
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", dbErr(err, "row"))
	}
	if len(*txs.changed) > 0 {
		s.local.publish(*txs.changed)
	}
	return nil
}
