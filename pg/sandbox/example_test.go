package sandbox_test

import (
	"net/http"

	"github.com/pago/pago/pg/sandbox"
)

// Mounting the sandbox inside an application under /sandbox, the way pago's
// default mode does.
func Example_mounted() {
	sb := sandbox.New(sandbox.Config{BasePath: "/sandbox", WebhookURL: "http://localhost:8080/webhooks/pg"})
	defer sb.Close()
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", sb))
	// The Toss client then uses base URL http://localhost:8080/sandbox and
	// the checkout page loads <script src="/sandbox/v2/standard">.
	_ = mux
}

// Running the sandbox standalone, so that tests can cut its connections and
// time out on a real network.
func Example_standalone() {
	sb := sandbox.New(sandbox.Config{})
	defer sb.Close()
	srv := &http.Server{Addr: "127.0.0.1:9090", Handler: sb}
	_ = srv // srv.ListenAndServe() in a real program
}
