package smpp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// countingConn counts the writes that reach it; while hold is open the
// first of them waits.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	hold   chan struct{}
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	first := len(c.writes) == 0
	c.writes = append(c.writes, bytes.Clone(p))
	c.mu.Unlock()
	if first && c.hold != nil {
		<-c.hold
	}
	return c.Conn.Write(p)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

// The PDUs queued while a write is under way go together in the next one,
// in order, and Close writes what is queued before it closes.
func TestBatchWriterGroupsWhatQueuedDuringAWrite(t *testing.T) {
	ours, peer := net.Pipe()
	cc := &countingConn{Conn: ours, hold: make(chan struct{})}
	b := newBatchWriter(cc, time.Second)
	var got bytes.Buffer
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(&got, peer)
		read <- err
	}()

	var want bytes.Buffer
	pdu := func(i int) []byte { return fmt.Appendf(nil, "pdu-%02d;", i) }
	b.Write(pdu(0))
	want.Write(pdu(0))
	deadline := time.Now().Add(5 * time.Second)
	for cc.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // the first write is under way, held
	}
	for i := 1; i <= 9; i++ {
		if n, err := b.Write(pdu(i)); err != nil || n != len(pdu(i)) {
			t.Fatalf("Write %d = %d, %v", i, n, err)
		}
		want.Write(pdu(i))
	}
	close(cc.hold)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-read; err != nil {
		t.Fatalf("the peer's read: %v", err)
	}
	if got.String() != want.String() {
		t.Errorf("the peer read %q, want %q", got.String(), want.String())
	}
	if n := cc.count(); n != 2 {
		t.Errorf("%d writes reached the connection, want 2 (one PDU, then the 9 queued meanwhile)", n)
	}
	if _, err := b.Write(pdu(10)); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// A write that fails closes the connection (the reader sees the bind go)
// and every later Write returns the error.
func TestBatchWriterFailedWriteClosesTheConnection(t *testing.T) {
	ours, peer := net.Pipe()
	b := newBatchWriter(ours, time.Second)
	defer b.Close()
	peer.Close()
	if _, err := b.Write([]byte("submit_sm")); err != nil {
		t.Fatalf("the first Write only queues; it returned %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if _, err = b.Write([]byte("x")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("Write kept succeeding after the connection's write failed")
	}
	if _, rerr := ours.Read(make([]byte, 1)); !errors.Is(rerr, io.ErrClosedPipe) && !errors.Is(rerr, net.ErrClosed) {
		t.Errorf("a read after the failed write: %v; want the connection closed", rerr)
	}
}
