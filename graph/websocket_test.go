package graph

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pago/pago/payment"
)

// One socket could hold 200 subscriptions, each watching the database.
func TestSubscriptionCaps(t *testing.T) {
	s := newSubscriptions(SubscriptionLimits{PerConnection: 2, PerUser: 3})
	alice := payment.WithUser(context.Background(), payment.User{ID: "usr_alice"})
	conn1, conn2 := withConnCount(alice), withConnCount(alice)

	sub := func(conn context.Context) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(conn)
		if err := s.acquire(ctx); err != nil {
			cancel()
			return nil, err
		}
		return cancel, nil
	}
	code := func(err error) payment.Code {
		var de *payment.Error
		require.ErrorAs(t, err, &de)
		return de.Code
	}

	a1, err := sub(conn1)
	require.NoError(t, err)
	_, err = sub(conn1)
	require.NoError(t, err)
	_, err = sub(conn1)
	require.Equal(t, CodeTooManySubscriptions, code(err), "per connection")

	_, err = sub(conn2)
	require.NoError(t, err)
	_, err = sub(conn2)
	require.Equal(t, CodeTooManySubscriptions, code(err), "per user, over two connections")

	// Another user is not affected; an ended subscription frees its place.
	bob := withConnCount(payment.WithUser(context.Background(), payment.User{ID: "usr_bob"}))
	_, err = sub(bob)
	require.NoError(t, err)
	a1()
	require.Eventually(t, func() bool {
		c, err := sub(conn2)
		if err == nil {
			c()
		}
		return err == nil
	}, 10*time.Second, time.Millisecond)
}
