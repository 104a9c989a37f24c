package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/pago/pago/store/storetest"
)

// Under load a PostgreSQL pool keeps the connections it opened: with fewer
// idle slots than open ones, every connection handed back past the idle
// cap was closed, and the next request paid for a new backend.
func TestPoolKeepsItsConnectionsUnderLoad(t *testing.T) {
	pg, ok := storetest.Postgres(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	s, err := Open(ctx, pg.NewDatabase(t))
	must(t, err)
	t.Cleanup(func() { s.Close() })
	db := s.DB().DB
	for range 3 {
		// Every connection the pool allows in use at once, then handed back.
		conns := make([]*sql.Conn, maxConns)
		for i := range conns {
			conns[i], err = db.Conn(ctx)
			must(t, err)
		}
		for _, c := range conns {
			must(t, c.Close())
		}
	}
	if st := db.Stats(); st.MaxIdleClosed > 0 || st.OpenConnections != maxConns {
		t.Fatalf("after three rounds of %d connections at once: %d closed for want of an idle slot, %d open; want 0 and %d",
			maxConns, st.MaxIdleClosed, st.OpenConnections, maxConns)
	}
}
