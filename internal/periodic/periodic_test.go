package periodic

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// The loop runs its function again and again, reports its errors, and
// after Stop runs it no more; Stop twice is fine, and so is Stop alone.
func TestLoop(t *testing.T) {
	var runs, errs atomic.Int32
	l := &Loop{Every: 5 * time.Millisecond, Run: func(context.Context) error {
		if runs.Add(1)%2 == 0 {
			return errors.New("every other run fails")
		}
		return nil
	}, OnError: func(error) { errs.Add(1) }}
	l.Start(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	l.Stop()
	l.Stop()
	n := runs.Load()
	if n < 4 || errs.Load() < 1 {
		t.Fatalf("%d runs, %d errors reported; want at least 4 runs and an error", n, errs.Load())
	}
	time.Sleep(30 * time.Millisecond)
	if runs.Load() != n {
		t.Fatalf("the loop ran %d times after Stop", runs.Load()-n)
	}
	(&Loop{}).Stop()
}
