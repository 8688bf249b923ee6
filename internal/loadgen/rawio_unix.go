//go:build unix

package loadgen

import (
	"io"
	"net"
	"os"
	"syscall"
)

// sockIO is how a rawClient reads and writes a plain TCP connection: on the
// socket itself, inside syscall.RawConn.Read. The request is written from
// the same callback, after the poller is armed for reading, and the callback
// then waits for the answer instead of trying a read first. Through
// net.Conn, the read that follows a write almost always finds nothing yet
// and costs a syscall returning EAGAIN before the goroutine parks: this
// saves that syscall, one in three per request.
type sockIO struct {
	rc      syscall.RawConn
	conn    net.Conn
	pending []byte // written by the next Read before it waits

	// the state of the Read in progress, kept here (and the callback made
	// once) so that a Read allocates nothing
	readFn     func(uintptr) bool
	p          []byte
	n          int
	rerr, werr error
}

// newSockIO returns nil when conn is not a TCP connection.
func newSockIO(conn net.Conn) *sockIO {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &sockIO{rc: rc, conn: conn}
	s.readFn = s.onReadable
	return s
}

// Read reads what the socket has, first writing what is pending.
func (s *sockIO) Read(p []byte) (int, error) {
	s.p, s.n, s.rerr, s.werr = p, 0, nil, nil
	err := s.rc.Read(s.readFn)
	s.p = nil
	switch {
	case s.werr != nil:
		return 0, s.werr
	case err != nil:
		return 0, err
	case s.rerr != nil:
		return 0, os.NewSyscallError("read", s.rerr)
	case s.n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return s.n, nil
}

// onReadable is the RawConn.Read callback: false means wait until the
// socket is readable and call again.
func (s *sockIO) onReadable(fd uintptr) bool {
	if w := s.pending; w != nil {
		s.pending = nil
		if s.werr = s.write(int(fd), w); s.werr != nil {
			return true
		}
		return false // wait until the answer can be read
	}
	for {
		s.n, s.rerr = syscall.Read(int(fd), s.p)
		if s.rerr != syscall.EINTR {
			break
		}
	}
	return s.rerr != syscall.EAGAIN
}

func (s *sockIO) write(fd int, w []byte) error {
	for len(w) > 0 {
		k, err := syscall.Write(fd, w)
		switch err {
		case nil:
			w = w[k:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			// The send buffer is full: the rest goes the usual way, which
			// waits for room (it takes the write lock, not the read lock
			// held here).
			_, err = s.conn.Write(w)
			return err
		default:
			return os.NewSyscallError("write", err)
		}
	}
	return nil
}
