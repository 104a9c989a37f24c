package playground

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func newServer(t *testing.T, nonce func(*http.Request) string) *httptest.Server {
	t.Helper()
	h := Handler("pago <GraphQL>", "/graphql", nonce)
	mux := http.NewServeMux()
	mux.Handle("GET /playground", h)
	mux.Handle("GET /playground/assets/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var cdnRE = regexp.MustCompile(`//[a-z0-9.-]*(unpkg\.com|jsdelivr\.net|esm\.sh|cdnjs\.|googleapis\.com|gstatic\.com|skypack\.dev)`)

var srcRE = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

func TestPage(t *testing.T) {
	srv := newServer(t, nil)
	resp, body := get(t, srv.URL+"/playground")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	for _, f := range append(append([]string{}, stylesheets...), scripts...) {
		want := `"playground/assets/` + assetNames[f] + `"`
		if !strings.Contains(body, want) {
			t.Errorf("page does not reference %s", want)
		}
	}
	for _, want := range []string{
		"<title>pago &lt;GraphQL&gt;</title>",
		`data-endpoint="/graphql"`,
		"Bearer &lt;token from: pago token --user alice&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page does not contain %s", want)
		}
	}
	// Nothing may come from another host: no absolute or
	// protocol-relative URLs at all, and no inline script or style.
	for _, bad := range []string{"http://", "https://", "//", "<style", "style=", "nonce="} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q:\n%s", bad, body)
		}
	}
	if n := strings.Count(body, "<script"); n != strings.Count(body, "<script src=") {
		t.Errorf("page has inline <script> blocks:\n%s", body)
	}
	// Every referenced URL resolves (relative to the page) to an asset that
	// is served.
	for _, m := range srcRE.FindAllStringSubmatch(body, -1) {
		u := m[1]
		if strings.HasPrefix(u, "data:") {
			continue
		}
		resp, b := get(t, srv.URL+"/"+u)
		if resp.StatusCode != http.StatusOK || b == "" {
			t.Errorf("GET %s: status %d, %d bytes", u, resp.StatusCode, len(b))
		}
	}
}

func TestPageTrailingSlashAndStripPrefix(t *testing.T) {
	h := Handler("pago", "", nil)
	mux := http.NewServeMux()
	mux.Handle("/pg/", http.StripPrefix("/pg", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	_, body := get(t, srv.URL+"/pg/")
	init := "assets/" + assetNames["init.js"]
	if !strings.Contains(body, `src="`+init+`"`) {
		t.Fatalf("page at /pg/ does not reference %s:\n%s", init, body)
	}
	if !strings.Contains(body, `data-endpoint="/graphql"`) {
		t.Errorf("empty endpoint does not default to /graphql")
	}
	if resp, _ := get(t, srv.URL+"/pg/"+init); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /pg/%s: status %d", init, resp.StatusCode)
	}
}

func TestNonce(t *testing.T) {
	srv := newServer(t, func(*http.Request) string { return "abc123" })
	_, body := get(t, srv.URL+"/playground")
	want := len(stylesheets) + len(scripts)
	if n := strings.Count(body, `nonce="abc123"`); n != want {
		t.Errorf("found %d nonce attributes, want %d:\n%s", n, want, body)
	}
}

func TestAssets(t *testing.T) {
	srv := newServer(t, nil)
	if len(assets) != len(stylesheets)+len(scripts) {
		t.Errorf("%d embedded assets, but the page uses %d: unused files in assets/?",
			len(assets), len(stylesheets)+len(scripts))
	}
	for name, a := range assets {
		resp, body := get(t, srv.URL+"/playground/assets/"+name)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", name, resp.StatusCode)
			continue
		}
		wantCT := "text/javascript; charset=utf-8"
		if strings.HasSuffix(name, ".css") {
			wantCT = "text/css; charset=utf-8"
		}
		if ct := resp.Header.Get("Content-Type"); ct != wantCT {
			t.Errorf("%s: Content-Type = %q, want %q", name, ct, wantCT)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("%s: Cache-Control = %q, want long max-age", name, cc)
		}
		if len(body) == 0 || body != string(a.body) {
			t.Errorf("%s: body is %d bytes, want %d", name, len(body), len(a.body))
		}
		if strings.Contains(body, "sourceMappingURL=") {
			t.Errorf("%s: references a source map that is not shipped", name)
		}
		// Runtime loads from a CDN would break the offline playground.
		// (GraphiQL mentions "jsdelivr" in an error message, so look
		// for URLs, not names.)
		if m := cdnRE.FindString(body); m != "" {
			t.Errorf("%s: references CDN URL %s", name, m)
		}
	}

	// Conditional request.
	name := assetNames["init.js"]
	req, _ := http.NewRequest("GET", srv.URL+"/playground/assets/"+name, nil)
	req.Header.Set("If-None-Match", assets[name].etag)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
	}
}

func TestAssetNamesAreVersioned(t *testing.T) {
	for file, name := range assetNames {
		if name == file && !strings.Contains(name, GraphiQLVersion) && !strings.Contains(name, ReactVersion) {
			t.Errorf("asset %s has neither a version nor a content hash in its URL name", file)
		}
	}
	if n := assetNames["init.js"]; !regexp.MustCompile(`^init\.[0-9a-f]{8}\.js$`).MatchString(n) {
		t.Errorf("init.js is served as %q, want init.<hash>.js", n)
	}
}

func TestUnknownAsset(t *testing.T) {
	srv := newServer(t, nil)
	for _, p := range []string{
		"/playground/assets/nope.js",
		"/playground/assets/init.js", // unhashed name is not served
		"/playground/assets/",
		"/playground/assets/../playground.go",
	} {
		if resp, _ := get(t, srv.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler("pago", "/graphql", nil).ServeHTTP(rec, httptest.NewRequest("POST", "/playground", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
}
