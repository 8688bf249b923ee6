package main

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/smscsim"
)

// Close leaves nothing of the server running: every goroutine that Run
// (or a request, or a send) started in otpgate's packages or in an HTTP
// server is gone once it returns: the HTTP servers (API, --metrics-addr,
// --debug-addr), the dispatcher, the webhook sender, the SMPP connectors,
// the guard's loops, the sweeper, the token watch and the forgetters.
func TestCloseStopsEverything(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(tb testing.TB, c *ServeConfig)
	}{
		{"sandbox, abuse guard on, metrics and pprof listeners", func(_ testing.TB, c *ServeConfig) {
			c.MetricsAddr, c.DebugAddr, c.MetricsToken = "127.0.0.1:0", "127.0.0.1:0", "0123456789abcdef"
		}},
		{"SMPP", func(tb testing.TB, c *ServeConfig) {
			sim := smscsim.New(smscsim.Config{})
			addr, err := sim.Start("127.0.0.1:0")
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { sim.Close() })
			c.SMPP = []string{"smpp://otpgate:pw@" + addr.String() + "?name=sim"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := goroutines()
			s := mustServeWith(t, nil, func(c *ServeConfig) { tc.set(t, c) })
			if len(s.smpp) > 0 {
				s.waitBound(t)
			}
			r := s.send(t, "Close", "+962790320012")
			if r.Status != 201 {
				t.Fatalf("send: %d %s", r.Status, r.Raw)
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				m, err := s.store.Message(context.Background(), s.SID, r.str("message_sid"))
				if err == nil && m.Status != message.Queued {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the code was not sent: %q, %v", m.Status, err)
				}
			}
			time.Sleep(50 * time.Millisecond) // some ticks of the loops that tick fastest
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var left []string
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				left = left[:0]
				for id, stack := range goroutines() {
					if _, ok := before[id]; !ok && ofServer(stack) {
						left = append(left, stack)
					}
				}
				if len(left) == 0 || time.Now().After(deadline) {
					break
				}
			}
			if len(left) > 0 {
				t.Fatalf("%d goroutines of the server still run after Close:\n\n%s", len(left), strings.Join(left, "\n\n"))
			}
		})
	}
}

// ofServer reports whether a goroutine's stack is in otpgate's packages
// (but not the SMSC simulator the test runs) or in an HTTP server.
func ofServer(stack string) bool {
	if strings.Contains(stack, "internal/smscsim.") {
		return false
	}
	return strings.Contains(stack, "github.com/otpgate/otpgate/") || strings.Contains(stack, "net/http.(*Server)") ||
		strings.Contains(stack, "net/http.(*conn)")
}

// goroutines returns the stack of every goroutine, by its ID.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		out[id] = g
	}
	return out
}
