package api

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestGoError(t *testing.T) {
	for _, c := range []struct {
		p      string
		status int
		ok     bool
	}{
		{"HTTP/1.1 400 Bad Request" + goErrorHeaders + "400 Bad Request: missing required Host header", 400, true},
		{"HTTP/1.1 501 Not Implemented" + goErrorHeaders + "Unsupported transfer encoding", 501, true},
		// otpgate's own replies, JSON and with other headers, pass untouched.
		{"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nX-Request-Id: a\r\n\r\n{}", 0, false},
		{"HTTP/1.1 200 OK" + goErrorHeaders + "fine", 0, false},
		{"HTTP/1.1 4xx" + goErrorHeaders, 0, false},
		{"HTTP/1.1 40", 0, false},
		// A reply whose body (an echoed path, say) holds Go's header block
		// is not Go's: the block must follow the status line at once.
		{"HTTP/1.1 404 Not Found\r\nX-Request-Id: a\r\n\r\n/x" + goErrorHeaders + "hello", 0, false},
		{"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\nHTTP/1.1 400 Bad Request" + goErrorHeaders, 0, false},
	} {
		status, _, ok := goError([]byte(c.p))
		if status != c.status || ok != c.ok {
			t.Errorf("goError(%q) = %d, %v; want %d, %v", c.p, status, ok, c.status, c.ok)
		}
	}
	r := jsonReply(400, "400 Bad Request: missing required Host header")
	_, body, _ := bytes.Cut(r, []byte("\r\n\r\n"))
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Status != 400 || e.Code == 0 {
		t.Errorf("jsonReply: %s (%v)", r, err)
	}
}
