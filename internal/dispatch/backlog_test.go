package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/syncbuf"
)

// gated is a connector whose sends wait until released, like an SMSC that
// takes a message every so often.
type gated struct {
	mu      sync.Mutex
	release chan struct{}
	sent    int
}

func (c *gated) Name() string { return "gated" }

func (c *gated) Send(ctx context.Context, m sms.Message) (string, error) {
	select {
	case <-c.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	c.mu.Lock()
	c.sent++
	c.mu.Unlock()
	return "id-" + m.SID, nil
}

func (c *gated) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent
}

// A route with a TPS limit refuses new sends once what waits would take
// longer than MaxBacklog at that rate, says when to try again, and accepts
// again once the backlog drained.
func TestAdmitRefusesWhatCannotBeSentInTime(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	conn := &gated{release: make(chan struct{})}
	var logs syncbuf.Buffer
	d := dispatch.New(dispatch.Config{Store: st, Opener: plainOpener{}, Clock: otpgate.SystemClock{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Route: func(to string) dispatch.Route {
			return dispatch.Route{Key: "+96279", Connectors: []sms.Connector{conn}, TPS: 20}
		},
		MaxBacklog: 5 * time.Second})
	d.Start(context.Background())
	t.Cleanup(func() { close(conn.release); d.Stop() })
	now := time.Now().UTC()
	// 20/s for 5 s: 100 may wait (the floor is 100 too).
	for i := range 100 {
		if err := d.Admit("+962790000000"); err != nil {
			t.Fatalf("send %d refused: %v", i, err)
		}
		sid := fmt.Sprintf("SM%03d", i)
		m := message.Message{SID: sid, AccountSID: "AC1", Direction: message.OutboundAPI, From: "App", To: "+962790000000",
			Body: "x", Status: message.Queued, Encoding: "GSM-7", Segments: 1, CreatedAt: now, UpdatedAt: now}
		o := message.Outbound{SID: sid, AccountSID: "AC1", From: "App", To: m.To, Payload: []byte("x"), CreatedAt: now}
		d.Lease(&o)
		if err := st.InsertSend(context.Background(), m, o, nil); err != nil {
			t.Fatal(err)
		}
		d.Take(context.Background(), o)
	}
	err = d.Admit("+962790000000")
	e := otpgate.AsError(err)
	if e == nil || e.Kind != otpgate.KindTooMany || e.Code != otpgate.CodeTooManyRequests || e.RetryAfter < time.Second {
		t.Fatalf("the 101st send: %v, want 429/20429 with a Retry-After", err)
	}
	if want := "route +96279: 100"; !strings.Contains(e.Message, want) {
		t.Errorf("message %q does not say %q", e.Message, want)
	}
	// The operator hears of it, once (not once per refused request).
	d.Admit("+962790000000")
	if got := strings.Count(logs.String(), "refusing new sends"); got != 1 || !strings.Contains(logs.String(), "waiting=100") {
		t.Errorf("%d warnings of refusals, want 1 naming the 100 waiting:\n%s", got, logs.String())
	}
	stats := d.Backlog(time.Now())
	if len(stats) != 1 || stats[0].Waiting != 100 || stats[0].Route != "+96279" {
		t.Errorf("Backlog = %+v", stats)
	}
	// The connector takes them: the backlog drains and sends are admitted again.
	for range 60 {
		conn.release <- struct{}{}
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.Admit("+962790000000") != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still refused after %d of 100 were sent: %+v", conn.count(), d.Backlog(time.Now()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With MaxBacklog negative nothing is refused.
func TestAdmitOff(t *testing.T) {
	d := dispatch.New(dispatch.Config{MaxBacklog: -1})
	if err := d.Admit("+962790000000"); err != nil {
		t.Fatal(err)
	}
}

// beaten is a node's store whose every claim another node wins.
type beaten struct{ *sqlite.Store }

func (beaten) ClaimOutbox(context.Context, time.Time, time.Time, int) ([]message.Outbound, error) {
	return nil, nil
}

// With several nodes on one database, a message this node gave back to the
// outbox (here: to retry after its connector failed) may be sent by another
// node. It counts in this node's backlog while it waits for its retry, and
// stops counting once another node has it: this node then admits sends
// again, instead of refusing them for as long as it remembers the message.
func TestAdmitForgetsWhatAnotherNodeSent(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const n = 100
	failing := &scripted{answers: map[string][]error{}, sent: map[string][]string{}}
	for i := range n {
		failing.answers[fmt.Sprintf("SM%03d", i)] = []error{errors.New("SMSC busy")}
	}
	a := dispatch.New(dispatch.Config{Store: beaten{st}, Opener: plainOpener{}, Poll: 200 * time.Millisecond,
		Route: func(string) dispatch.Route {
			return dispatch.Route{Key: "+96279", Connectors: []sms.Connector{failing}, TPS: 20}
		},
		MaxBacklog: 5 * time.Second})
	a.Start(context.Background())
	t.Cleanup(a.Stop)

	now := time.Now().UTC()
	for i := range n {
		if err := a.Admit("+962790000000"); err != nil {
			t.Fatalf("send %d refused: %v", i, err)
		}
		sid := fmt.Sprintf("SM%03d", i)
		m := message.Message{SID: sid, AccountSID: "AC1", Direction: message.OutboundAPI, From: "App", To: "+962790000000",
			Body: "x", Status: message.Queued, Encoding: "GSM-7", Segments: 1, CreatedAt: now, UpdatedAt: now}
		o := message.Outbound{SID: sid, AccountSID: "AC1", From: "App", To: m.To, Payload: []byte("x"), CreatedAt: now}
		a.Lease(&o)
		if err := st.InsertSend(context.Background(), m, o, nil); err != nil {
			t.Fatal(err)
		}
		a.Take(context.Background(), o)
	}
	waitFor(t, 5*time.Second, "node A tried every message once", func() bool {
		failing.mu.Lock()
		defer failing.mu.Unlock()
		return len(failing.sent) == n
	})
	// Waiting for their retry (a second away), they still count.
	if err := a.Admit("+962790000000"); otpgate.AsError(err) == nil || otpgate.AsError(err).Kind != otpgate.KindTooMany {
		t.Fatalf("with %d waiting for a retry, Admit = %v, want 429", n, err)
	}

	ok := &scripted{answers: map[string][]error{}, sent: map[string][]string{}}
	b := dispatch.New(dispatch.Config{Store: st, Opener: plainOpener{}, Poll: 100 * time.Millisecond, Connectors: []sms.Connector{ok}})
	b.Start(context.Background())
	t.Cleanup(b.Stop)
	waitFor(t, 10*time.Second, "node B sent them all", func() bool {
		ok.mu.Lock()
		defer ok.mu.Unlock()
		return len(ok.sent) == n
	})
	waitFor(t, 5*time.Second, "node A admits again", func() bool { return a.Admit("+962790000000") == nil })
	waitFor(t, 5*time.Second, "node A's backlog is empty", func() bool {
		s := a.Backlog(time.Now())
		return len(s) == 1 && s[0].Waiting == 0
	})
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A node that just started, whose first sends are still on their way, does
// not read its warm-up as its rate and refuse (it did: 2 sent in its first
// quarter second made 8/s, and 800 sends were refused within 200 ms of a
// bench). Once its rate is known (a second of work), a route that goes on
// sending next to nothing, with more waiting than may always wait, refuses.
func TestAdmitWarmUpAndStall(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	conn := &gated{release: make(chan struct{})}
	d := dispatch.New(dispatch.Config{Store: st, Opener: plainOpener{}, Connectors: []sms.Connector{conn}, MaxBacklog: 5 * time.Second})
	d.Start(context.Background())
	t.Cleanup(func() { close(conn.release); d.Stop() })
	now := time.Now().UTC()
	var taken []message.Outbound
	for i := range 150 {
		sid := fmt.Sprintf("SM%03d", i)
		m := message.Message{SID: sid, AccountSID: "AC1", Direction: message.OutboundAPI, From: "App", To: "+962790000000",
			Body: "x", Status: message.Queued, Encoding: "GSM-7", Segments: 1, CreatedAt: now, UpdatedAt: now}
		o := message.Outbound{SID: sid, AccountSID: "AC1", From: "App", To: m.To, Payload: []byte("x"), CreatedAt: now}
		d.Lease(&o)
		if err := st.InsertSend(context.Background(), m, o, nil); err != nil {
			t.Fatal(err)
		}
		taken = append(taken, o)
	}
	// Handed over at once, after the inserts (150 commits take longer than
	// a measure on a loaded machine): the route's work starts here.
	for _, o := range taken {
		d.Take(context.Background(), o)
	}
	conn.release <- struct{}{}
	conn.release <- struct{}{}
	time.Sleep(600 * time.Millisecond) // two measures, 2 sent
	if err := d.Admit("+962790000000"); err != nil {
		t.Fatalf("148 waiting on a route measured for half a second: %v", err)
	}
	waitFor(t, 5*time.Second, "a route measured sending next to nothing refuses", func() bool {
		e := otpgate.AsError(d.Admit("+962790000000"))
		return e != nil && e.Kind == otpgate.KindTooMany
	})
	e := otpgate.AsError(d.Admit("+962790000000"))
	if !strings.Contains(e.Message, "148 would take") {
		t.Errorf("refusal %q does not count the 148 waiting", e.Message)
	}
}
