package pipeline_test

import (
	"testing"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/pipeline"
)

// inlining is a delivery whose inbox is in the store, as the sandbox's:
// it delivers every message in the write that stores it.
type inlining struct {
	delivery
	bodies  []string
	inlined []string
}

func (d *inlining) Inline(o message.Outbound, body string) (message.Outcome, bool) {
	d.bodies = append(d.bodies, body)
	e := message.SandboxEntry{SID: o.SID, AccountSID: o.AccountSID, From: o.From, To: o.To, Body: body,
		Segments: 1, Encoding: "GSM-7", CreatedAt: o.CreatedAt, Channel: message.SMS}
	return message.Outcome{SID: o.SID, Status: message.Delivered, Connector: "sandbox", At: o.CreatedAt, Inbox: &e}, true
}

func (d *inlining) Inlined(o message.Outbound) { d.inlined = append(d.inlined, o.SID) }

// A send the delivery takes inline is stored delivered, with its inbox
// entry, and never handed off; the caller still hears it queued. One with
// a status callback goes through the outbox, so the callbacks' sender is
// woken as usual.
func TestSendDeliveredInItsOwnWrite(t *testing.T) {
	d := &inlining{}
	e := newEnv(t, func(c *pipeline.Config) { c.Delivery, c.Callback = d, checker{} })
	res, err := e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "0790320012", From: "MyApp", Body: "Your code is 123456"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Message.Status != message.Queued {
		t.Errorf("the send answered with status %q, want queued", res.Message.Status)
	}
	stored, err := e.st.Message(ctx, "AC1", res.Message.SID)
	if err != nil || stored.Status != message.Delivered || stored.Connector != "sandbox" {
		t.Errorf("stored %+v (%v); want delivered by the sandbox", stored, err)
	}
	inbox, err := e.st.SandboxEntries(ctx, "AC1", "+962790320012", 10)
	if err != nil || len(inbox) != 1 || inbox[0].SID != res.Message.SID || inbox[0].Body != "Your code is 123456" {
		t.Errorf("the inbox: %+v (%v); want the message with its real body", inbox, err)
	}
	if len(d.taken) != 0 || len(d.inlined) != 1 || d.inlined[0] != res.Message.SID {
		t.Errorf("taken %d, inlined %v; want none taken, the message inlined once", len(d.taken), d.inlined)
	}

	res, err = e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "0790320013", From: "MyApp", Body: "hello",
		StatusCallback: "https://example.com/status"})
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := e.st.Message(ctx, "AC1", res.Message.SID); stored.Status != message.Queued {
		t.Errorf("a send with a status callback stored %q, want queued (in the outbox)", stored.Status)
	}
	if len(d.taken) != 1 || d.taken[0].SID != res.Message.SID || len(d.inlined) != 1 {
		t.Errorf("taken %d, inlined %v; want the send with a callback taken, not inlined", len(d.taken), d.inlined)
	}
}
