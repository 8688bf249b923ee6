package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
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
	req *http.Request // reused for every request of the phase

	body reqBody
	buf  []byte // the body's bytes, rewritten per request
	cur  uint32 // the number in the current body
	ebuf []byte // for reading error bodies

	hist          histogram
	requests      int64
	statusErrs    map[int]int64
	transportErrs map[string]int64
	seen          map[string]bool // error kinds this worker already explained
	sent          []uint32        // send phase: numbers that got a 201
}

func (r *runner) newWorker(ctx context.Context, p *phaseRun) (*worker, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.spec.url, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	req.Header = r.header.Clone()
	w := &worker{r: r, p: p, req: req}
	w.body.closed = make(chan struct{}, 1)
	w.buf = make([]byte, 0, len(p.spec.prefix)+7+len(p.spec.suffix))
	req.Body = &w.body
	return w, nil
}

// reqBody is a request body that can be refilled once the transport has
// closed it. The transport may close it from another goroutine after the
// response arrived, so the worker waits for that before rewriting the bytes.
type reqBody struct {
	bytes.Reader
	closed   chan struct{} // receives one value per Close
	isClosed atomic.Bool
	inUse    bool // handed to the transport and not yet seen closed
}

func (b *reqBody) Close() error {
	if b.isClosed.CompareAndSwap(false, true) {
		b.closed <- struct{}{}
	}
	return nil
}

// prepare writes the next body into the worker's request. It returns false
// when the phase must end for this worker: ctx is done or the verify phase
// has no number left.
func (w *worker) prepare(ctx context.Context) bool {
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
	if w.body.inUse {
		select {
		case <-w.body.closed:
		case <-ctx.Done():
			return false
		}
	}
	w.cur = n
	w.buf = append(w.buf[:0], w.p.spec.prefix...)
	w.buf = appendDigits7(w.buf, n)
	w.buf = append(w.buf, w.p.spec.suffix...)
	w.body.Reset(w.buf)
	w.body.isClosed.Store(false)
	w.body.inUse = true
	w.req.ContentLength = int64(len(w.buf))
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
	now := time.Now()
	for {
		// Check the window before taking a number, so that every number
		// taken is also sent.
		if now.Sub(p.base) >= time.Duration(p.stopAt.Load()) || !w.prepare(ctx) {
			return
		}
		t0 := time.Now()
		resp, err := w.r.do(w.req)
		t1 := time.Now()
		now = t1
		if ctx.Err() != nil {
			if err == nil {
				resp.Body.Close()
			}
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

		status := resp.StatusCode
		if status == p.spec.expect {
			drain(resp)
			if p.spec.name == PhaseSend {
				w.sent = append(w.sent, w.cur)
			}
		} else {
			w.unexpected(resp)
		}
		resp.Body.Close()
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

// drain reads the rest of a response body so its connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
}

// unexpected drains a response with an unexpected status. The first such
// response per status and worker, while the report wants explanations, has
// its body's "message" added to the notes.
func (w *worker) unexpected(resp *http.Response) {
	key := statusKey(resp.StatusCode)
	if w.r.notes.wantErrors() && !w.seen[key] {
		w.markSeen(key)
		msg := readMessage(resp.Body, w.errBuf())
		w.r.notes.addError(w.p.spec.name + ": " + key + ": " + msg)
	}
	drain(resp)
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

func (w *worker) errBuf() []byte {
	if w.ebuf == nil {
		w.ebuf = make([]byte, 4096)
	}
	return w.ebuf
}

// readMessage reads the start of an error body into buf and returns its JSON
// "message" quoted, or a quoted snippet of the body when it has none.
func readMessage(body io.Reader, buf []byte) string {
	n, _ := io.ReadFull(body, buf)
	b := bytes.TrimSpace(buf[:n])
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
