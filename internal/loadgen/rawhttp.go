package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// rawClient sends one fixed request, where only seven digits change, over
// one keep-alive HTTP/1.1 connection, and reads the answer with a bufio
// reader: no net/http on the hot path, so a request costs a write and a
// read on the socket (see sockIO) and no allocation.
//
// It is not safe for concurrent use, except interrupt, which may be called
// from any goroutine to unblock a request in progress.
type rawClient struct {
	addr    string      // host:port to dial
	tlsConf *tls.Config // nil for plain HTTP
	req     []byte      // the whole request: head and body
	digits  int         // offset of the seven digits in req

	conn net.Conn
	sock *sockIO // conn's socket, read and written directly; nil for TLS
	br   *bufio.Reader

	// body holds the start (up to maxCapture bytes) of the last answer's
	// body when its status was not the expected one.
	body []byte

	mu          sync.Mutex // guards live and interrupted against interrupt
	live        net.Conn
	interrupted bool
}

const (
	rawReadBuf  = 16 << 10
	maxCapture  = 4096
	dialTimeout = 5 * time.Second
)

// Errors of the raw client; transportReason names them.
var (
	errMalformed   = errors.New("malformed HTTP response")
	errInterrupted = errors.New("request interrupted")
)

// buildRequest returns a POST request for path on host with the given
// header lines ("Name: value") and body, and the offset in it of the seven
// digits that sit at bodyDigits in body.
func buildRequest(host, path string, headers []string, body []byte, bodyDigits int) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString("POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	at := b.Len() + bodyDigits
	b.Write(body)
	return b.Bytes(), at
}

// buildGet returns a GET request for target (a path and query) on host,
// and the offset in it of the seven digits at targetDigits in target.
func buildGet(host, target string, headers []string, targetDigits int) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString("GET ")
	at := b.Len() + targetDigits
	b.WriteString(target + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes(), at
}

// setNumber writes n as the request's seven digits.
func (c *rawClient) setNumber(n uint32) {
	d := c.req[c.digits : c.digits+7]
	for i := 6; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
}

// interrupt makes the request in progress, and every later one, fail with
// errInterrupted. Safe to call from any goroutine, and twice.
func (c *rawClient) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.interrupted = true
	if c.live != nil {
		_ = c.live.SetDeadline(time.Unix(1, 0))
	}
}

// interruptOn interrupts c when ctx ends or d has passed; the function it
// returns stops that and leaves c usable again.
func (c *rawClient) interruptOn(ctx context.Context, d time.Duration) func() {
	ctx, cancel := context.WithTimeout(ctx, d)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.interrupt()
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
			c.reset()
		}
		cancel()
	}
}

// reset closes the connection after an interrupt and makes the client
// usable again.
func (c *rawClient) reset() {
	c.close()
	c.mu.Lock()
	c.interrupted = false
	c.mu.Unlock()
}

// close closes the connection, if any.
func (c *rawClient) close() {
	if c.conn == nil {
		return
	}
	c.mu.Lock()
	c.live = nil
	c.mu.Unlock()
	_ = c.conn.Close()
	c.conn, c.sock = nil, nil
}

func (c *rawClient) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	if c.tlsConf != nil {
		tc := tls.Client(conn, c.tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return err
		}
		conn = tc
	}
	c.mu.Lock()
	if c.interrupted {
		c.mu.Unlock()
		_ = conn.Close()
		return errInterrupted
	}
	c.live = conn
	c.mu.Unlock()
	c.conn = conn
	var r io.Reader = conn
	if c.sock = newSockIO(conn); c.sock != nil {
		r = c.sock
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(r, rawReadBuf)
	} else {
		c.br.Reset(r)
	}
	return nil
}

// do sends the request and reads the answer, dialling first when there is
// no connection. It returns the status; when that is not expect, c.body
// holds the start of the body. After an error the connection is closed, so
// the next call dials a new one.
func (c *rawClient) do(ctx context.Context, expect int) (int, error) {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			if c.isInterrupted() {
				return 0, errInterrupted
			}
			return 0, err
		}
	}
	status, keep, err := c.roundTrip(expect)
	if err != nil {
		c.close()
		if c.isInterrupted() {
			return 0, errInterrupted
		}
		return 0, err
	}
	if !keep {
		c.close()
	}
	return status, nil
}

func (c *rawClient) isInterrupted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.interrupted
}

// roundTrip writes the request and reads one final answer; keep reports
// whether the connection may carry the next request.
func (c *rawClient) roundTrip(expect int) (status int, keep bool, err error) {
	if c.sock != nil && c.br.Buffered() == 0 {
		// Written by the read of the answer's first bytes.
		c.sock.pending = c.req
	} else if _, err := c.conn.Write(c.req); err != nil {
		return 0, false, err
	}
	for {
		var h respHead
		if err := readHead(c.br, &h); err != nil {
			return 0, false, err
		}
		if h.status >= 100 && h.status < 200 && h.status != 101 {
			continue // 100 Continue and the like: the answer follows
		}
		capture := h.status != expect
		if err := c.readBody(&h, capture); err != nil {
			return 0, false, err
		}
		return h.status, h.keepAlive && h.status != 101, nil
	}
}

// respHead is what the client needs from a response head.
type respHead struct {
	status        int
	contentLength int64 // -1 when absent
	chunked       bool
	keepAlive     bool
}

// readHead reads a status line and the header fields after it.
func readHead(br *bufio.Reader, h *respHead) error {
	line, err := readLine(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF // closed before an answer
		}
		return err
	}
	// "HTTP/1.1 201 Created"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return fmt.Errorf("%w: status line %q", errMalformed, truncate(string(line), 40))
	}
	st := 0
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return fmt.Errorf("%w: status line %q", errMalformed, truncate(string(line), 40))
		}
		st = st*10 + int(d-'0')
	}
	*h = respHead{status: st, contentLength: -1, keepAlive: line[7] == '1'}
	for {
		line, err := readLine(br)
		if err != nil {
			return noEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return fmt.Errorf("%w: header line %q", errMalformed, truncate(string(line), 40))
		}
		value = bytes.TrimSpace(value)
		switch {
		case len(name) == len("Content-Length") && equalFold(name, "content-length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: Content-Length %q", errMalformed, truncate(string(value), 20))
			}
			h.contentLength = n
		case len(name) == len("Connection") && equalFold(name, "connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				switch {
				case equalFold(tok, "close"):
					h.keepAlive = false
				case equalFold(tok, "keep-alive"): // HTTP/1.0 asking to keep it
					h.keepAlive = true
				}
			}
		case len(name) == len("Transfer-Encoding") && equalFold(name, "transfer-encoding"):
			if !equalFold(value, "identity") {
				h.chunked = true
			}
		}
	}
}

// readLine returns the next line without its CRLF (or LF). Lines longer
// than the reader's buffer are skipped over but for their start.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A huge header line: keep its start, skip the rest.
		start := append([]byte(nil), line[:min(len(line), 64)]...)
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		return start, nil
	}
	if err != nil {
		if len(line) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readBody consumes the body that h announces, keeping its start in c.body
// when capture is set.
func (c *rawClient) readBody(h *respHead, capture bool) error {
	c.body = c.body[:0]
	switch {
	case h.status == 204 || h.status == 304 || h.status < 200:
		return nil
	case h.chunked:
		return c.readChunked(capture)
	case h.contentLength >= 0:
		return c.consume(h.contentLength, capture)
	default:
		// No length: the body runs to the end of the connection.
		h.keepAlive = false
		err := c.consume(1<<62, capture)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		return err
	}
}

// consume reads n bytes of body, keeping up to maxCapture of them when
// capture is set.
func (c *rawClient) consume(n int64, capture bool) error {
	for n > 0 {
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return noEOF(err)
			}
		}
		k := int(min(n, int64(c.br.Buffered())))
		if capture && len(c.body) < maxCapture {
			b, _ := c.br.Peek(k)
			c.body = append(c.body, b[:min(k, maxCapture-len(c.body))]...)
		}
		_, _ = c.br.Discard(k) // buffered: cannot fail
		n -= int64(k)
	}
	return nil
}

// readChunked reads a chunked body and its trailer.
func (c *rawClient) readChunked(capture bool) error {
	for {
		line, err := readLine(c.br)
		if err != nil {
			return noEOF(err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, truncate(string(line), 20))
		}
		if size == 0 {
			break
		}
		if err := c.consume(size, capture); err != nil {
			return err
		}
		if line, err = readLine(c.br); err != nil {
			return noEOF(err)
		} else if len(line) != 0 {
			return fmt.Errorf("%w: no CRLF after a chunk", errMalformed)
		}
	}
	for { // trailer
		line, err := readLine(c.br)
		if err != nil {
			return noEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// noEOF turns an EOF in the middle of an answer into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
