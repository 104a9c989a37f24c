package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pago/pago/pg/sandbox"
	"github.com/pago/pago/web"
)

// confirmFlags are the knobs of `pago bench confirm`.
type confirmFlags struct {
	base, pg   string // pago and the standalone PG sandbox, loopback only
	confirms   int
	latency    time.Duration // the sandbox's answer time for each confirm
	duration   time.Duration // bounds setup and the timed phase
	pid        int           // pago's process, for its peak RSS; 0 skips it
	reportOnly bool
}

// The targets of issue 13 for 1,000 card confirms against a PG answering
// each in 1 s: all done within 1.5 s (1.5 × the PG's latency), pago's RSS
// within 300 MB.
const (
	confirmWallRatio = 1.5
	confirmRSSTarget = 300 << 20
)

const benchConfirmQ = `mutation($k: String!, $o: ID!, $pk: String!, $a: Money!) { confirmPayment(input: {idempotencyKey: $k, orderId: $o, paymentKey: $pk, amount: $a}) { order { status } } }`

// benchConfirmCmd runs `pago bench confirm`: confirms card payments all at
// once against the standalone sandbox, which answers each after --latency;
// the wall time against that latency says how much pago adds, and whether it
// waits for the PG in parallel rather than in line.
func benchConfirmCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench confirm", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f confirmFlags
	fs.StringVar(&f.base, "url", "http://127.0.0.1:8080", "the running server (loopback only)")
	fs.StringVar(&f.pg, "pg", "http://127.0.0.1:8090", "the standalone PG sandbox pago uses (loopback only)")
	fs.IntVar(&f.confirms, "confirms", 1000, "card payments confirmed at once")
	fs.DurationVar(&f.latency, "latency", time.Second, "the sandbox's latency for every confirm")
	fs.DurationVar(&f.duration, "duration", 60*time.Second, "longest time per phase")
	fs.IntVar(&f.pid, "pid", 0, "pago's process id, to read its peak RSS (0: not measured)")
	fs.BoolVar(&f.reportOnly, "report-only", false, "print the targets' verdicts but exit 0 when one is missed")
	if err := fs.Parse(args); err != nil {
		return usageError{"pago bench confirm: " + err.Error() + "\n" + benchUsage}
	}
	if fs.NArg() > 0 || f.confirms < 1 || f.latency < 0 || f.duration <= 0 {
		return usageError{"pago bench confirm: --confirms and --duration must be positive, and it takes no arguments\n" + benchUsage}
	}
	var err error
	if f.base, err = loopbackURL(f.base); err != nil {
		return err
	}
	if f.pg, err = loopbackURL(f.pg); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if err := cfg.ensureDevJWTSecret(); err != nil {
		return err
	}
	b := &bench{
		f:      benchFlags{base: f.base, clients: f.confirms, ops: f.confirms, duration: f.duration},
		run:    randomHex(4),
		tokens: web.NewTokens([]byte(cfg.JWTSecret), time.Now),
		http: &http.Client{
			Transport:     &http.Transport{Proxy: nil, MaxIdleConns: 2 * f.confirms, MaxIdleConnsPerHost: 2 * f.confirms},
			Timeout:       f.duration,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	return b.confirm(ctx, f, stdout)
}

func (b *bench) confirm(ctx context.Context, f confirmFlags, stdout io.Writer) error {
	fmt.Fprintf(stdout, "pago bench confirm: url=%s pg=%s confirms=%d latency=%s run=%s\n", f.base, f.pg, f.confirms, f.latency, b.run)
	admin, err := b.tokens.Issue("bench-"+b.run+"-ops", true, time.Hour)
	if err != nil {
		return err
	}
	setupCtx, cancel := context.WithTimeout(ctx, setupBound(f.duration))
	defer cancel()
	var product struct {
		UpsertProduct struct{ Product struct{ ID string } }
	}
	if err := b.gqlOK(setupCtx, admin, benchProductQ, map[string]any{
		"k": "bench-card-product-" + b.run, "sku": "bench-card-" + b.run, "p": 1_000, "s": 10_000_000,
	}, &product); err != nil {
		return fmt.Errorf("setup product: %w", err)
	}
	// 32 customers, each with its share of the orders, each order
	// authenticated at the sandbox as the payment window would.
	const customers = 32
	type card struct{ token, order, paymentKey string }
	cards := make([]card, f.confirms)
	tokens := make([]string, customers)
	for i := range tokens {
		if tokens[i], err = b.tokens.Issue(fmt.Sprintf("bench-%s-card-%d", b.run, i), false, time.Hour); err != nil {
			return err
		}
	}
	err = b.parallel(setupCtx, f.confirms, func(i int) error {
		tok := tokens[i%customers]
		var out struct {
			CreateOrder struct{ Order struct{ ID string } }
		}
		if err := b.gqlOK(setupCtx, tok, benchOrderQ, map[string]any{"k": fmt.Sprintf("bench-card-order-%d", i), "p": product.UpsertProduct.Product.ID}, &out); err != nil {
			return fmt.Errorf("create order: %w", err)
		}
		var auth struct{ PaymentKey string }
		if err := b.sandboxPost(setupCtx, f.pg+"/_sandbox/authenticate", map[string]any{
			"orderId": out.CreateOrder.Order.ID, "orderName": "bench", "amount": 1_000, "card": sandbox.CardSuccess,
		}, &auth); err != nil {
			return fmt.Errorf("authenticate at the sandbox: %w", err)
		}
		cards[i] = card{token: tok, order: out.CreateOrder.Order.ID, paymentKey: auth.PaymentKey}
		return nil
	})
	if err != nil {
		return setupErr(setupCtx, err)
	}
	if err := b.sandboxPost(setupCtx, f.pg+"/_sandbox/faults", map[string]any{"op": "confirm", "kind": "Latency", "latency": f.latency.String()}, nil); err != nil {
		return fmt.Errorf("set the sandbox's latency: %w", err)
	}
	defer func() {
		req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodDelete, f.pg+"/_sandbox/faults", nil)
		if resp, err := b.http.Do(req); err == nil {
			resp.Body.Close()
		}
	}()

	paid := 0
	var mu sync.Mutex
	cpu0 := readCPU(f.pid)
	res, err := b.drive(ctx, "confirm", func(i int) (string, string) {
		c := cards[i]
		var out struct {
			ConfirmPayment struct{ Order struct{ Status string } }
		}
		code, msg, err := b.gql(ctx, c.token, benchConfirmQ, map[string]any{"k": "bench-confirm-" + c.order, "o": c.order, "pk": c.paymentKey, "a": 1_000}, &out)
		switch {
		case err != nil:
			return "TRANSPORT", err.Error()
		case code != "":
			return code, msg
		case out.ConfirmPayment.Order.Status != "PAID":
			return "NOT_PAID", "order " + out.ConfirmPayment.Order.Status
		}
		mu.Lock()
		paid++
		mu.Unlock()
		return "", ""
	})
	if err != nil {
		return err
	}
	wall := res.elapsed
	fmt.Fprintf(stdout, "confirms %d, PAID %d, wall %s, p50 %s, p99 %s, errors %s\n", f.confirms, paid,
		wall.Round(time.Millisecond), fmtLatency(percentile(res.lat, 50)), fmtLatency(percentile(res.lat, 99)), fmtErrs(res.errs))
	if res.firstErr != "" {
		fmt.Fprintf(stdout, "first error: %s\n", res.firstErr)
	}
	// Whether the wall is the machine's limit (CPU busy throughout) or a
	// chain of waits (CPU to spare).
	if cpu := readCPU(f.pid).since(cpu0); cpu.machine > 0 {
		pago := ""
		if f.pid > 0 {
			pago = fmt.Sprintf("pago %.2f s, ", cpu.process.Seconds())
		}
		fmt.Fprintf(stdout, "CPU while timed: %sthe whole machine %.2f of %.2f s (%d cores, %.0f%% busy)\n",
			pago, cpu.busy.Seconds(), cpu.machine.Seconds(), runtime.NumCPU(), 100*cpu.busy.Seconds()/cpu.machine.Seconds())
	}
	ratio := 0.0
	if f.latency > 0 {
		ratio = float64(wall) / float64(f.latency)
		fmt.Fprintf(stdout, "wall / PG latency = %.2f (the PG answers each confirm in %s)\n", ratio, f.latency)
	}
	var missed []string
	verdict := func(ok bool, what string) string {
		if ok {
			return "ok"
		}
		missed = append(missed, what)
		return "BELOW TARGET"
	}
	fmt.Fprintln(stdout, "targets (1,000 confirms, PG latency 1 s):")
	if f.latency > 0 {
		fmt.Fprintf(stdout, "  wall / PG latency %.2f (target ≤ %.2f) %s\n", ratio, confirmWallRatio, verdict(ratio <= confirmWallRatio, "wall"))
	}
	fmt.Fprintf(stdout, "  PAID %d of %d %s\n", paid, f.confirms, verdict(paid == f.confirms, "not all PAID"))
	if f.pid > 0 {
		rss, err := peakRSS(f.pid)
		if err != nil {
			fmt.Fprintf(stdout, "  peak RSS of pago: not measured (%v)\n", err)
		} else {
			fmt.Fprintf(stdout, "  peak RSS of pago %d MB (target ≤ %d MB) %s\n", rss>>20, confirmRSSTarget>>20, verdict(rss <= confirmRSSTarget, "RSS"))
		}
	}
	if len(missed) > 0 && !f.reportOnly {
		return fmt.Errorf("bench confirm: below target: %s (--report-only reports without failing)", strings.Join(missed, ", "))
	}
	return nil
}

// sandboxPost calls the sandbox's admin API.
func (b *bench) sandboxPost(ctx context.Context, url string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// cpuTimes are CPU times read from /proc (Linux): a process's (user +
// system) and the whole machine's, busy and in all.
type cpuTimes struct{ process, busy, machine time.Duration }

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// readCPU reads pid's CPU time (none when pid is 0) and the machine's;
// zero where /proc cannot be read.
func readCPU(pid int) cpuTimes {
	var c cpuTimes
	if pid > 0 {
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			c.process = processCPU(data)
		}
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		c.busy, c.machine = machineCPU(data)
	}
	return c
}

// processCPU is the user + system time in a /proc/<pid>/stat: its 14th
// and 15th fields, counted after the command name, which ends at the last
// ')' and may hold spaces and parentheses.
func processCPU(stat []byte) time.Duration {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:])) // from the 3rd field, state
	if len(f) < 13 {
		return 0
	}
	user, _ := strconv.ParseInt(f[11], 10, 64)
	system, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(user+system) * clockTick
}

// machineCPU is the busy and the whole time of all CPUs in /proc/stat's
// first line (cpu user nice system idle iowait irq softirq steal …):
// idle and iowait are not busy.
func machineCPU(stat []byte) (busy, all time.Duration) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:9] {
		n, _ := strconv.ParseInt(v, 10, 64)
		all += time.Duration(n) * clockTick
		if i != 3 && i != 4 {
			busy += time.Duration(n) * clockTick
		}
	}
	return busy, all
}

// since is c less an earlier reading.
func (c cpuTimes) since(before cpuTimes) cpuTimes {
	return cpuTimes{c.process - before.process, c.busy - before.busy, c.machine - before.machine}
}

// peakRSS reads a process's peak resident set (VmHWM) from /proc (Linux).
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
