package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// worker is one closed-loop client: it sends its next request when the
// previous one has been answered. Everything it counts is its own, so the hot
// path takes no locks; runPhase merges the workers when the phase is over.
type worker struct {
	r   *runner
	p   *phaseRun
	c   *rawClient // the worker's connection, kept from phase to phase
	cur uint32     // the number in the current request

	hist          histogram
	requests      int64
	statusErrs    map[int]int64
	transportErrs map[string]int64
	seen          map[string]bool // error kinds this worker already explained
	sent          []uint32        // send phase: numbers that got a 201
	sends         []sendRec       // send phase with an SMSC observer: every send
}

func (r *runner) newWorker(p *phaseRun, c *rawClient) *worker {
	c.req = append(c.req[:0], p.spec.req...)
	c.digits = p.spec.digits
	return &worker{r: r, p: p, c: c}
}

// prepare writes the next number into the worker's request. It returns
// false when the phase must end for this worker: the verify phase has no
// number left.
func (w *worker) prepare() bool {
	var n uint32
	if w.p.spec.name == PhaseSend {
		n = w.r.nextSendNumber()
	} else {
		var ok bool
		if n, ok = w.r.pool.take(); !ok {
			w.p.stopEarly(time.Since(w.p.base))
			return false
		}
	}
	w.cur = n
	w.c.setNumber(n)
	return true
}

// appendDigits7 appends n as exactly seven decimal digits.
func appendDigits7(b []byte, n uint32) []byte {
	var d [7]byte
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:]...)
}

// loop sends requests until the phase's window closes. Only requests that
// finish inside the measured window (after warmup, before the end) count.
func (w *worker) loop(ctx context.Context) {
	p := w.p
	observe := w.r.smsc != nil && p.spec.name == PhaseSend
	now := time.Now()
	for {
		// Check the window before taking a number, so that every number
		// taken is also sent.
		if now.Sub(p.base) >= time.Duration(p.stopAt.Load()) || !w.prepare() {
			return
		}
		t0 := time.Now()
		status, err := w.c.do(ctx, p.spec.expect)
		t1 := time.Now()
		now = t1
		if observe {
			w.sends = append(w.sends, sendRec{n: w.cur, sent: w.r.smsc.offset(t0), answered: w.r.smsc.offset(t1), status: int32(status)})
		}
		if ctx.Err() != nil {
			return
		}
		at := t1.Sub(p.base)
		counted := at >= p.start && at < time.Duration(p.stopAt.Load())

		if err != nil {
			if counted {
				w.requests++
				w.countTransport(err)
			}
			w.explainTransport(err)
			select {
			case <-time.After(transportBackoff):
			case <-ctx.Done():
				return
			}
			now = time.Now()
			continue
		}

		if status == p.spec.expect {
			if p.spec.name == PhaseSend {
				w.sent = append(w.sent, w.cur)
			}
		} else {
			w.unexpected(status)
		}
		if counted {
			w.requests++
			w.hist.record(t1.Sub(t0))
			if status != p.spec.expect {
				if w.statusErrs == nil {
					w.statusErrs = map[int]int64{}
				}
				w.statusErrs[status]++
			}
		}
	}
}

// unexpected notes an answer with an unexpected status: the first such
// answer per status and worker, while the report wants explanations, has its
// body's "message" added to the notes.
func (w *worker) unexpected(status int) {
	key := statusKey(status)
	if w.r.notes.wantErrors() && !w.seen[key] {
		w.markSeen(key)
		w.r.notes.addError(w.p.spec.name + ": " + key + ": " + bodyMessage(w.c.body))
	}
}

func (w *worker) explainTransport(err error) {
	key := "transport: " + transportReason(err)
	if w.r.notes.wantErrors() && !w.seen[key] {
		w.markSeen(key)
		w.r.notes.addError(w.p.spec.name + ": " + key + ": " + err.Error())
	}
}

func (w *worker) countTransport(err error) {
	if w.transportErrs == nil {
		w.transportErrs = map[string]int64{}
	}
	w.transportErrs[transportReason(err)]++
}

func (w *worker) markSeen(key string) {
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	w.seen[key] = true
}

// bodyMessage returns the JSON "message" of an error body quoted, or a
// quoted snippet of the body when it has none.
func bodyMessage(body []byte) string {
	b := bytes.TrimSpace(body)
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		return fmt.Sprintf("%q", truncate(e.Message, 200))
	}
	if len(b) == 0 {
		return "(empty body)"
	}
	return fmt.Sprintf("body %q", truncate(string(b), 120))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// transportReason names a failed request's error briefly and without
// addresses, so that errors of one kind share a key in PhaseResult.Errors.
func transportReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local address/port available"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "server closed the connection"
	case errors.Is(err, errMalformed):
		return "malformed HTTP response"
	case errors.Is(err, errInterrupted):
		return "interrupted"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	return truncate(strings.TrimSpace(err.Error()), 60)
}
