package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The daily reconciliation runs at 04:00 KST, once a day.
func TestDailyAtNext(t *testing.T) {
	kst := time.FixedZone("KST", 9*60*60)
	d := dailyAt{hour: 4, loc: kst}
	for _, c := range []struct{ after, want string }{
		{"2026-11-30T03:59:59+09:00", "2026-11-30T04:00:00+09:00"},
		{"2026-11-30T04:00:00+09:00", "2026-12-01T04:00:00+09:00"},
		{"2026-11-30T23:00:00+09:00", "2026-12-01T04:00:00+09:00"},
		{"2026-12-31T10:00:00Z", "2027-01-01T04:00:00+09:00"},
	} {
		after, _ := time.Parse(time.RFC3339, c.after)
		want, _ := time.Parse(time.RFC3339, c.want)
		require.True(t, want.Equal(d.Next(after)), "after %s: got %s, want %s", c.after, d.Next(after), c.want)
	}
}
