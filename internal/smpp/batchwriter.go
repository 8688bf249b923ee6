package smpp

import (
	"net"
	"sync"
	"time"
)

// batchWriter is the connection gosmpp writes PDUs to. gosmpp writes each
// PDU (submit_sm, deliver_sm_resp, enquire_link) with a system call of its
// own, from one goroutine, so under load they queue behind one another's
// system calls. A Write here queues the PDU and returns; one goroutine writes
// all that is queued with one system call: a PDU written when the connection
// is idle goes at once, and the PDUs queued during a write go together
// right after it. No PDU waits for a timer or for others to come.
//
// A write that fails closes the connection: gosmpp's read loop then ends
// and the bind is lost (its submits in flight are retried), and every later
// Write returns the error.
type batchWriter struct {
	net.Conn
	timeout time.Duration // for each system call

	mu      sync.Mutex
	queued  []byte
	err     error
	closing bool
	wake    chan struct{} // holds one token while something is queued
	done    chan struct{} // closed when the writing goroutine ends
}

// closeFlushWait is how long Close waits for what is queued (an unbind) to
// be written before it closes the connection.
const closeFlushWait = time.Second

func newBatchWriter(c net.Conn, timeout time.Duration) *batchWriter {
	b := &batchWriter{Conn: c, timeout: timeout, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go b.run()
	return b
}

// Write queues p to be written; it never blocks on the network.
func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.closing {
		return 0, net.ErrClosed
	}
	b.queued = append(b.queued, p...)
	select {
	case b.wake <- struct{}{}:
	default: // a token is there already
	}
	return len(p), nil
}

func (b *batchWriter) run() {
	defer close(b.done)
	var out []byte
	for range b.wake {
		for {
			b.mu.Lock()
			out, b.queued = b.queued, out[:0]
			b.mu.Unlock()
			if len(out) == 0 {
				break
			}
			if b.timeout > 0 {
				b.Conn.SetWriteDeadline(time.Now().Add(b.timeout))
			}
			if _, err := b.Conn.Write(out); err != nil {
				b.mu.Lock()
				b.err, b.queued = err, nil
				b.mu.Unlock()
				b.Conn.Close()
				return
			}
		}
	}
}

// SetWriteDeadline is ignored: each write of the queue has its own timeout.
func (b *batchWriter) SetWriteDeadline(time.Time) error { return nil }

// SetDeadline sets the read deadline; writes keep their own timeout.
func (b *batchWriter) SetDeadline(t time.Time) error { return b.Conn.SetReadDeadline(t) }

// Close writes what is queued (gosmpp's unbind, say), waiting for it at
// most closeFlushWait, and closes the connection.
func (b *batchWriter) Close() error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return nil
	}
	b.closing = true
	close(b.wake)
	b.mu.Unlock()
	t := time.NewTimer(closeFlushWait)
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C:
	}
	return b.Conn.Close()
}
