// Package periodic runs work in the background with the Start/Stop every
// otpgate component has: Stop ends the work and waits for a run in
// progress; it is safe to call twice, or without Start. Loop runs a
// function every interval; Runner runs a component's own loop on a
// goroutine; Signal wakes such a loop when work is due.
//
// It schedules only: what a run does, and what its errors mean, are the
// caller's.
package periodic

import (
	"context"
	"sync"
	"time"
)

// Loop calls Run every Every until stopped; an error Run returns is given
// to OnError (the loop goes on). Errors of a run that Stop cut short are
// not reported.
type Loop struct {
	Every   time.Duration
	Run     func(ctx context.Context) error
	OnError func(err error)

	runner Runner
}

// Start runs the loop until Stop (or ctx ends); the first run is one
// interval after Start.
func (l *Loop) Start(ctx context.Context) {
	l.runner.Start(ctx, func(ctx context.Context) {
		t := time.NewTicker(l.Every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := l.Run(ctx); err != nil && ctx.Err() == nil && l.OnError != nil {
					l.OnError(err)
				}
			}
		}
	})
}

// Stop ends the loop and waits for a run in progress.
func (l *Loop) Stop() { l.runner.Stop() }

// Runner runs one function on a goroutine of its own from Start until
// Stop: the Start/Stop of a component whose loop is its own (river's
// startstop.BaseStartStop). Its zero value is ready to use.
type Runner struct {
	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

// Start runs run on a goroutine, with a context that ends at Stop (or when
// ctx ends). A Runner starts once: a second Start, or a Start after Stop,
// does nothing.
func (r *Runner) Start(ctx context.Context, run func(ctx context.Context)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.done != nil {
		return
	}
	ctx, r.cancel = context.WithCancel(ctx)
	done := make(chan struct{})
	r.done = done
	go func() {
		defer close(done)
		run(ctx)
	}()
}

// Stop ends run's context and waits for run to return. It is safe to call
// twice, or without Start.
func (r *Runner) Stop() {
	r.mu.Lock()
	r.stopped = true
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Signal tells a loop that work is due: Wake never blocks, and wakes that
// come while the loop is busy count as one, taken at its next wait
// (`case <-s:`). Make it with NewSignal.
type Signal chan struct{}

// NewSignal returns a Signal.
func NewSignal() Signal { return make(Signal, 1) }

// Wake tells the loop work is due. It never blocks.
func (s Signal) Wake() {
	select {
	case s <- struct{}{}:
	default:
	}
}

// Forgetter is a Loop that, every every, deletes what is older than keep:
// it calls forget with now() less keep, and gives a failure to onError.
func Forgetter(every, keep time.Duration, now func() time.Time, forget func(ctx context.Context, before time.Time) (int, error), onError func(error)) *Loop {
	return &Loop{Every: every, OnError: onError, Run: func(ctx context.Context) error {
		_, err := forget(ctx, now().Add(-keep))
		return err
	}}
}
