package pipeline_test

import (
	"context"
	"testing"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/pipeline"
)

func composeEmail(_ context.Context, s pipeline.Send) (pipeline.Composed, error) {
	return pipeline.Composed{Subject: "Your code", Body: "Your code is 123456", Shown: "Your code is ******"}, nil
}

// A code by email is stored with its channel, subject and address (the
// domain in punycode), from the server's sender, and handed off with them.
func TestSendEmail(t *testing.T) {
	e := newEnv(t, func(c *pipeline.Config) { c.EmailFrom = "codes@otpgate.example" })
	res, err := e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", Channel: message.Email, To: " Jo@Bücher.Example ", Compose: composeEmail})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Message
	if m.Channel != message.Email || m.To != "Jo@xn--bcher-kva.example" || m.From != "codes@otpgate.example" || m.Subject != "Your code" ||
		m.Body != "Your code is ******" || m.Encoding != pipeline.EmailEncoding || m.Segments != 1 {
		t.Fatalf("message %+v", m)
	}
	if stored, err := e.st.Message(ctx, "AC1", m.SID); err != nil || stored != m {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	if o := e.deliv.taken[0]; o.Channel != message.Email || o.Subject != "Your code" || o.To != m.To {
		t.Fatalf("handed off %+v", o)
	}
}

func TestSendEmailRefusals(t *testing.T) {
	on := newEnv(t, func(c *pipeline.Config) { c.EmailFrom = "codes@otpgate.example" })
	off := newEnv(t, nil)
	for _, tc := range []struct {
		name    string
		p       *pipeline.Pipeline
		req     pipeline.Request
		field   string
		problem otpgate.Problem
	}{
		{"no address", on.p, pipeline.Request{Channel: message.Email, Compose: composeEmail}, "to", otpgate.MissingField},
		{"display name", on.p, pipeline.Request{Channel: message.Email, To: "Jo <jo@example.com>", Compose: composeEmail}, "to", otpgate.InvalidField},
		{"too long", on.p, pipeline.Request{Channel: message.Email, To: "a@" + longDomain(), Compose: composeEmail}, "to", otpgate.FieldTooLong},
		{"a number", on.p, pipeline.Request{Channel: message.Email, To: "+962790320012", Compose: composeEmail}, "to", otpgate.InvalidField},
		{"not a code", on.p, pipeline.Request{Channel: message.Email, To: "jo@example.com", Body: "hello"}, "channel", otpgate.InvalidField},
		{"no email on this server", off.p, pipeline.Request{Channel: message.Email, To: "jo@example.com", Compose: composeEmail}, "channel", otpgate.InvalidField},
		{"unknown channel", on.p, pipeline.Request{Channel: "fax", To: "jo@example.com", Compose: composeEmail}, "channel", otpgate.InvalidField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.AccountSID = "AC1"
			_, err := tc.p.Send(ctx, tc.req)
			wantFieldError(t, tc.name, err, tc.field, tc.problem, otpgate.CodeInvalidParameter)
		})
	}
	if n, _ := on.st.ClaimOutbox(ctx, t0.Add(1e12), t0.Add(2e12), 10); len(n) != 0 {
		t.Fatalf("refused sends stored %d messages", len(n))
	}
}

func longDomain() string {
	d := ""
	for range 5 {
		d += "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij."
	}
	return d + "com"
}
