package sandbox

import (
	"net/http"
	"strings"
	"time"
)

// idempotencyTTL is how long Toss keeps an Idempotency-Key.
const idempotencyTTL = 15 * 24 * time.Hour

// maxIdempotencyKey is Toss's limit on the key's length.
const maxIdempotencyKey = 300

// idemEntry is the first response for one idempotency scope, or a marker
// that the first request is still running.
type idemEntry struct {
	done      bool
	status    int
	body      []byte
	createdAt time.Time
}

// idemScope is Toss's scope: key + API key + path + method. The body is not
// part of it, so one key reused for another paymentKey replays the first
// answer, as Toss does.
func idemScope(r *http.Request, key, secretKey string) string {
	return strings.Join([]string{key, secretKey, r.URL.Path, r.Method}, "\x00")
}

// idemAcquire claims scope for a new request. It returns the stored entry to
// replay, or busy when the first request with the scope is still in flight.
func (s *Sandbox) idemAcquire(scope string) (replay *idemEntry, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if e, ok := s.idem[scope]; ok && now.Sub(e.createdAt) < idempotencyTTL {
		if !e.done {
			return nil, true
		}
		return e, false
	}
	s.pruneIdem(now)
	s.idem[scope] = &idemEntry{createdAt: now}
	return nil, false
}

// idemStore saves the first response for scope.
func (s *Sandbox) idemStore(scope string, resp response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.idem[scope]; ok {
		e.done, e.status, e.body = true, resp.status, resp.body
	}
}

// idemRelease forgets an in-flight claim whose request did not execute, so
// that a retry with the same key runs for real.
func (s *Sandbox) idemRelease(scope string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.idem[scope]; ok && !e.done {
		delete(s.idem, scope)
	}
}

// pruneIdem drops expired keys. It runs on every new claim; the map is small
// in a sandbox, so a full scan is cheaper than an index. Callers hold s.mu.
func (s *Sandbox) pruneIdem(now time.Time) {
	for k, e := range s.idem {
		if e.done && now.Sub(e.createdAt) >= idempotencyTTL {
			delete(s.idem, k)
		}
	}
}
