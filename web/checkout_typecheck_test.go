package web

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The npm packages the type check installs, pinned: the official browser
// SDK's types are the contract checkout.js is written against.
const (
	tossSDKPackage    = "@tosspayments/tosspayments-sdk@2.8.1"
	typescriptPackage = "typescript@5.9.3"
)

// TestCheckoutJSTypeChecks runs `tsc --checkJs` (strict) over
// web/static/checkout.js against the official SDK's types, over the
// sandbox's SDK (pg/sandbox/static/sdk.js, whose JSDoc declares it returns
// the official TossPaymentsSDK, so a sandbox-only or missing method fails),
// and over a deliberately wrong fixture that must fail, proving the check
// can fail.
// The packages are installed into a cache directory outside the
// repository. Without node/npm or the registry the test skips, unless CI
// is set: there it must run.
func TestCheckoutJSTypeChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("installs npm packages")
	}
	tsc := installTSC(t)

	// One compiler run over all files (it takes seconds): checkout.js and
	// sdk.js must have no error, the wrong fixture each of its three.
	out, err := runTSC(t, tsc, "static/checkout.js", "../pg/sandbox/static/sdk.js", "testdata/tsc/wrong.js")
	require.Error(t, err, "the wrong fixture must fail the check:\n%s", out)
	for _, line := range strings.Split(out, "\n") {
		require.NotContains(t, line, "checkout.js", "checkout.js does not type-check against %s:\n%s", tossSDKPackage, out)
		require.NotContains(t, line, "sdk.js", "the sandbox's SDK differs from %s:\n%s", tossSDKPackage, out)
	}
	for _, want := range []string{
		"wrong.js(8,", "Property 'currency' is missing",
		"wrong.js(10,", "Type 'number' is not assignable to type 'string'",
		"wrong.js(12,", "Property 'updateAmount' does not exist on type 'TossPaymentsWidgets'",
	} {
		require.Contains(t, out, want)
	}
}

// runTSC type-checks JavaScript files (relative to the package) together
// with the SDK global's declaration, under a tsconfig written to a
// temporary directory. skipLibCheck skips checking the SDK's own .d.ts, not
// our use of it.
func runTSC(t *testing.T, tsc tscInstall, files ...string) (string, error) {
	t.Helper()
	all := []string{}
	for _, f := range append([]string{"testdata/tsc/globals.d.ts"}, files...) {
		abs, err := filepath.Abs(f)
		require.NoError(t, err)
		all = append(all, abs)
	}
	cfg := map[string]any{
		"compilerOptions": map[string]any{
			"allowJs": true, "checkJs": true, "noEmit": true, "strict": true, "skipLibCheck": true,
			"target": "ES2017", "lib": []string{"ES2017", "DOM"},
			"module": "ESNext", "moduleResolution": "Bundler",
			"types": []string{}, "typeRoots": []string{},
			"paths": map[string][]string{
				"@tosspayments/tosspayments-sdk": {filepath.Join(tsc.modules, "@tosspayments/tosspayments-sdk/types/index.d.ts")},
			},
		},
		"files": all,
	}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tsconfig.json"), b, 0o644))
	cmd := exec.Command(tsc.node, tsc.bin, "-p", filepath.Join(dir, "tsconfig.json"), "--pretty", "false")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type tscInstall struct{ node, bin, modules string }

// installTSC installs the pinned packages once per version pair into
// $PAGO_NPM_CACHE (default: the user cache directory), atomically: a
// half-finished install is never used.
func installTSC(t *testing.T) tscInstall {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("CI runs the checkout.js type check: "+format, args...)
		}
		t.Skipf("checkout.js type check skipped: "+format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node not found (apt-get install nodejs npm)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable("npm not found (apt-get install npm)")
	}
	root := os.Getenv("PAGO_NPM_CACHE")
	if root == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		root = filepath.Join(base, "pago", "npm")
	}
	name := strings.NewReplacer("@", "", "/", "_").Replace(tossSDKPackage + "+" + typescriptPackage)
	dir := filepath.Join(root, name)
	inst := tscInstall{node: node, modules: filepath.Join(dir, "node_modules"),
		bin: filepath.Join(dir, "node_modules", "typescript", "bin", "tsc")}
	if _, err := os.Stat(inst.bin); err == nil {
		return inst
	}
	require.NoError(t, os.MkdirAll(root, 0o755))
	tmp, err := os.MkdirTemp(root, name+".installing-")
	require.NoError(t, err)
	defer os.RemoveAll(tmp)
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock",
		"--prefix", tmp, tossSDKPackage, typescriptPackage)
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		err = errors.New("npm install took longer than 5 minutes")
	}
	if err != nil {
		unavailable("npm install %s %s failed (registry unreachable?): %v\n%s", tossSDKPackage, typescriptPackage, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another test process finished first; use its install.
		if _, serr := os.Stat(inst.bin); serr != nil {
			require.NoError(t, err)
		}
	}
	return inst
}
