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

// Unapproved codes to many addresses at one domain block that domain, and
// only it: other domains, and numbers, still go; approvals keep a domain
// open.
func TestPumpingBlocksAnEmailDomain(t *testing.T) {
	ctx := context.Background()
	clock := &simClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	g := guard.NewPumping(guard.PumpingConfig{Store: newMemStore(), Clock: clock})
	defer g.Stop()
	var refused error
	for i := range 40 {
		s := emailSend(fmt.Sprintf("u%d@pumped.example", i))
		if refused = g.Allow(ctx, s); refused != nil {
			break
		}
		g.Sent(ctx, s, pipeline.Result{Verification: &verification.Change{New: true}})
		// A domain of real users: as many codes, each approved.
		ok := emailSend(fmt.Sprintf("u%d@users.example", i))
		if err := g.Allow(ctx, ok); err != nil {
			t.Fatalf("code %d to users.example refused: %v", i, err)
		}
		g.Sent(ctx, ok, pipeline.Result{Verification: &verification.Change{New: true}})
		g.Approved(ctx, "AC1", ok.To, ok.Address)
		clock.now = clock.now.Add(time.Second)
	}
	e, ok := refused.(*otpgate.Error)
	if !ok || e.Code != guard.CodeBlocked || !strings.Contains(e.Message, "email addresses at pumped.example") || !strings.Contains(e.Message, "domain:pumped.example") {
		t.Fatalf("codes to pumped.example: %v", refused)
	}
	if err := g.Allow(ctx, emailSend("new@users.example")); err != nil {
		t.Fatalf("another domain: %v", err)
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
