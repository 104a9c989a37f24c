// Package storetest gives tests isolated databases and Redis key prefixes on
// both engines: SQLite + in-process Redis always, PostgreSQL + Redis when
// reachable (TEST_DATABASE_URL, TEST_REDIS_URL, defaulting to the local
// services). When CI is set, an unreachable PostgreSQL or Redis fails the
// test instead of skipping it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	goredislib "github.com/redis/go-redis/v9"
)

// Engine is one database + Redis combination to run a test on.
type Engine struct {
	Name string
	// NewDatabase returns a URL of a fresh, empty database, dropped at cleanup.
	NewDatabase func(t testing.TB) string
	// RedisURL is the Redis to use ("" = in-process).
	RedisURL string
}

const (
	defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedis    = "redis://127.0.0.1:6379/0"
)

// Engines lists SQLite always and PostgreSQL when reachable.
func Engines(t testing.TB) []Engine {
	engines := []Engine{SQLite()}
	if pg, ok := Postgres(t); ok {
		engines = append(engines, pg)
	}
	return engines
}

// SQLite is a fresh SQLite file per database and the in-process Redis.
func SQLite() Engine {
	return Engine{Name: "sqlite", NewDatabase: func(t testing.TB) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "pago.db")
	}}
}

var (
	probeOnce sync.Once
	probeErr  error
)

// Postgres is a fresh PostgreSQL database per call plus the real Redis. It
// reports false (skipping) when either is unreachable outside CI.
func Postgres(t testing.TB) (Engine, bool) {
	admin := PostgresAdminURL()
	redisURL := env("TEST_REDIS_URL", defaultRedis)
	probeOnce.Do(func() { probeErr = probe(admin, redisURL) })
	if probeErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but PostgreSQL/Redis is unreachable: %v", probeErr)
		}
		t.Logf("skipping PostgreSQL+Redis: %v", probeErr)
		return Engine{}, false
	}
	return Engine{Name: "postgres", RedisURL: redisURL, NewDatabase: func(t testing.TB) string {
		return NewPostgresDatabase(t, admin)
	}}, true
}

// PostgresAdminURL is the database tests create their databases through.
func PostgresAdminURL() string { return env("TEST_DATABASE_URL", defaultPostgres) }

func probe(pgURL, redisURL string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	opt, err := goredislib.ParseURL(redisURL)
	if err != nil {
		return err
	}
	c := goredislib.NewClient(opt)
	defer c.Close()
	return c.Ping(ctx).Err()
}

// NewPostgresDatabase creates a database through adminURL and returns its URL.
func NewPostgresDatabase(t testing.TB, adminURL string) string {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	name := "pago_test_" + RandomHex(6)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// RedisPrefix is a key prefix no other test uses.
func RedisPrefix() string { return "pagotest:" + RandomHex(6) + ":" }

// RandomHex returns 2n random hex characters.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func env(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
