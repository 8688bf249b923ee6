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

// A Runner's function runs until Stop, which waits for it to return; a
// second Start, a Start after Stop and Stop twice do nothing more; a zero
// Runner stops without a Start.
func TestRunner(t *testing.T) {
	var r Runner
	var runs atomic.Int32
	started, returned := make(chan struct{}), make(chan struct{})
	r.Start(context.Background(), func(ctx context.Context) {
		runs.Add(1)
		close(started)
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // Stop must wait for this
		close(returned)
	})
	<-started
	r.Start(context.Background(), func(context.Context) { runs.Add(1) })
	r.Stop()
	select {
	case <-returned:
	default:
		t.Fatal("Stop returned before the function did")
	}
	r.Stop()
	r.Start(context.Background(), func(context.Context) { runs.Add(1) })
	time.Sleep(10 * time.Millisecond)
	if n := runs.Load(); n != 1 {
		t.Fatalf("the function ran %d times, want once", n)
	}
	(&Runner{}).Stop()
}

// The context given to Start ends the run too.
func TestRunnerContext(t *testing.T) {
	var r Runner
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.Start(ctx, func(ctx context.Context) { <-ctx.Done(); close(done) })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the run did not end with its context")
	}
	r.Stop()
}

// Wakes never block, and those made while nobody waits count as one.
func TestSignal(t *testing.T) {
	s := NewSignal()
	s.Wake()
	s.Wake()
	s.Wake()
	<-s
	select {
	case <-s:
		t.Fatal("three wakes counted as more than one")
	default:
	}
}
