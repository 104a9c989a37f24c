package graph

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/pago/pago/payment"
)

// graphql-ws close codes: a standard client (graphql-ws, Apollo) treats
// them as final and does not reconnect, where 1000 would make it reconnect
// at once, forever.
const (
	closeBadRequest   = 4400 // a message the protocol does not allow
	closeUnauthorized = 4401 // a bad or expired token in connection_init
)

// closeCodes is the websocket implementation with gqlgen's RFC 6455
// protocol-error closes (malformed messages) turned into graphql-ws's 4400.
type closeCodes struct {
	transport.WebsocketImplementation
}

func (c closeCodes) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := c.WebsocketImplementation.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	return closeCodeConn{conn}, nil
}

type closeCodeConn struct{ transport.WebsocketConn }

func (c closeCodeConn) WriteClose(code int, msg string) error {
	if code == transport.WebsocketCloseProtocolError {
		code = closeBadRequest
	}
	return c.WebsocketConn.WriteClose(code, msg)
}

// SetReadLimit and SetReadDeadline keep the optional interfaces of the
// wrapped connection (gqlgen's message size limit and pong deadline).
func (c closeCodeConn) SetReadLimit(n int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(n)
	}
}

func (c closeCodeConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// SubscriptionLimits caps live subscriptions: each one holds a goroutine
// and watches the database, so one socket (or one user with many sockets)
// must not be able to open them without bound.
type SubscriptionLimits struct {
	PerConnection int // default 10
	PerUser       int // default 25
}

// CodeTooManySubscriptions refuses a subscription over the caps.
const CodeTooManySubscriptions payment.Code = "TOO_MANY_SUBSCRIPTIONS"

type subscriptions struct {
	limits SubscriptionLimits
	mu     sync.Mutex
	users  map[string]int
}

func newSubscriptions(l SubscriptionLimits) *subscriptions {
	if l.PerConnection <= 0 {
		l.PerConnection = 10
	}
	if l.PerUser <= 0 {
		l.PerUser = 25
	}
	return &subscriptions{limits: l, users: map[string]int{}}
}

// connCount is one websocket connection's count, carried in its context.
type connCount struct {
	mu sync.Mutex
	n  int
}

type connCountKey struct{}

func withConnCount(ctx context.Context) context.Context {
	return context.WithValue(ctx, connCountKey{}, &connCount{})
}

// acquire counts one more subscription for ctx's connection and user until
// ctx ends, or refuses it over either cap.
func (s *subscriptions) acquire(ctx context.Context) error {
	tooMany := &payment.Error{Code: CodeTooManySubscriptions, Message: "too many live subscriptions; close some first"}
	cc, _ := ctx.Value(connCountKey{}).(*connCount)
	user := ""
	if u, err := payment.UserFrom(ctx); err == nil {
		user = u.ID
	}
	if cc != nil {
		cc.mu.Lock()
		if cc.n >= s.limits.PerConnection {
			cc.mu.Unlock()
			return tooMany
		}
		cc.n++
		cc.mu.Unlock()
	}
	if user != "" {
		s.mu.Lock()
		if s.users[user] >= s.limits.PerUser {
			s.mu.Unlock()
			if cc != nil {
				cc.mu.Lock()
				cc.n--
				cc.mu.Unlock()
			}
			return tooMany
		}
		s.users[user]++
		s.mu.Unlock()
	}
	context.AfterFunc(ctx, func() {
		if cc != nil {
			cc.mu.Lock()
			cc.n--
			cc.mu.Unlock()
		}
		if user != "" {
			s.mu.Lock()
			if s.users[user]--; s.users[user] <= 0 {
				delete(s.users, user)
			}
			s.mu.Unlock()
		}
	})
	return nil
}
