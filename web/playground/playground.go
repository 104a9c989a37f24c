// Package playground owns pago's self-hosted GraphQL playground: a GraphiQL
// page and the JavaScript/CSS it needs, embedded in the binary so the
// playground works without internet access (gqlgen's playground.Handler loads
// GraphiQL from a CDN, which pago must not depend on).
//
// It owns:
//   - the HTML page (no inline script or style, only same-origin URLs),
//   - the vendored GraphiQL, React and ReactDOM UMD bundles in assets/
//     (pinned versions, refreshed with update-assets.sh, licenses in
//     licenses/),
//   - assets/init.js, which creates the GraphiQL fetcher (HTTP POST for
//     queries and mutations, graphql-ws on the same path for subscriptions)
//     and renders the UI.
//
// It does not own the GraphQL endpoint, authentication or the Content
// Security Policy header; those belong to the server that mounts it.
//
// # Mounting
//
// Handler serves the page at the path it is mounted on and the assets under
// "assets/" below that path; the page refers to them with relative URLs.
// Mount it on the page path and on its assets subtree:
//
//	h := playground.Handler("pago", "/graphql", nil)
//	mux.Handle("GET /playground", h)
//	mux.Handle("GET /playground/assets/", h)
//
// # Subscriptions and authentication
//
// init.js creates the fetcher with GraphiQL.createFetcher: queries and
// mutations are POSTed to the endpoint, subscriptions use the graphql-ws
// client bundled in graphiql.min.js (protocol graphql-transport-ws) on the
// same path, as a same-origin ws:// or wss:// URL. The headers editor is
// prefilled with DefaultHeaders; its headers go on every POST and, for
// subscriptions, as the connection_init payload, so the server's websocket
// init function must read "Authorization" from that payload. While the
// Authorization value is still the "<...>" placeholder it is not sent at all.
// Headers are not persisted in localStorage.
//
// # Content Security Policy
//
// The page has no inline script, no inline style and loads nothing from other
// origins; GraphiQL needs neither 'unsafe-eval' nor 'unsafe-inline' scripts.
// It works under
//
//	default-src 'self'; script-src 'self'; style-src 'self';
//	font-src 'self' data:; img-src 'self' data:; connect-src 'self';
//	object-src 'none'; base-uri 'none'; frame-ancestors 'none'
//
// font-src data: is required (graphiql.min.css inlines its Roboto and Fira
// Code fonts as data: URLs). connect-src 'self' covers both the POSTs and the
// same-origin websocket. Style attributes set from JavaScript (React, CodeMirror)
// are not subject to CSP. The one thing such a policy blocks is a small
// <style> element GraphiQL injects while a dialog is open (it hides the page
// scroll bar; cosmetic, logged as a CSP violation). To avoid it, either add
// 'unsafe-inline' to style-src or send a nonce-based policy and pass the
// nonce to Handler: the nonce is put on the page's <link> and <script> tags
// and init.js hands it to GraphiQL (as __webpack_nonce__) for that <style>
// element. A strict policy like
//
//	script-src 'nonce-N' 'strict-dynamic'; style-src 'self' 'nonce-N'
//
// then produces no violations at all.
package playground

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Pinned versions of the vendored assets; they are part of the asset file
// names. Keep in sync with update-assets.sh.
const (
	GraphiQLVersion = "3.9.0"
	ReactVersion    = "18.3.1"
)

// DefaultHeaders is the initial content of GraphiQL's headers editor. The
// placeholder Authorization value is not sent (init.js drops Authorization
// headers that still contain "<...>").
const DefaultHeaders = `{"Authorization": "Bearer <token from: pago token --user alice>"}`

//go:embed assets
var assetFS embed.FS

// Asset file names inside assets/, in page load order.
var (
	stylesheets = []string{
		"graphiql-" + GraphiQLVersion + ".min.css",
		"playground.css",
	}
	scripts = []string{
		"react-" + ReactVersion + ".production.min.js",
		"react-dom-" + ReactVersion + ".production.min.js",
		"graphiql-" + GraphiQLVersion + ".min.js",
		"init.js",
	}
)

// ownFiles are pago's own assets. Their names carry no version, so they are
// served under a name with a content hash instead; the vendored files have
// the package version in their names already.
var ownFiles = map[string]bool{"init.js": true, "playground.css": true}

// asset is one embedded file, addressed by a URL name that changes whenever
// its content changes, so it can be cached forever.
type asset struct {
	name        string // URL name, e.g. "init.3f2a9c1d.js"
	contentType string
	etag        string
	body        []byte
}

var (
	assets     = map[string]*asset{} // by URL name
	assetNames = map[string]string{} // file name -> URL name
)

func init() {
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		file := e.Name()
		body, err := assetFS.ReadFile("assets/" + file)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])
		ext := path.Ext(file)
		name := file
		if ownFiles[file] {
			name = strings.TrimSuffix(file, ext) + "." + hash[:8] + ext
		}
		ct := mime.TypeByExtension(ext)
		switch ext { // do not depend on the host's mime tables
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		a := &asset{name: name, contentType: ct, etag: `"` + hash[:32] + `"`, body: body}
		assets[name] = a
		assetNames[file] = name
	}
	for _, f := range append(append([]string{}, stylesheets...), scripts...) {
		if _, ok := assetNames[f]; !ok {
			panic("playground: missing embedded asset assets/" + f + " (run update-assets.sh)")
		}
	}
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
{{- range .Stylesheets}}
<link rel="stylesheet" href="{{.}}"{{if $.Nonce}} nonce="{{$.Nonce}}"{{end}}>
{{- end}}
</head>
<body>
<div id="graphiql" data-endpoint="{{.Endpoint}}" data-default-headers="{{.DefaultHeaders}}">Loading GraphiQL…</div>
<noscript>The GraphQL playground needs JavaScript.</noscript>
{{- range .Scripts}}
<script src="{{.}}"{{if $.Nonce}} nonce="{{$.Nonce}}"{{end}}></script>
{{- end}}
</body>
</html>
`))

type pageData struct {
	Title          string
	Endpoint       string
	DefaultHeaders string
	Nonce          string
	Stylesheets    []string
	Scripts        []string
}

// Handler returns the playground handler. It serves the GraphiQL page, titled
// title and talking to endpoint (normally the same-origin "/graphql", used for
// POST queries/mutations and graphql-ws subscriptions), for every request
// except those for "<anything>/assets/<file>", which get the embedded asset
// <file> (404 if unknown). See the package doc for how to mount it.
//
// nonce, if non-nil, is called per page request and its result is put in a
// nonce attribute on the page's <script> and <link> tags, for servers that
// send a nonce-based CSP. It may be nil.
func Handler(title, endpoint string, nonce func(*http.Request) string) http.Handler {
	if endpoint == "" {
		endpoint = "/graphql"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		if dir, file := path.Split(r.URL.Path); path.Base(dir) == "assets" {
			serveAsset(w, r, file)
			return
		}
		d := pageData{
			Title:          title,
			Endpoint:       endpoint,
			DefaultHeaders: DefaultHeaders,
		}
		if nonce != nil {
			d.Nonce = nonce(r)
		}
		prefix := assetPrefix(r)
		for _, f := range stylesheets {
			d.Stylesheets = append(d.Stylesheets, prefix+assetNames[f])
		}
		for _, f := range scripts {
			d.Scripts = append(d.Scripts, prefix+assetNames[f])
		}
		var buf bytes.Buffer
		if err := page.Execute(&buf, d); err != nil {
			http.Error(w, "playground: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(buf.Bytes())
		}
	})
}

// assetPrefix returns the relative URL prefix of the assets as seen from the
// page's URL: "assets/" when the page path ends in "/" and
// "<last segment>/assets/" otherwise, so "/playground" loads
// "playground/assets/x" = "/playground/assets/x". It looks at the original
// request URI, so it also works behind http.StripPrefix.
func assetPrefix(r *http.Request) string {
	p := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		p = u.Path
	}
	if p == "" || strings.HasSuffix(p, "/") {
		return "assets/"
	}
	return url.PathEscape(path.Base(p)) + "/assets/"
}

func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
