package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pago/pago/store/storetest"
)

// The chaos cluster is pago as operators run it, every piece a real process
// the suite can kill: two `pago serve` instances sharing one PostgreSQL
// database and one redis-server, and `pago sandbox` as the PG. The pago
// processes are this test binary re-executed (see TestMain), so the suite
// needs no separate build and always tests the code under test.

// execEnv makes the test binary behave as the pago command (TestMain).
const execEnv = "PAGO_TEST_EXEC_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proc is one child process the suite starts, kills and restarts.
type proc struct {
	name string
	path string
	args []string
	env  []string
	log  string // file the output is appended to

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// start launches the process; it must not be running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "=== %s start %s\n", time.Now().Format(time.RFC3339Nano), p.name)
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// running tells whether the process is alive.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits up to wait for the process to exit, killing it
// after that. A process that is not running is left alone.
func (p *proc) signal(sig syscall.Signal, wait time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
	}
}

// kill is kill -9: no shutdown, no flushed writes, no unlocks.
func (p *proc) kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

// stop asks for a graceful shutdown.
func (p *proc) stop() { p.signal(syscall.SIGTERM, 15*time.Second) }

// freePort returns a loopback port nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitHTTP polls url until it answers 200, timeout passes or p exits.
func waitHTTP(p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		if !p.running() {
			return fmt.Errorf("%s exited", p.name)
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitTCP polls addr until it accepts connections.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// instance is one pago server of the cluster.
type instance struct {
	*proc
	url string
}

// cluster is every process of one chaos run.
type cluster struct {
	t       testing.TB
	dir     string
	dbURL   string
	adminDB *sql.DB // the maintenance connection that drops pago's connections
	dbName  string
	secret  string

	redis      *proc
	redisAddr  string
	sandbox    *proc
	sandboxURL string
	relay      *relay
	pagos      []*instance
}

// startCluster starts redis-server, the sandbox, the webhook relay and n
// pago instances on a fresh PostgreSQL database. Everything is stopped
// and the database dropped when the test ends.
func startCluster(t *testing.T, dir string, n int, pagoEnv map[string]string) *cluster {
	t.Helper()
	redisBin, err := exec.LookPath("redis-server")
	if err != nil && os.Getenv("CI") == "" {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatalf("the chaos suite starts its own redis-server, and none is on PATH (apt-get install redis-server): %v", err)
	}
	pgEng, ok := storetest.Postgres(t)
	if !ok {
		t.Fatalf("the chaos suite needs PostgreSQL at %s", storetest.PostgresAdminURL())
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: dir, secret: "chaos-secret-0123456789abcdef0123456789abcdef"}
	c.dbURL = pgEng.NewDatabase(t)
	u, err := url.Parse(c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	c.dbName = strings.TrimPrefix(u.Path, "/")
	if c.adminDB, err = sql.Open("pgx", storetest.PostgresAdminURL()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.adminDB.Close() })

	c.redisAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, port, _ := net.SplitHostPort(c.redisAddr)
	c.redis = &proc{name: "redis", path: redisBin, log: filepath.Join(dir, "redis.log"),
		args: []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no"}}
	c.relay = newRelay(c)
	sbAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.sandboxURL = "http://" + sbAddr
	c.sandbox = &proc{name: "sandbox", path: self, log: filepath.Join(dir, "sandbox.log"),
		args: []string{"sandbox", "--addr", sbAddr, "--webhook-url", c.relay.url},
		env:  []string{execEnv + "=1"}}
	for i := range n {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		env := map[string]string{
			"PAGO_ADDR":         addr,
			"PAGO_PUBLIC_URL":   "http://" + addr,
			"PAGO_DATA_DIR":     filepath.Join(dir, fmt.Sprintf("pago%d", i)),
			"PAGO_DATABASE_URL": c.dbURL,
			"PAGO_REDIS_URL":    "redis://" + c.redisAddr,
			"PAGO_REDIS_PREFIX": "chaos:",
			"PAGO_JWT_SECRET":   c.secret,
			"PAGO_PG_BASE_URL":  c.sandboxURL,
		}
		for k, v := range pagoEnv {
			env[k] = v
		}
		p := &proc{name: fmt.Sprintf("pago%d", i), path: self, log: filepath.Join(dir, fmt.Sprintf("pago%d.log", i)),
			args: []string{"serve"}, env: []string{execEnv + "=1"}}
		for k, v := range env {
			p.env = append(p.env, k+"="+v)
		}
		c.pagos = append(c.pagos, &instance{proc: p, url: "http://" + addr})
	}
	t.Cleanup(c.shutdown)

	if err := c.startRedis(); err != nil {
		t.Fatal(err)
	}
	if err := c.sandbox.start(); err != nil {
		t.Fatal(err)
	}
	if err := waitTCP(sbAddr, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// The first instance migrates alone; the rest start on a ready schema.
	for _, p := range c.pagos {
		if err := c.startPago(p); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *cluster) startRedis() error {
	if err := c.redis.start(); err != nil {
		return err
	}
	return waitTCP(c.redisAddr, 10*time.Second)
}

// startPago starts p and waits until it is ready to serve.
func (c *cluster) startPago(p *instance) error {
	if err := p.start(); err != nil {
		return err
	}
	if err := waitHTTP(p.proc, p.url+"/readyz", 60*time.Second); err != nil {
		p.kill()
		return fmt.Errorf("%s: %w (see %s)", p.name, err, p.log)
	}
	return nil
}

// live returns the instances that are running now.
func (c *cluster) live() []*instance {
	var out []*instance
	for _, p := range c.pagos {
		if p.running() {
			out = append(out, p)
		}
	}
	return out
}

// dropPostgresConnections terminates every server connection to pago's
// database, as a PostgreSQL failover or a network blip does; it returns how
// many it cut.
func (c *cluster) dropPostgresConnections(ctx context.Context) (int, error) {
	rows, err := c.adminDB.QueryContext(ctx,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, c.dbName)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// pagoCmd runs a one-shot pago command (verify, say) on the cluster's database.
func (c *cluster) pagoCmd(ctx context.Context, args ...string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), execEnv+"=1", "PAGO_DATABASE_URL="+c.dbURL,
		"PAGO_DATA_DIR="+filepath.Join(c.dir, "tools"), "PAGO_JWT_SECRET="+c.secret, "PAGO_LOG_LEVEL=warn",
		// reconcile talks to the PG and settles through the same locks
		"PAGO_PG_BASE_URL="+c.sandboxURL, "PAGO_REDIS_URL=redis://"+c.redisAddr, "PAGO_REDIS_PREFIX=chaos:")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("pago %v exited %d", args, ee.ExitCode())
	}
	return string(out), err
}

// shutdown stops everything, pago first so nothing writes after.
func (c *cluster) shutdown() {
	var wg sync.WaitGroup
	for _, p := range c.pagos {
		wg.Go(p.stop)
	}
	wg.Wait()
	c.relay.close()
	c.sandbox.stop()
	c.redis.kill()
}
