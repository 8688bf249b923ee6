package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestQuantileInterpolatesWithinABucket(t *testing.T) {
	bounds := []float64{0.001, 0.002, 0.004, math.Inf(1)}
	cum := []float64{10, 60, 100, 100} // 10 under 1ms, 50 in 1-2ms, 40 in 2-4ms
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0.05, 500 * time.Microsecond},
		{0.5, 1800 * time.Microsecond},
		{0.99, 3950 * time.Microsecond},
	} {
		if got := quantile(c.q, bounds, cum); (got - c.want).Abs() > time.Microsecond {
			t.Errorf("q%v = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile(0.5, bounds, []float64{0, 0, 0, 0}); got != 0 {
		t.Errorf("no observations: %v", got)
	}
	if got := quantile(0.99, bounds, []float64{0, 0, 0, 5}); got != 4*time.Millisecond {
		t.Errorf("all past the last bound: %v, want its lower edge 4ms", got)
	}
}

func TestStagesBetweenSubtractsTheEarlierSnapshot(t *testing.T) {
	bounds := []float64{0.001, 0.002, math.Inf(1)}
	before := stageSnapshot{order: []string{"commit", "request"}, stages: map[string]stageHist{
		"commit":  {bounds, []float64{100, 100, 100}}, // warm-up: all fast
		"request": {bounds, []float64{0, 0, 0}},
	}}
	after := stageSnapshot{order: []string{"commit", "request"}, stages: map[string]stageHist{
		"commit":  {bounds, []float64{100, 200, 200}}, // the window: all in 1-2ms
		"request": {bounds, []float64{100, 100, 100}},
	}}
	got := stagesBetween(before, after)
	if len(got) != 2 || got[0].Stage != "request" || got[1].Stage != "commit" {
		t.Fatalf("stages %+v, want request then commit", got)
	}
	if c := got[1]; c.Count != 100 || c.P50 != 1500*time.Microsecond {
		t.Errorf("commit %+v, want 100 sends, p50 1.5ms", c)
	}
}
