package worker

import (
	"testing"
	"time"
)

// The probe waits between d/2 and d, d = min(2^attempt s, ceiling): enough
// looks inside the PG's 10-minute confirm window, never more than the cap.
func TestProbeBackoffBounds(t *testing.T) {
	for _, ceiling := range []time.Duration{30 * time.Second, 5 * time.Minute, 400 * time.Millisecond} {
		for attempt := 0; attempt <= 15; attempt++ {
			d := min(time.Second<<min(attempt, 10), ceiling)
			lo, hi := time.Duration(1<<62), time.Duration(0)
			for range 500 {
				w := ProbeBackoff(attempt, ceiling)
				lo, hi = min(lo, w), max(hi, w)
			}
			// 1 ns of slack either side: the jitter is computed in float64.
			if lo < d/2-1 || hi > d+1 {
				t.Errorf("ceiling %v attempt %d: waits in [%v, %v], want within [%v, %v]", ceiling, attempt, lo, hi, d/2, d)
			}
			// Jittered: 500 draws spread over at least a tenth of the range.
			if hi-lo < d/20 {
				t.Errorf("ceiling %v attempt %d: waits in [%v, %v] are not jittered", ceiling, attempt, lo, hi)
			}
		}
	}
	if w := ProbeBackoff(3, 0); w != 0 {
		t.Errorf("zero ceiling: wait %v, want 0", w)
	}
}
