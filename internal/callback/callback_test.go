package callback

import (
	"net/url"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/verification"
)

var now = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

func TestForStatusChange(t *testing.T) {
	m := message.Message{SID: "SM1", AccountSID: "AC1", Status: message.Delivered, To: "+962790000001", From: "App",
		StatusCallback: "https://app.example/status"}
	for _, c := range []struct {
		name  string
		m     message.Message
		moved bool
		want  int
	}{
		{"moved, with a URL", m, true, 1},
		{"did not move (a receipt for a status already past)", m, false, 0},
		{"moved, no URL", func() message.Message { m := m; m.StatusCallback = ""; return m }(), true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ForStatusChange(c.m, c.moved, now)
			if len(got) != c.want {
				t.Fatalf("%d callbacks, want %d", len(got), c.want)
			}
			if c.want == 1 {
				v, _ := url.ParseQuery(got[0].Body)
				if got[0].URL != m.StatusCallback || got[0].Subject != "SM1" || v.Get("MessageStatus") != "delivered" || got[0].NextAttemptAt != now {
					t.Errorf("callback %+v", got[0])
				}
			}
		})
	}
}

func TestForVerificationChange(t *testing.T) {
	svc := verification.Service{SID: "VA1", Name: "app", EventsURL: "https://app.example/events"}
	for _, c := range []struct {
		status verification.Status
		url    string
		want   int
	}{
		{verification.Approved, svc.EventsURL, 1},
		{verification.Expired, svc.EventsURL, 1},
		{verification.MaxAttempts, svc.EventsURL, 1},
		{verification.Canceled, svc.EventsURL, 0},
		{verification.Pending, svc.EventsURL, 0},
		{verification.Approved, "", 0},
	} {
		t.Run(string(c.status)+"/"+c.url, func(t *testing.T) {
			s := svc
			s.EventsURL = c.url
			v := verification.Verification{SID: "VE1", AccountSID: "AC1", ServiceSID: "VA1", To: "+962790000001", Status: c.status}
			got := ForVerificationChange(v, s, now)
			if len(got) != c.want {
				t.Fatalf("%d events, want %d", len(got), c.want)
			}
			if c.want == 1 && (got[0].ContentType != JSON || got[0].Subject != "VE1") {
				t.Errorf("event %+v", got[0])
			}
		})
	}
}
