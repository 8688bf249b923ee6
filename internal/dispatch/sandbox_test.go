package dispatch_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/sandbox"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sqlite"
)

// inboxWrites counts the sandbox connector's own writes to its inbox.
type inboxWrites struct {
	sandbox.Store
	n atomic.Int32
}

func (w *inboxWrites) InsertSandboxEntry(ctx context.Context, e message.SandboxEntry) error {
	w.n.Add(1)
	return w.Store.InsertSandboxEntry(ctx, e)
}

// The sandbox's delivery is its inbox entry, kept with the message's
// outcome in one write: the connector writes nothing of its own, and the
// inbox holds the real body once the message is delivered.
func TestSandboxDeliversWithTheOutcome(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	writes := &inboxWrites{Store: st}
	clk := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	d := dispatch.New(dispatch.Config{Store: st, Opener: plainOpener{}, Connectors: []sms.Connector{sandbox.New(writes, clk, nil)},
		Clock: clk, Poll: 5 * time.Millisecond})
	d.Start(context.Background())
	t.Cleanup(func() { d.Stop(); st.Close() })

	enqueue(t, st, "SMbox1", clk.Now(), clk.Now().Add(time.Hour))
	d.Wake()
	m := waitStatus(t, st, "SMbox1", message.Delivered)
	if m.Connector != sandbox.Name {
		t.Errorf("delivered by %q, want %q", m.Connector, sandbox.Name)
	}
	inbox, err := st.SandboxEntries(context.Background(), "AC1", m.To, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(inbox) != 1 || inbox[0].SID != "SMbox1" || inbox[0].Body != "real body SMbox1" || inbox[0].Encoding != "GSM-7" || inbox[0].Segments != 1 {
		t.Errorf("the inbox once the message is delivered: %+v; want its entry with the real body", inbox)
	}
	if n := writes.n.Load(); n != 0 {
		t.Errorf("the sandbox connector wrote %d inbox entries of its own; want none (the entry goes with the outcome)", n)
	}
}

// Inline delivers in the send's own write only where the route's first
// connector keeps an inbox in the store (the sandbox), and only a message
// of the route's channel.
func TestInlineOnlyToAnInbox(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	o := message.Outbound{SID: "SMin1", AccountSID: "AC1", From: "App", To: "+962790000000", CreatedAt: clk.Now()}
	box := dispatch.New(dispatch.Config{Store: nil, Opener: plainOpener{}, Connectors: []sms.Connector{sandbox.New(nil, clk, nil)}, Clock: clk})
	out, ok := box.Inline(o, "Your code is 123456")
	if !ok || out.SID != o.SID || out.Status != message.Delivered || out.Connector != sandbox.Name || !out.At.Equal(o.CreatedAt) ||
		out.Inbox == nil || out.Inbox.Body != "Your code is 123456" || out.Inbox.Encoding != "GSM-7" || out.Inbox.Segments != 1 {
		t.Errorf("Inline to the sandbox: %+v, %v; want delivered, with the inbox entry of the real body", out, ok)
	}
	email := o
	email.To, email.Channel = "user@example.com", message.Email
	if _, ok := box.Inline(email, "code"); ok {
		t.Error("Inline took an email on the SMS route")
	}
	smsc := dispatch.New(dispatch.Config{Store: nil, Opener: plainOpener{}, Connectors: []sms.Connector{&scripted{}}, Clock: clk})
	if _, ok := smsc.Inline(o, "code"); ok {
		t.Error("Inline took a message whose route goes to an SMSC")
	}
}
