package main

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	verificationSIDRE = regexp.MustCompile(`^VE[0-9a-f]{32}$`)
	messageSIDRE      = regexp.MustCompile(`^SM[0-9a-f]{32}$`)
)

// The README's flow: the exact curl body, the sandbox inbox, verify.
func TestSeedFlow(t *testing.T) {
	s := mustServe(t, nil)
	r := call(t, "POST", s.URL+"/2fa/send", s.SID, s.Token, "application/json",
		`{ "service" : "Restcomm", "from" : "MyApp", "to" : "962790320012", "body": "Your verification code is: {code}" }`)
	if r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	for key, want := range map[string]string{"service": "Restcomm", "to": "+962790320012", "from": "MyApp", "channel": "sms", "status": "pending", "operator": "Zain"} {
		if got := r.str(key); got != want {
			t.Errorf("send reply %s = %q, want %q", key, got, want)
		}
	}
	if !verificationSIDRE.MatchString(r.str("sid")) || !messageSIDRE.MatchString(r.str("message_sid")) {
		t.Errorf("send reply sids: sid %q message_sid %q", r.str("sid"), r.str("message_sid"))
	}
	if r.num("send_attempts") != 1 {
		t.Errorf("send_attempts = %d, want 1", r.num("send_attempts"))
	}
	created, err1 := time.Parse(time.RFC3339, r.str("created_at"))
	expires, err2 := time.Parse(time.RFC3339, r.str("expires_at"))
	if err1 != nil || err2 != nil || expires.Sub(created) != 10*time.Minute {
		t.Errorf("created_at %q expires_at %q: want RFC 3339, 10 minutes apart", r.str("created_at"), r.str("expires_at"))
	}
	if strings.Contains(r.Raw, "code\"") {
		t.Errorf("send reply must not carry the code: %s", r.Raw)
	}

	// The inbox answers to any spelling of the number, with the real body.
	codes := s.codes(t, "0790 320 012", 1)
	code := codes[0]
	inbox := call(t, "GET", s.URL+"/sandbox/messages?to=%2B962790320012", s.SID, s.Token, "", "")
	msg := inbox.Body["messages"].([]any)[0].(map[string]any)
	if msg["body"] != "Your verification code is: "+code || msg["from"] != "MyApp" || msg["encoding"] != "GSM-7" || msg["segments"] != 1.0 || msg["sid"] != r.str("message_sid") {
		t.Errorf("sandbox message = %v", msg)
	}

	wrong := s.check(t, "Restcomm", "962790320012", wrongCode(code))
	if wrong.Status != 200 || wrong.str("status") != "pending" || wrong.Body["valid"] != false || wrong.num("attempts_remaining") != 4 {
		t.Fatalf("wrong code: %d %s", wrong.Status, wrong.Raw)
	}
	// Users type codes with spaces and Arabic-Indic digits; numbers in local form.
	typed := toArabicIndic(code[:3]) + " " + code[3:]
	ok := s.postForm(t, "/2fa/verify", url.Values{"service": {"Restcomm"}, "number": {"079-032-0012"}, "code": {typed}})
	if ok.Status != 200 || ok.str("status") != "approved" || ok.Body["valid"] != true || ok.str("sid") != r.str("sid") {
		t.Fatalf("right code: %d %s", ok.Status, ok.Raw)
	}
	again := s.check(t, "Restcomm", "+962790320012", code)
	if again.Status != 404 || again.num("code") != 20404 {
		t.Fatalf("approved verification checked again: %d %s, want 404 code 20404", again.Status, again.Raw)
	}
}

func toArabicIndic(digits string) string {
	var b strings.Builder
	for _, r := range digits {
		b.WriteRune('٠' + (r - '0'))
	}
	return b.String()
}

func TestResendKeepsEveryCodeValid(t *testing.T) {
	s := mustServe(t, nil)
	first := s.send(t, "app", "0791234567")
	second := s.send(t, "app", "+962 79 123 4567")
	if first.Status != 201 || second.Status != 201 {
		t.Fatalf("sends: %d %s / %d %s", first.Status, first.Raw, second.Status, second.Raw)
	}
	if second.str("sid") != first.str("sid") || second.num("send_attempts") != 2 {
		t.Fatalf("a second send while pending must stay in the same verification: %s then %s", first.str("sid"), second.Raw)
	}
	codes := s.codes(t, "0791234567", 2) // newest first
	// The first code still works after the second was sent.
	r := s.check(t, "app", "0791234567", codes[1])
	if r.Status != 200 || r.str("status") != "approved" {
		t.Fatalf("first code after a resend: %d %s", r.Status, r.Raw)
	}
	// A new verification starts after approval; at most 5 sends per verification.
	for i := 1; i <= 5; i++ {
		if r := s.send(t, "app", "0791234567"); r.Status != 201 || r.num("send_attempts") != i {
			t.Fatalf("send %d: %d %s", i, r.Status, r.Raw)
		}
	}
	r = s.send(t, "app", "0791234567")
	if r.Status != 429 || r.num("code") != 60203 {
		t.Fatalf("sixth send: %d %s, want 429 code 60203", r.Status, r.Raw)
	}
}

func TestMaxCheckAttempts(t *testing.T) {
	s := mustServe(t, nil)
	if r := s.send(t, "app", "0771234567"); r.Status != 201 || r.str("operator") != "Orange" {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	code := s.codes(t, "0771234567", 1)[0]
	bad := wrongCode(code)
	for i := 1; i <= 5; i++ {
		r := s.check(t, "app", "0771234567", bad)
		wantStatus := "pending"
		if i == 5 {
			wantStatus = "max_attempts_reached"
		}
		if r.Status != 200 || r.str("status") != wantStatus || r.num("attempts_remaining") != 5-i {
			t.Fatalf("wrong code %d: %d %s", i, r.Status, r.Raw)
		}
	}
	// Locked: even the right code is refused now, and no new code can be sent.
	if r := s.check(t, "app", "0771234567", code); r.Status != 429 || r.num("code") != 60202 {
		t.Fatalf("right code after 5 wrong ones: %d %s, want 429 code 60202", r.Status, r.Raw)
	}
	if r := s.send(t, "app", "0771234567"); r.Status != 429 || r.num("code") != 60203 {
		t.Fatalf("send to a locked number: %d %s, want 429 code 60203", r.Status, r.Raw)
	}
}

// 100 concurrent wrong guesses on one verification: at most 5 are evaluated.
func TestConcurrentGuessesAreCapped(t *testing.T) {
	s := mustServe(t, nil)
	if r := s.send(t, "app", "0781234567"); r.Status != 201 || r.str("operator") != "Umniah" {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	code := s.codes(t, "0781234567", 1)[0]
	bad := wrongCode(code)
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.check(t, "app", "0781234567", bad)
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] != 5 || statuses[429] != 95 {
		t.Fatalf("100 concurrent wrong guesses: replies by status %v, want 5 evaluated (200) and 95 refused (429)", statuses)
	}
	if r := s.check(t, "app", "0781234567", code); r.Status != 429 {
		t.Fatalf("right code after the burst: %d %s, want 429", r.Status, r.Raw)
	}
}

func TestExpiry(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s := mustServe(t, clock)
	first := s.send(t, "app", "0791111111")
	if first.Status != 201 || first.str("expires_at") != "2026-11-25T12:10:00Z" {
		t.Fatalf("send: %d %s", first.Status, first.Raw)
	}
	code := s.codes(t, "0791111111", 1)[0]
	clock.Advance(10*time.Minute - time.Second)
	clock.Advance(time.Second)
	if r := s.check(t, "app", "0791111111", code); r.Status != 404 || r.num("code") != 20404 {
		t.Fatalf("right code at expiry: %d %s, want 404 code 20404", r.Status, r.Raw)
	}
	second := s.send(t, "app", "0791111111")
	if second.Status != 201 || second.str("sid") == first.str("sid") || second.num("send_attempts") != 1 {
		t.Fatalf("send after expiry must start a new verification: %s", second.Raw)
	}
}

func TestCodeValidUntilJustBeforeExpiry(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s := mustServe(t, clock)
	if r := s.send(t, "app", "0792222222"); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	code := s.codes(t, "0792222222", 1)[0]
	clock.Advance(10*time.Minute - time.Second)
	if r := s.check(t, "app", "0792222222", code); r.Status != 200 || r.str("status") != "approved" {
		t.Fatalf("right code 1 s before expiry: %d %s", r.Status, r.Raw)
	}
}

func TestTenantIsolation(t *testing.T) {
	s := mustServe(t, nil)
	other := mustCreateAccount(t, s)
	if r := s.send(t, "app", "0793333333"); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	code := s.codes(t, "0793333333", 1)[0]
	asOther := func(path, body string) response {
		return call(t, "POST", s.URL+path, other.SID, other.Token, "application/json", body)
	}
	// Another account cannot check, or burn attempts on, this verification.
	for range 10 {
		if r := asOther("/2fa/verify", `{"service":"app","number":"0793333333","code":"`+wrongCode(code)+`"}`); r.Status != 404 {
			t.Fatalf("other account's check: %d %s, want 404", r.Status, r.Raw)
		}
	}
	if r := asOther("/2fa/verify", `{"service":"app","number":"0793333333","code":"`+code+`"}`); r.Status != 404 {
		t.Fatalf("other account with the right code: %d %s, want 404", r.Status, r.Raw)
	}
	// Nor see its messages.
	r := call(t, "GET", s.URL+"/sandbox/messages?to=0793333333", other.SID, other.Token, "", "")
	if msgs := r.Body["messages"].([]any); r.Status != 200 || len(msgs) != 0 {
		t.Fatalf("other account's sandbox: %d %s, want no messages", r.Status, r.Raw)
	}
	// The owner's attempts are untouched.
	ok := s.check(t, "app", "0793333333", wrongCode(code))
	if ok.num("attempts_remaining") != 4 {
		t.Fatalf("owner's attempts after the other account's checks: %s", ok.Raw)
	}
}
