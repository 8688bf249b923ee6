// Package periodic runs a function every interval in the background, with
// the Start/Stop every otpgate component has: Stop ends the loop and waits
// for a run in progress; it is safe to call twice, or without Start.
package periodic

import (
	"context"
	"sync"
	"time"
)

// Loop calls Run every Every until stopped; an error Run returns is given
// to OnError (the loop goes on).
type Loop struct {
	Every   time.Duration
	Run     func(ctx context.Context) error
	OnError func(err error)

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start runs the loop until Stop (or ctx ends); the first run is one
// interval after Start.
func (l *Loop) Start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
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
	}()
}

// Stop ends the loop and waits for a run in progress.
func (l *Loop) Stop() {
	l.once.Do(func() {
		if l.cancel != nil {
			l.cancel()
			<-l.done
		}
	})
}
