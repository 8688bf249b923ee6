package webhook

import (
	"testing"
	"time"
)

func TestLimitsCaps(t *testing.T) {
	l := newLimits(2, 3, 5, time.Second, time.Minute)
	now := time.Now()
	for i, tc := range []struct {
		host, account string
		want          bool
	}{
		{"a:80", "AC1", true},
		{"a:80", "AC1", true},
		{"a:80", "AC2", false}, // host a at its cap
		{"b:80", "AC1", true},
		{"c:80", "AC1", false}, // AC1 at its cap
		{"c:80", "AC2", true},
	} {
		if ok, _ := l.start(now, tc.host, tc.account); ok != tc.want {
			t.Fatalf("start %d (%s for %s) = %v, want %v", i, tc.host, tc.account, ok, tc.want)
		}
	}
	l.finish(now, "a:80", "AC1", succeeded)
	if ok, _ := l.start(now, "a:80", "AC2"); !ok {
		t.Fatal("a finished POST did not free its host's place")
	}
}

func TestLimitsCircuit(t *testing.T) {
	l := newLimits(4, 8, 3, time.Second, 3*time.Second)
	now := time.Now()
	post := func(r result) (opened time.Duration) {
		t.Helper()
		ok, openUntil := l.start(now, "h:443", "AC1")
		if !ok {
			t.Fatalf("at %v: a POST was refused (open until %v)", now, openUntil)
		}
		d, _ := l.finish(now, "h:443", "AC1", r)
		return d
	}
	refused := func() time.Time {
		t.Helper()
		ok, openUntil := l.start(now, "h:443", "AC1")
		if ok {
			t.Fatalf("at %v: a POST was let through an open circuit", now)
		}
		return openUntil
	}

	post(failed)
	post(failed)
	post(notPosted) // says nothing of the host
	if d := post(failed); d != time.Second {
		t.Fatalf("the third failure in a row opened the circuit for %v, want 1s", d)
	}
	if until := refused(); !until.Equal(now.Add(time.Second)) {
		t.Fatalf("open until %v, want %v", until, now.Add(time.Second))
	}
	if ok, _ := l.start(now, "other:443", "AC1"); !ok {
		t.Fatal("another host's POST was refused")
	}
	l.finish(now, "other:443", "AC1", succeeded)

	// Half open: one trial at a time; failing, it opens for twice as long,
	// up to the maximum.
	for _, want := range []time.Duration{2 * time.Second, 3 * time.Second, 3 * time.Second} {
		now = refused()
		ok, _ := l.start(now, "h:443", "AC1")
		if !ok {
			t.Fatal("the half-open trial was refused")
		}
		if until := refused(); !until.IsZero() {
			t.Fatalf("a second POST during the trial: refused until %v, want refused until the trial ends", until)
		}
		if d, _ := l.finish(now, "h:443", "AC1", failed); d != want {
			t.Fatalf("the failed trial opened the circuit for %v, want %v", d, want)
		}
	}
	now = refused()
	post(succeeded)
	post(failed)
	post(succeeded) // closed: failures are counted from zero again
	post(failed)
	if d := post(failed); d != 0 {
		t.Fatalf("two failures after a success opened the circuit for %v", d)
	}
}
