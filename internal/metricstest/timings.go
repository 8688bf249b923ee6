package metricstest

import (
	"slices"
	"sync"
	"time"
)

// Timings are operations' start times and durations, recorded from several
// goroutines, for a test to read the latency of those started in a window.
type Timings struct {
	mu    sync.Mutex
	start []time.Time
	took  []time.Duration
}

// Add records an operation that started at start and took took.
func (t *Timings) Add(start time.Time, took time.Duration) {
	t.mu.Lock()
	t.start = append(t.start, start)
	t.took = append(t.took, took)
	t.mu.Unlock()
}

// Between returns the count, p50, p99 and longest of the operations started
// in [from, to).
func (t *Timings) Between(from, to time.Time) (n int, p50, p99, most time.Duration) {
	t.mu.Lock()
	var d []time.Duration
	for i, s := range t.start {
		if !s.Before(from) && s.Before(to) {
			d = append(d, t.took[i])
		}
	}
	t.mu.Unlock()
	if len(d) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(float64(len(d))*p))] }
	return len(d), q(0.5), q(0.99), d[len(d)-1]
}
