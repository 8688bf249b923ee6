package guard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/ratelimit"
)

func mustNumber(t *testing.T, s string) phone.Number {
	t.Helper()
	p, err := phone.NewParser("JO")
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Geo permissions: the ceiling bounds every list; within it, a service's
// list or else the account's decides; the refusal names the list that
// refused and who can change it, as 403 for a code and 400 for a message.
func TestGeoWithinCeiling(t *testing.T) {
	uk, jo, sa := mustNumber(t, "+447400123456"), mustNumber(t, "+962790000001"), mustNumber(t, "+966501234567")
	for _, c := range []struct {
		name                      string
		ceiling, account, service string
		to                        phone.Number
		code                      bool
		allowed                   bool
		says                      string
	}{
		{"home, default", "JO", "", "", jo, true, true, ""},
		{"beyond the ceiling", "JO", "", "", uk, true, false, "beyond this account's ceiling, which the operator of this otpgate set to JO only"},
		{"beyond the ceiling, a message", "JO", "", "", uk, false, false, "otpgate policy set"},
		{"the account narrowed", "JO,SA", "JO", "", sa, true, false, "not enabled for this account, which sends to JO only; add it with POST /guard/countries"},
		{"within the account's list", "JO,SA", "SA", "", sa, true, true, ""},
		{"a service's own list", "JO,SA", "JO", "SA", sa, true, true, ""},
		{"a service's list, narrower", "JO,SA", "", "SA", jo, true, false, "not enabled for this service"},
		{"a list wider than a ceiling narrowed since", "JO", "*", "GB", uk, true, false, "beyond this account's ceiling"},
		{"any country", "*", "", "", uk, false, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := pipeline.Send{AccountSID: "AC1", To: c.to, Code: c.code, Countries: c.service,
				Ceilings: policy.Effective{Countries: c.ceiling}, AccountCountries: c.account}
			err := guard.Geo{}.Allow(context.Background(), s)
			if c.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e := otpgate.AsError(err)
			if e == nil || e.Code != otpgate.CodeGeoPermission || !strings.Contains(e.Error(), c.says) {
				t.Fatalf("got %v; want code 60605 saying %q", err, c.says)
			}
			if want := otpgate.KindInvalid; c.code && e.Kind != otpgate.KindForbidden || !c.code && e.Kind != want {
				t.Fatalf("kind %v for code=%v", e.Kind, c.code)
			}
		})
	}
}

// The messages API ceiling refuses messages, never codes.
func TestMessagesAPICeiling(t *testing.T) {
	codesOnly := policy.Effective{Messages: policy.MessagesCodes}
	if err := guard.MessagesAPI(context.Background(), pipeline.Send{AccountSID: "AC1", Code: true, Ceilings: codesOnly}); err != nil {
		t.Fatalf("a code of a codes-only account: %v", err)
	}
	err := guard.MessagesAPI(context.Background(), pipeline.Send{AccountSID: "AC1", Ceilings: codesOnly})
	if e := otpgate.AsError(err); e == nil || e.Kind != otpgate.KindForbidden || !strings.Contains(e.Message, "verification codes only") {
		t.Fatalf("a message of a codes-only account: %v", err)
	}
	if err := guard.MessagesAPI(context.Background(), pipeline.Send{AccountSID: "AC1", Ceilings: policy.Effective{Messages: policy.MessagesAny}}); err != nil {
		t.Fatalf("a message of an account allowed any: %v", err)
	}
}

// Every SMS counts against its account's limit per number, taken from its
// ceilings; the refusal says whose and when.
func TestLimitsFromCeilings(t *testing.T) {
	l := guard.NewLimits(guard.LimitsConfig{})
	ceilings := policy.Effective{PerNumber: policy.Rate{Max: 3, Window: time.Hour}, DailyBudget: 10000}
	msg := pipeline.Send{AccountSID: "AC1", To: mustNumber(t, "+962790000001"), Ceilings: ceilings}
	code := msg
	code.Code, code.Service = true, "login"
	for _, s := range []pipeline.Send{msg, code} {
		keys := map[string]ratelimit.Limit{}
		for _, lim := range l.Limits(s) {
			keys[lim.Key[:2]] = lim
		}
		if len(keys) != 1 || keys["n:"].Max != 3 || keys["n:"].Key != "n:AC1:+962790000001" {
			t.Fatalf("limits of a send (code %v): %+v", s.Code, keys)
		}
	}
	off := msg
	off.Ceilings = policy.Effective{}
	if got := l.Limits(off); len(got) != 0 {
		t.Fatalf("limits with no per-number limit: %+v", got)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	err := l.Refuse(msg, ratelimit.Limit{Key: "n:AC1:+962790000001", Max: 3, Window: time.Hour}, now.Add(time.Minute), now)
	if e := otpgate.AsError(err); e == nil || e.Code != otpgate.CodeMaxSendAttempts || !strings.Contains(e.Message, "codes and messages to +96279*****01") {
		t.Fatalf("the per-number refusal of a message: %#v", err)
	}
}
