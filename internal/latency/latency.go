// Package latency follows one send through its stages, from its request
// arriving to the SMSC's submit_sm_resp, and reports each stage's time to
// an Observer (Histograms: one histogram per stage in /metrics).
//
// A Span travels in the request's context: the HTTP server starts it, and
// each part that a send passes through marks the end of its stage. It only
// measures: it holds no rule, and a context without a Span costs nothing.
// The request's goroutine marks a Span until the pipeline hands the
// message to the dispatcher, the dispatcher's after; work the request starts
// meanwhile (an observer's write, with the request's context) may mark it
// too, and is ignored (its stage has passed), so a Span locks.
package latency

import (
	"context"
	"sync"
	"time"
)

// Stage is one part of a send's way to the SMSC, in order.
type Stage uint8

const (
	// Request: the request read, authenticated and decoded, until the
	// pipeline takes it.
	Request Stage = iota
	// Policies: the number normalised, the ceilings read, the policies
	// asked, the code composed (hashed, sealed): until the store gets it.
	Policies
	// StoreWait: queued for the store's writer, until its group starts.
	StoreWait
	// StoreWrite: the send's rows written, in a group with others, until
	// the group's COMMIT starts.
	StoreWrite
	// Commit: the group's COMMIT (SQLite's WAL write: the message goes on
	// while its fsync runs; PostgreSQL's commit, WAL flush included).
	Commit
	// Handoff: from the commit to the dispatcher starting the delivery.
	Handoff
	// Connector: the body encoded, the throttle and window waited for,
	// until the submit_sm is queued for the SMSC.
	Connector
	// SubmitResp: from the submit_sm to its submit_sm_resp.
	SubmitResp
	// Total: from the request arriving to the submit_sm_resp.
	Total
	numStages
)

var names = [numStages]string{"request", "policies", "store_wait", "store_write", "commit", "handoff", "connector", "submit_resp", "total"}

// String is the stage's name, as in the metrics' stage label.
func (s Stage) String() string {
	if s < numStages {
		return names[s]
	}
	return "unknown"
}

// Stages lists every stage, in order.
func Stages() []Stage {
	out := make([]Stage, numStages)
	for i := range out {
		out[i] = Stage(i)
	}
	return out
}

// Observer takes one stage's time.
type Observer interface {
	ObserveStage(s Stage, d time.Duration)
}

// Span is one send's way through the stages.
type Span struct {
	mu    sync.Mutex
	obs   Observer
	start time.Time
	last  time.Time
	next  Stage // a stage before next was observed: later marks of it are ignored
}

type key struct{}

// Start returns ctx carrying a new Span that began at start; with a nil
// Observer it returns ctx as it is.
func Start(ctx context.Context, obs Observer, start time.Time) context.Context {
	if obs == nil {
		return ctx
	}
	return context.WithValue(ctx, key{}, &Span{obs: obs, start: start, last: start})
}

// From returns ctx's Span, or nil (whose methods do nothing).
func From(ctx context.Context) *Span {
	s, _ := ctx.Value(key{}).(*Span)
	return s
}

// With returns ctx carrying s (to pass a Span to another goroutine's
// context once its first goroutine is done with it).
func With(ctx context.Context, s *Span) context.Context {
	if s == nil {
		return ctx
	}
	return context.WithValue(ctx, key{}, s)
}

// Mark ends stage st now.
func (s *Span) Mark(st Stage) {
	if s != nil {
		s.At(st, time.Now())
	}
}

// At ends stage st at t: it observes the time since the previous stage
// ended. A stage is observed once: marks of a stage already passed (a
// send composed again after a conflict, a message's second part) are
// ignored, and so is a time before the previous mark. Nothing is observed
// before the pipeline marks Request (a request that sends nothing, as a
// check, times no stage), and the store's stages only once Policies is
// marked (the store's work for composing a code is part of Policies).
func (s *Span) At(st Stage, t time.Time) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st < s.next || st >= Total ||
		(s.next == Request && st != Request) ||
		(st >= StoreWait && st <= Commit && s.next < StoreWait) {
		return
	}
	if d := t.Sub(s.last); d >= 0 {
		s.obs.ObserveStage(st, d)
		s.last = t
	}
	s.next = st + 1
	if st == SubmitResp {
		s.obs.ObserveStage(Total, t.Sub(s.start))
		s.next = Total + 1
	}
}
