package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/web"
)

// The chaos suite: `make chaos` runs it long with a new seed; `make test`
// runs a short fixed-seed run. See TestChaos.

var (
	chaosSeed     = flag.Uint64("chaos.seed", 1, "seed of the chaos run (0: a new one from the clock)")
	chaosDuration = flag.Duration("chaos.duration", 12*time.Second, "how long customers shop while faults are injected")
	chaosShoppers = flag.Int("chaos.shoppers", 6, "concurrent customers")
	chaosFaults   = flag.Int("chaos.faults", 8, "faults injected on top of one of each kind")
	chaosRuns     = flag.Int("chaos.runs", 1, "runs, with seeds seed, seed+1, …")
	chaosSettle   = flag.Duration("chaos.settle", 4*time.Minute, "longest wait for every in-doubt payment to settle (a probe job on a killed instance is rescued after 2 min)")
)

// Fault kinds, as the run reports them.
const (
	faultKill             = "kill -9 pago (random point)"
	faultKillAfterCommit  = "kill -9 pago after the PG committed, before pago wrote"
	faultPGLatency        = "PG latency past the confirm timeout"
	faultPG5xx            = "PG 5xx on confirm"
	faultPGProviderError  = "PG PROVIDER_ERROR on confirm"
	faultPGCommitDrop     = "PG commits, then the answer is lost"
	faultPGConnReset      = "PG resets the connection before committing"
	faultPGLookup5xx      = "PG 5xx on lookups (probes, webhooks)"
	faultSandboxDup       = "PG sends a webhook twice"
	faultSandboxDelay     = "PG delays a webhook"
	faultWebhookDup       = "webhook duplicated to both instances"
	faultWebhookDelay     = "webhook delayed in transit"
	faultWebhookReorder   = "webhooks delivered out of order"
	faultWebhookForged    = "forged webhook claiming DONE"
	faultRedisRestart     = "redis-server killed and restarted (locks lost)"
	faultPostgresDrop     = "PostgreSQL connections dropped"
	faultPagoBothRestart  = "both pago instances killed at once"
	faultPagoDeploy       = "pago restarted gracefully (SIGTERM, as in a deploy)"
	faultPGWindowLapse    = "PG clock jumps past the 10-minute confirm window"
	chaosConfirmTimeout   = 3 * time.Second
	chaosSlowCardDelay    = time.Second
	chaosInstances        = 2
	chaosRedisDownMax     = 2500 * time.Millisecond
	chaosPagoRestartDelay = 1500 * time.Millisecond
)

var faultKinds = []string{
	faultKill, faultKillAfterCommit, faultPGLatency, faultPG5xx, faultPGProviderError, faultPGCommitDrop,
	faultPGConnReset, faultPGLookup5xx, faultSandboxDup, faultSandboxDelay, faultWebhookDup, faultWebhookDelay,
	faultWebhookReorder, faultWebhookForged, faultRedisRestart, faultPostgresDrop, faultPagoBothRestart, faultPagoDeploy,
	faultPGWindowLapse,
}

// TestChaos runs pago as operators do (two instances, PostgreSQL, Redis,
// the PG over the network) while customers shop and faults are injected,
// then waits for the system to settle and checks that money moved exactly
// once. A failure names the seed; `make chaos SEED=N` replays its plan
// (the same customers' choices and the same faults at the same moments;
// the exact interleaving of real processes cannot be replayed).
func TestChaos(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) % 1_000_000_000
	}
	for i := range *chaosRuns {
		s := seed + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) { runChaos(t, s) })
	}
}

type forgeTarget struct {
	paymentKey, orderID string
	amount              int64
}

// chaosRun is one seeded run: its cluster, its plan and what it observed.
type chaosRun struct {
	t    *testing.T
	seed uint64
	c    *cluster
	http *http.Client

	admin    string
	products []string
	userIDs  map[string]string

	killAfterCommit chan struct{} // tokens: the next card payment is killed after commit
	restarts        sync.WaitGroup

	mu        sync.Mutex
	keys      []keyRecord
	actions   map[string]int
	faults    map[string]int
	forgeable []forgeTarget
	armed     map[string]int // PG fault rules armed, by fault kind, in requests
}

func runChaos(t *testing.T, seed uint64) {
	dir := filepath.Join("..", "..", "testout", "chaos", fmt.Sprintf("seed-%d", seed))
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	c := startCluster(t, dir, chaosInstances, map[string]string{
		"PAGO_LOG_LEVEL":               "info",
		"PAGO_PG_TIMEOUT":              "2s",
		"PAGO_CONFIRM_TIMEOUT":         chaosConfirmTimeout.String(),
		"PAGO_PROBE_DELAY":             "500ms",
		"PAGO_PROBE_MAX_DELAY":         "2s",
		"PAGO_PG_BREAKER_FAILURES":     "5",
		"PAGO_PG_BREAKER_OPEN_TIMEOUT": "1s",
		"PAGO_IDEMPOTENCY_LEASE":       "3s",
		"PAGO_LOCK_EXPIRY":             "2s",
		"PAGO_LOCK_WAIT":               "2s",
		"PAGO_ORDER_TTL":               "20s",
		"PAGO_SHUTDOWN_TIMEOUT":        "5s",
	})
	r := &chaosRun{t: t, seed: seed, c: c,
		http:            &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		userIDs:         map[string]string{},
		killAfterCommit: make(chan struct{}, 16),
		actions:         map[string]int{}, faults: map[string]int{}, armed: map[string]int{},
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("chaos seed %d: %s\nlogs: %s; replay: make chaos SEED=%d", seed, fmt.Sprintf(format, args...), dir, seed)
	}
	if err := r.sandboxAdmin(http.MethodPost, "/_sandbox/config", map[string]any{"slowCardDelay": chaosSlowCardDelay.String()}); err != nil {
		fail("configure the sandbox: %v", err)
	}
	if err := r.setUp(*chaosShoppers); err != nil {
		fail("set up: %v", err)
	}
	setupDone := time.Now()

	// Shop and inject faults.
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	plan := planFaults(rng, *chaosDuration, *chaosFaults)
	stop := make(chan struct{})
	var shoppers sync.WaitGroup
	for i := range *chaosShoppers {
		name := fmt.Sprintf("shopper%d", i)
		s := &shopper{run: r, name: name, token: r.token(name, false), rng: rand.New(rand.NewPCG(seed, uint64(i+1)))}
		shoppers.Go(func() { s.shop(stop) })
	}
	begin := time.Now()
	for _, f := range plan {
		time.Sleep(time.Until(begin.Add(f.at)))
		r.inject(f.kind, rng)
	}
	time.Sleep(time.Until(begin.Add(*chaosDuration)))
	close(stop)
	shoppers.Wait()
	trafficDone := time.Now()

	// Settle: faults off, everything up, every in-doubt payment resolved.
	step := func(what string) { t.Logf("%s: %s", time.Now().Format("15:04:05.000"), what) }
	step("traffic done")
	r.consumedPGFaults()
	if err := r.sandboxAdmin(http.MethodDelete, "/_sandbox/faults", nil); err != nil {
		fail("clear faults: %v", err)
	}
	r.restarts.Wait()
	step("restarts done")
	c.relay.flush()
	step("relay flushed")
	if !c.redis.running() {
		if err := c.startRedis(); err != nil {
			fail("restart redis: %v", err)
		}
	}
	for _, p := range c.pagos {
		if !p.running() {
			if err := c.startPago(p); err != nil {
				fail("restart %s: %v", p.name, err)
			}
		}
	}
	db, err := sql.Open("pgx", c.dbURL)
	if err != nil {
		fail("open database: %v", err)
	}
	defer db.Close()
	settleStart := time.Now()
	inDoubt, err := waitSettled(db, *chaosSettle)
	if err != nil {
		fail("wait for settle: %v", err)
	}
	settled := time.Since(settleStart)
	c.relay.flush()
	step("settled")

	var violations []string
	if len(inDoubt) > 0 {
		violations = append(violations, fmt.Sprintf("%d payments/orders still IN_DOUBT after %s: %v", len(inDoubt), *chaosSettle, inDoubt))
	}
	violations = append(violations, r.checkAgainstPG(db)...)
	if out, err := c.pagoCmd(context.Background(), "verify"); err != nil {
		violations = append(violations, fmt.Sprintf("pago verify: %v\n%s", err, out))
	}
	step("checked against the PG and verified")
	// The last line of defence runs last: reconciling the run's sold dates
	// must leave nothing for a person (MANUAL) or for investigation
	// (UNKNOWN). An AUTO_FIXED item is a path the state machine should have
	// settled by itself: reported, for a human to look into.
	kst := time.FixedZone("KST", 9*60*60)
	dates := []string{started.In(kst).Format(time.DateOnly)}
	if today := time.Now().In(kst).Format(time.DateOnly); today != dates[0] {
		dates = append(dates, today)
	}
	var reconciled []string
	for _, d := range dates {
		out, err := c.pagoCmd(context.Background(), "reconcile", "--date", d)
		reconciled = append(reconciled, strings.TrimSpace(string(out)))
		if err != nil {
			violations = append(violations, fmt.Sprintf("pago reconcile --date %s: %v\n%s", d, err, out))
		}
	}
	if out, err := c.pagoCmd(context.Background(), "verify"); err != nil {
		violations = append(violations, fmt.Sprintf("pago verify after reconciliation: %v\n%s", err, out))
	}
	t.Log("reconciliation:\n" + strings.Join(reconciled, "\n"))
	step("reconciled")
	replayed, replayViolations := r.checkReplays()
	step("replayed")
	violations = append(violations, replayViolations...)

	report := r.report(db, reportTimes{
		setup: setupDone.Sub(started), traffic: trafficDone.Sub(setupDone), settle: settled, total: time.Since(started),
	}, replayed)
	t.Log("\n" + report)
	_ = os.WriteFile(filepath.Join(dir, "report.txt"), []byte(report), 0o644)
	if len(violations) > 0 {
		fail("%d invariant violations:\n  - %s", len(violations), strings.Join(violations, "\n  - "))
	}
}

// token signs a token every instance accepts.
func (r *chaosRun) token(name string, admin bool) string {
	tok, err := web.NewTokens([]byte(r.c.secret), time.Now).Issue(name, admin, 24*time.Hour)
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// setUp creates the catalogue and learns every shopper's user id.
func (r *chaosRun) setUp(shoppers int) error {
	r.admin = r.token("chaos-operator", true)
	for i, price := range []int64{1000, 2500, 4000, 7000} {
		resp, err := r.call(r.admin, upsertProductM, map[string]any{
			"k": fmt.Sprintf("product-%d", i), "sku": fmt.Sprintf("chaos-%d", i), "p": price, "s": 5000,
		}, false)
		if err != nil || resp.code() != "" {
			return fmt.Errorf("upsert product: %v %+v", err, resp.Errors)
		}
		var out struct {
			UpsertProduct struct{ Product struct{ ID string } }
		}
		_ = json.Unmarshal(resp.Data, &out)
		r.products = append(r.products, out.UpsertProduct.Product.ID)
	}
	for i := range shoppers {
		name := fmt.Sprintf("shopper%d", i)
		resp, err := r.call(r.token(name, false), meQ, nil, false)
		if err != nil || resp.code() != "" {
			return fmt.Errorf("me: %v %+v", err, resp.Errors)
		}
		var out struct{ Me struct{ ID string } }
		_ = json.Unmarshal(resp.Data, &out)
		r.userIDs[name] = out.Me.ID
	}
	return nil
}

type plannedFault struct {
	at   time.Duration
	kind string
}

// planFaults spreads one fault of each kind plus extra random ones over the
// traffic phase from 5% to 95%, so some are still being recovered from when
// shopping stops.
func planFaults(rng *rand.Rand, d time.Duration, extra int) []plannedFault {
	kinds := slices.Clone(faultKinds)
	for range extra {
		kinds = append(kinds, faultKinds[rng.IntN(len(faultKinds))])
	}
	var plan []plannedFault
	for _, k := range kinds {
		at := d/20 + time.Duration(rng.Int64N(int64(d*9/10)))
		plan = append(plan, plannedFault{at: at, kind: k})
	}
	sort.Slice(plan, func(i, j int) bool { return plan[i].at < plan[j].at })
	return plan
}

func (r *chaosRun) count(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[kind]++
}

// inject applies one fault. PG faults are armed for the next requests and
// counted when consumed (consumedPGFaults).
func (r *chaosRun) inject(kind string, rng *rand.Rand) {
	c := r.c
	switch kind {
	case faultKill:
		if live := c.live(); len(live) > 0 {
			r.killAndRestart(live[rng.IntN(len(live))], faultKill)
		}
	case faultPagoBothRestart:
		r.count(kind)
		var wg sync.WaitGroup
		for _, p := range c.live() {
			wg.Go(p.kill)
		}
		wg.Wait()
		r.restartLater(c.pagos...)
	case faultPGWindowLapse:
		// Every payment authenticated and not yet confirmed expires; an
		// in-doubt one whose confirm never reached the PG must end FAILED.
		if err := r.sandboxAdmin(http.MethodPost, "/_sandbox/clock", map[string]any{"advance": "11m"}); err != nil {
			r.t.Errorf("advance the PG's clock: %v", err)
		} else {
			r.count(kind)
		}
	case faultPagoDeploy:
		if live := c.live(); len(live) > 0 {
			p := live[rng.IntN(len(live))]
			r.count(kind)
			r.restarts.Go(func() {
				p.stop() // in-flight requests finish; new ones go to the other instance
				r.restartLater(p)
			})
		}
	case faultKillAfterCommit:
		r.killAfterCommit <- struct{}{}
	case faultPGLatency:
		r.arm(kind, sandbox.Fault{Op: sandbox.OpConfirm, Kind: sandbox.Latency, Latency: chaosConfirmTimeout + time.Second, Times: 1})
	case faultPG5xx:
		r.arm(kind, sandbox.Fault{Op: sandbox.OpConfirm, Kind: sandbox.HTTPError, StatusCode: 500, Times: 2})
	case faultPGProviderError:
		r.arm(kind, sandbox.Fault{Op: sandbox.OpConfirm, Kind: sandbox.HTTPError, Code: "PROVIDER_ERROR", Times: 2})
	case faultPGCommitDrop:
		r.arm(kind, sandbox.Fault{Op: sandbox.OpConfirm, Kind: sandbox.CommitThenDrop, Times: 1})
	case faultPGConnReset:
		r.arm(kind, sandbox.Fault{Op: sandbox.OpConfirm, Kind: sandbox.ConnReset, Times: 1})
	case faultPGLookup5xx:
		r.arm(kind, sandbox.Fault{Op: sandbox.OpGet, Kind: sandbox.HTTPError, StatusCode: 503, Times: 3})
	case faultSandboxDup:
		r.arm(kind, sandbox.Fault{Kind: sandbox.WebhookDuplicate, Times: 2})
	case faultSandboxDelay:
		r.arm(kind, sandbox.Fault{Kind: sandbox.WebhookDelay, Latency: 2 * time.Second, Times: 2})
	case faultWebhookDup, faultWebhookDelay, faultWebhookReorder:
		c.relay.disturb(kind, 2)
		r.mu.Lock()
		r.faults[kind] += 2
		r.mu.Unlock()
	case faultWebhookForged:
		r.mu.Lock()
		targets := slices.Clone(r.forgeable)
		r.mu.Unlock()
		if len(targets) > 0 {
			f := targets[rng.IntN(len(targets))]
			c.relay.forge(f.paymentKey, f.orderID, f.amount)
			r.count(kind)
		}
	case faultRedisRestart:
		r.count(kind)
		c.redis.kill()
		down := time.Duration(300+rng.IntN(int(chaosRedisDownMax/time.Millisecond))) * time.Millisecond
		r.restarts.Go(func() {
			time.Sleep(down)
			if err := c.startRedis(); err != nil {
				r.t.Errorf("restart redis: %v", err)
			}
		})
	case faultPostgresDrop:
		if n, err := c.dropPostgresConnections(context.Background()); err != nil {
			r.t.Errorf("drop PostgreSQL connections: %v", err)
		} else if n > 0 {
			r.count(kind)
		}
	default:
		panic("unknown fault " + kind)
	}
}

// killAndRestart kill -9s p and starts it again a moment later.
func (r *chaosRun) killAndRestart(p *instance, kind string) {
	p.kill()
	r.count(kind)
	r.restartLater(p)
}

// restartLater restarts ps after a pause, retrying while a start fails
// (Redis or PostgreSQL may be down at that moment).
func (r *chaosRun) restartLater(ps ...*instance) {
	for _, p := range ps {
		r.restarts.Go(func() {
			time.Sleep(time.Duration(300+rand.IntN(int(chaosPagoRestartDelay/time.Millisecond))) * time.Millisecond)
			var err error
			for range 10 {
				if p.running() {
					return
				}
				if err = r.c.startPago(p); err == nil {
					return
				}
				time.Sleep(time.Second)
			}
			r.t.Errorf("restart %s: %v", p.name, err)
		})
	}
}

func (r *chaosRun) takeKillAfterCommit() bool {
	select {
	case <-r.killAfterCommit:
		return true
	default:
		return false
	}
}

func (r *chaosRun) addForgeTarget(f forgeTarget) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgeable = append(r.forgeable, f)
}

// arm adds a sandbox fault rule.
func (r *chaosRun) arm(kind string, f sandbox.Fault) {
	if err := r.sandboxAdmin(http.MethodPost, "/_sandbox/faults", f); err != nil {
		r.t.Errorf("arm %s: %v", kind, err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.armed[kind] += f.Times
}

// consumedPGFaults counts the armed sandbox faults that hit a request:
// armed minus what is left of the rules.
func (r *chaosRun) consumedPGFaults() {
	var left []sandbox.Fault
	if err := r.sandboxGet("/_sandbox/faults", &left); err != nil {
		r.t.Errorf("list faults: %v", err)
		return
	}
	remaining := map[string]int{}
	for _, f := range left {
		remaining[faultKindOf(f)] += f.Times
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for kind, n := range r.armed {
		if hit := n - remaining[kind]; hit > 0 {
			r.faults[kind] += hit
		}
	}
}

// faultKindOf names a sandbox rule as inject armed it.
func faultKindOf(f sandbox.Fault) string {
	switch {
	case f.Kind == sandbox.Latency:
		return faultPGLatency
	case f.Kind == sandbox.HTTPError && f.Op == sandbox.OpGet:
		return faultPGLookup5xx
	case f.Kind == sandbox.HTTPError && f.Code == "PROVIDER_ERROR":
		return faultPGProviderError
	case f.Kind == sandbox.HTTPError:
		return faultPG5xx
	case f.Kind == sandbox.CommitThenDrop:
		return faultPGCommitDrop
	case f.Kind == sandbox.ConnReset:
		return faultPGConnReset
	case f.Kind == sandbox.WebhookDuplicate:
		return faultSandboxDup
	case f.Kind == sandbox.WebhookDelay:
		return faultSandboxDelay
	}
	return string(f.Kind)
}

// waitForConfirm polls the PG's record until it has executed a confirm for
// orderID.
func (r *chaosRun) waitForConfirm(orderID string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var rec []sandbox.RecordEntry
		if err := r.sandboxGet("/_sandbox/record?orderId="+orderID, &rec); err == nil && len(rec) > 0 {
			return true
		}
	}
	return false
}

func (r *chaosRun) sandboxAdmin(method, path string, body any) error {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, r.c.sandboxURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	return nil
}

// sandboxGet GETs path from the sandbox (admin or REST API) into v.
func (r *chaosRun) sandboxGet(path string, v any) error {
	req, err := http.NewRequest(http.MethodGet, r.c.sandboxURL+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(sandbox.DefaultSecretKey, "")
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
