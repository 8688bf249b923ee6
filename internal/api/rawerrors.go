package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/otpgate/otpgate/internal/otpgate"
)

// JSONErrorsListener wraps a plain-HTTP listener so that the few replies
// Go's http.Server writes itself, before any handler runs (400 to a
// request without Host or with a malformed request line or header, 501 to
// an unknown Transfer-Encoding, 505, 431), are the standard JSON error too.
//
// The server writes those straight to the connection, in one Write of the
// form "HTTP/1.1 NNN Text\r\nContent-Type: text/plain; charset=utf-8\r\n
// Connection: close\r\n\r\nbody", and then closes it; otpgate's own replies
// are JSON and never match. Under TLS the server needs the *tls.Conn itself,
// so this cannot sit above it; see docs/security.md.
func JSONErrorsListener(l net.Listener) net.Listener { return jsonErrorsListener{l} }

type jsonErrorsListener struct{ net.Listener }

func (l jsonErrorsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorsConn{Conn: c}, nil
}

type jsonErrorsConn struct {
	net.Conn
}

// goErrorHeaders is what net/http puts between the status line and the
// body of the replies it writes itself.
const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *jsonErrorsConn) Write(p []byte) (int, error) {
	if status, text, ok := goError(p); ok {
		if _, err := c.Conn.Write(jsonReply(status, text)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// goError reports whether p is one of net/http's own error replies, and its
// status and text (the body Go would have sent, which names the problem:
// "400 Bad Request: missing required Host header").
func goError(p []byte) (status int, text string, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !found || len(rest) < 4 || rest[3] != ' ' {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil || status < 400 || status > 599 {
		return 0, "", false
	}
	// The status line's reason, then Go's two headers and nothing else:
	// every reply of otpgate's own carries X-Request-Id, so none matches.
	eol := bytes.Index(rest, []byte("\r\n"))
	if eol < 0 || !bytes.HasPrefix(rest[eol:], []byte(goErrorHeaders)) {
		return 0, "", false
	}
	return status, string(rest[eol+len(goErrorHeaders):]), true
}

// CloseWrite lets the server half-close the connection after an error
// reply, as it does on a bare TCP connection.
func (c *jsonErrorsConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func jsonReply(status int, text string) []byte {
	code := otpgate.CodeMalformedBody
	msg := "The request could not be read as HTTP: " + text
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		code = otpgate.CodeBodyTooLarge
		msg = fmt.Sprintf("The request's headers are too large; at most %d bytes are accepted", MaxHeaderBytes)
	case http.StatusBadRequest:
		msg = "The request is not valid HTTP/1.1 (" + text + "): HTTP/1.1 needs a Host header, and the request line and headers must be well formed"
	}
	body, _ := json.Marshal(errorBody{Code: code, Message: msg, MoreInfo: moreInfo(code), Status: status})
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}
