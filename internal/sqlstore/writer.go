package sqlstore

import (
	"context"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/latency"
	"github.com/otpgate/otpgate/internal/store"
)

// Priority orders the ops waiting for a group commit: Urgent ones (the
// outbox's claims and reschedules) join the next group before Normal ones
// (new sends, checks, and the rest). Lazy ones (delivery outcomes, receipts,
// the sandbox inbox: nobody waits for them) linger to share a commit; how
// long is each writer's (LazyLinger, LazyBatch, and what it adds).
type Priority int

const (
	Normal Priority = iota
	Urgent
	Lazy
)

// Lazy ops join a group once the oldest has waited LazyLinger, or LazyBatch
// of them wait.
const (
	LazyLinger = 10 * time.Millisecond
	LazyBatch  = 64
)

// Op is one write waiting for a group commit; T is the store's transaction.
type Op[T any] struct {
	Ctx  context.Context
	Fn   func(T) error
	Done chan error
	// When the op's group began, its COMMIT started, and the COMMIT
	// returned: set by the writer before Wrote and Done (latency's stages).
	Began, Committing, Committed time.Time
	// Written is the caller's store.WhenWritten hook, or nil.
	Written func()
}

// Wrote tells the op's caller, through its store.WhenWritten hook, that
// its group is committed but not yet synced; the writer calls it, with
// Began, Committing and Committed set, for an op that succeeded. It marks
// the request's latency span with the op's stages first: the hook hands
// the send on, and the stages after the commit follow. It reports whether
// the op had a hook to call.
func (o *Op[T]) Wrote() bool {
	if o.Written == nil {
		return false
	}
	markStages(o)
	o.Written()
	return true
}

func markStages[T any](o *Op[T]) {
	if span := latency.From(o.Ctx); span != nil {
		span.At(latency.StoreWait, o.Began)
		span.At(latency.StoreWrite, o.Committing)
		span.At(latency.Commit, o.Committed)
	}
}

// Queues are the ops waiting for a writer, by priority.
type Queues[T any] struct {
	Ops, Urgent, LazyOps chan *Op[T]
	pool                 sync.Pool
}

// NewQueues makes queues of room each.
func NewQueues[T any](room int) Queues[T] {
	return Queues[T]{Ops: make(chan *Op[T], room), Urgent: make(chan *Op[T], room), LazyOps: make(chan *Op[T], room)}
}

// Submit queues fn with prio, waits for the writer's result, and marks the
// request's latency span with the op's stages when it succeeded.
func (q *Queues[T]) Submit(ctx context.Context, prio Priority, fn func(T) error) error {
	o, _ := q.pool.Get().(*Op[T])
	if o == nil {
		o = &Op[T]{Done: make(chan error, 1)}
	}
	o.Ctx, o.Fn, o.Written = ctx, fn, store.Written(ctx)
	switch prio {
	case Urgent:
		q.Urgent <- o
	case Lazy:
		q.LazyOps <- o
	default:
		q.Ops <- o
	}
	err := <-o.Done
	if err == nil {
		markStages(o) // as Wrote did, if it was called: marks of passed stages are ignored
	}
	o.Ctx, o.Fn, o.Written = nil, nil, nil
	q.pool.Put(o)
	return err
}

// Take appends to batch the ops waiting on ch, without waiting, until
// batch holds max.
func Take[T any](batch []*Op[T], ch <-chan *Op[T], max int) []*Op[T] {
	for len(batch) < max {
		select {
		case o := <-ch:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// TakeLazy hands add every lazy op waiting, without waiting.
func (q *Queues[T]) TakeLazy(add func(*Op[T])) {
	for {
		select {
		case o := <-q.LazyOps:
			add(o)
		default:
			return
		}
	}
}

// Next is an op waiting in any queue, nil when none is.
func (q *Queues[T]) Next() *Op[T] {
	select {
	case o := <-q.Urgent:
		return o
	case o := <-q.Ops:
		return o
	case o := <-q.LazyOps:
		return o
	default:
		return nil
	}
}

// Gate lets calls in until it is closed, and lets the closer wait for
// those in flight.
type Gate struct {
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

// Enter lets a call in; false once the gate is closed. A call let in calls
// Leave when it is done.
func (g *Gate) Enter() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// Leave ends a call Enter let in.
func (g *Gate) Leave() { g.wg.Done() }

// Close closes the gate; false when it was closed already. It does not
// wait: Wait does.
func (g *Gate) Close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.closed = true
	return true
}

// Closed reports whether Close was called.
func (g *Gate) Closed() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.closed
}

// Wait waits for the calls in flight.
func (g *Gate) Wait() { g.wg.Wait() }
