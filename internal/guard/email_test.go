package guard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/verification"
)

func emailSend(addr string) pipeline.Send {
	return pipeline.Send{AccountSID: "AC1", Channel: message.Email, Address: addr, Code: true, Service: "login"}
}

// An email domain is judged as an operator is, not as a prefix: one domain
// is the inbox of many users. A burst of unapproved codes to made-up
// addresses at it blocks nothing while it has no usual rate (anyone could
// otherwise block gmail.com for an app with a signup form); a flood at
// several times its usual rate with few approvals blocks that domain, and
// only it: other domains, and numbers, still go.
func TestPumpingBlocksAnEmailDomain(t *testing.T) {
	ctx := context.Background()
	clock := &simClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	g := guard.NewPumping(guard.PumpingConfig{Store: newMemStore(), Clock: clock})
	defer g.Stop()
	send := func(addr string, approve bool) error {
		t.Helper()
		s := emailSend(addr)
		if err := g.Allow(ctx, s); err != nil {
			return err
		}
		g.Sent(ctx, s, pipeline.Result{Verification: &verification.Change{New: true}})
		if approve {
			g.Approved(ctx, "AC1", s.To, s.Address)
		}
		return nil
	}
	// A fresh deployment: 200 made-up addresses in two minutes.
	for i := range 200 {
		if err := send(fmt.Sprintf("made.up.%d@mail.example", i), false); err != nil {
			t.Fatalf("code %d to made-up addresses at mail.example refused: %v", i, err)
		}
		clock.now = clock.now.Add(600 * time.Millisecond)
	}
	g.SyncNow(ctx)
	// An hour of ordinary use: two codes a minute at each domain, approved.
	for i := range 60 {
		for _, d := range []string{"pumped.example", "users.example"} {
			for j := range 2 {
				if err := send(fmt.Sprintf("u%d.%d@%s", i, j, d), true); err != nil {
					t.Fatalf("ordinary code to %s refused: %v", d, err)
				}
			}
		}
		clock.now = clock.now.Add(time.Minute)
		g.SyncNow(ctx)
	}
	// The flood: unapproved codes at pumped.example, 5 a second.
	var refused error
	for i := range 1000 {
		if refused = send(fmt.Sprintf("p%d@pumped.example", i), false); refused != nil {
			if i < 250 { // 300 in the window, with the ordinary codes before it
				t.Fatalf("blocked after %d codes; a domain is judged from 300 in the window", i)
			}
			break
		}
		if err := send(fmt.Sprintf("ok%d@users.example", i%50), true); err != nil && i%5 == 0 {
			t.Fatalf("code %d to users.example refused: %v", i, err)
		}
		clock.now = clock.now.Add(200 * time.Millisecond)
		if i%25 == 24 {
			g.SyncNow(ctx)
		}
	}
	e, ok := refused.(*otpgate.Error)
	if !ok || e.Code != guard.CodeBlocked || !strings.Contains(e.Message, "email addresses at pumped.example") || !strings.Contains(e.Message, "domain:pumped.example") {
		t.Fatalf("codes to pumped.example: %v", refused)
	}
	for _, addr := range []string{"new@users.example", "new@mail.example"} {
		if err := g.Allow(ctx, emailSend(addr)); err != nil {
			t.Fatalf("another domain: %v", err)
		}
	}
	if err := g.Allow(ctx, pipeline.Send{AccountSID: "AC1", To: mustNumber(t, "+962790000001"), Code: true}); err != nil {
		t.Fatalf("a number: %v", err)
	}
	if k, err := guard.ParseBlockKey("domain:pumped.example"); err != nil || k != "domain:pumped.example" {
		t.Fatalf("ParseBlockKey(domain:pumped.example) = %q, %v", k, err)
	}
	for _, bad := range []string{"domain:", "domain:a@b.example", "domain:no_dot"} {
		if _, err := guard.ParseBlockKey(bad); err == nil {
			t.Errorf("ParseBlockKey(%q) accepted", bad)
		}
	}
}

// One mailbox, one count: the per-address limit counts Victim+1@ and
// victim@ together.
func TestEmailLimitPerMailbox(t *testing.T) {
	l := guard.NewLimits(guard.LimitsConfig{})
	key := func(addr string) string {
		s := emailSend(addr)
		s.Ceilings.PerNumber = policy.Rate{Max: 3, Window: time.Hour}
		return l.Limits(s)[0].Key
	}
	if a, b := key("Victim+1@example.com"), key("victim@example.com"); a != b {
		t.Fatalf("Victim+1@ and victim@ count apart: %q, %q", a, b)
	}
	if a, b := key("victim@example.com"), key("victim@example.org"); a == b {
		t.Fatalf("two domains count as one: %q", a)
	}
}

// Geo permissions do not apply to email; the per-number limit keys an
// address as it keys a number, and its refusal masks the address.
func TestEmailGeoAndLimits(t *testing.T) {
	s := emailSend("jo@example.com")
	s.Ceilings = policy.Effective{Countries: "JO"}
	s.Countries = "SA"
	if err := (guard.Geo{}).Allow(context.Background(), s); err != nil {
		t.Fatalf("Geo refused an email: %v", err)
	}
	l := guard.NewLimits(guard.LimitsConfig{})
	s.Ceilings.PerNumber = policy.Rate{Max: 3, Window: time.Hour}
	limits := l.Limits(s)
	if len(limits) != 1 || !strings.HasSuffix(limits[0].Key, ":jo@example.com") {
		t.Fatalf("limits of an email: %+v", limits)
	}
	err := l.Refuse(s, limits[0], time.Now().Add(time.Minute), time.Now())
	if err == nil || strings.Contains(err.Error(), "jo@example.com") || !strings.Contains(err.Error(), "j***@example.com") || !strings.Contains(err.Error(), "3 emails were sent") {
		t.Fatalf("the refusal: %v", err)
	}
}
