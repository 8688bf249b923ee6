package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/message"
)

// Loose input, as a security review tried it: control characters, line
// and paragraph separators and invisible characters are refused in sender
// IDs, service names and SMS bodies, naming the field and the character's position; bodies keep
// newlines, tabs and the marks Arabic text uses; names are trimmed and
// required; a number pasted out of Arabic text, with its bidi marks, still
// works; /sandbox/inbound bounds its To.
func TestInputHygiene(t *testing.T) {
	s := mustServe(t, nil)
	msgs := "/2010-04-01/Accounts/" + s.SID + "/Messages.json"
	send := func(service, from, to, body string) response {
		t.Helper()
		return s.postJSON(t, "/2fa/send", map[string]string{"service": service, "from": from, "to": to, "body": body})
	}
	for _, tc := range []struct {
		name               string
		r                  response
		status             int
		mustSay1, mustSay2 string
	}{
		{"CR LF in a sender ID", send("login", "My\r\nApp", "0790360001", ""), 400, "'from'", "U+000D at character 3"},
		{"a bidi override in a service name", send("login\u202E", "MyApp", "0790360001", ""), 400, "'service'", "U+202E at character 6"},
		{"a zero-width space in a service name", send("lo\u200Bgin", "MyApp", "0790360001", ""), 400, "'service'", "U+200B"},
		{"a line separator in a sender ID", send("login", "My\u2028App", "0790360001", ""), 400, "'from'", "U+2028 at character 3, a line separator"},
		{"a line separator in a service name", send("log\u2028in", "MyApp", "0790360001", ""), 400, "'service'", "U+2028 at character 4"},
		{"a Hangul filler as a service name", send("\u3164", "MyApp", "0790360001", ""), 400, "'service'", "U+3164 at character 1, a blank filler"},
		{"a paragraph separator in a message", s.postForm(t, msgs, url.Values{"To": {"0790360001"}, "From": {"MyApp"}, "Body": {"a\u2029b"}}), 400, "'Body'", "U+2029 at character 2"},
		{"a whitespace-only service name", send("   ", "MyApp", "0790360001", ""), 400, "'service'", "Missing"},
		{"a bidi override in a template", send("login", "MyApp", "0790360001", "Code {code} \u202Eexe.gnp"), 400, "'body'", "U+202E at character 13"},
		{"NUL in a message", s.postForm(t, msgs, url.Values{"To": {"0790360001"}, "From": {"MyApp"}, "Body": {"a\x00b"}}), 400, "'Body'", "U+0000 at character 2"},
		{"a bell in a message", s.postForm(t, msgs, url.Values{"To": {"0790360001"}, "From": {"MyApp"}, "Body": {"ring\a"}}), 400, "'Body'", "U+0007"},
		{"a lone CR in a message", s.postForm(t, msgs, url.Values{"To": {"0790360001"}, "From": {"MyApp"}, "Body": {"a\rb"}}), 400, "'Body'", "U+000D at character 2"},
		{"a 5,000-character sandbox To", s.postForm(t, "/sandbox/inbound", url.Values{"From": {"0790360002"}, "To": {strings.Repeat("A", 5000)}, "Body": {"hi"}}), 400, "'To'", "20 characters"},
		{"CR LF in a sandbox To", s.postForm(t, "/sandbox/inbound", url.Values{"From": {"0790360002"}, "To": {"My\r\nApp"}, "Body": {"hi"}}), 400, "'To'", "U+000D"},
	} {
		if tc.r.Status != tc.status || !strings.Contains(tc.r.str("message"), tc.mustSay1) || !strings.Contains(tc.r.str("message"), tc.mustSay2) {
			t.Errorf("%s: %d %s, want %d saying %s and %s", tc.name, tc.r.Status, tc.r.Raw, tc.status, tc.mustSay1, tc.mustSay2)
		}
	}
	// What stays accepted.
	if r := s.postForm(t, msgs, url.Values{"To": {"0790360003"}, "From": {"MyApp"}, "Body": {"line 1\r\nline 2\twith a tab"}}); r.Status != 201 {
		t.Errorf("CR LF and a tab in a message: %d %s", r.Status, r.Raw)
	}
	if r := s.postForm(t, msgs, url.Values{"To": {"0790360003"}, "From": {"MyApp"}, "Body": {"رمز\u200F التحقق\u200C: 1234"}}); r.Status != 201 {
		t.Errorf("RLM and ZWNJ in Arabic text: %d %s", r.Status, r.Raw)
	}
	if r := send("  login  ", "MyApp", "\u200F+962 79 036 0004\u200E", ""); r.Status != 201 || r.str("service") != "login" || r.str("to") != "+962790360004" {
		t.Errorf("a padded service name and a number with bidi marks: %d %s", r.Status, r.Raw)
	}
}

// The sandbox inbox follows the message log: redacting a message empties
// its sandbox copy, deleting it deletes the copy; and /sandbox/* is served
// only where the sandbox delivers.
func TestSandboxFollowsTheLog(t *testing.T) {
	s := mustServe(t, nil)
	msgs := "/2010-04-01/Accounts/" + s.SID + "/Messages"
	var sids []string
	for i := range 2 {
		r := s.postForm(t, msgs+".json", url.Values{"To": {"0790370001"}, "From": {"MyApp"}, "Body": {"private text " + string(rune('A'+i))}})
		if r.Status != 201 {
			t.Fatal(r.Raw)
		}
		sids = append(sids, r.str("sid"))
	}
	s.codes(t, "0790370001", 0)
	for _, sid := range sids {
		s.waitMessage(t, sid, message.Delivered)
	}
	if r := s.postForm(t, msgs+"/"+sids[0]+".json", url.Values{"Body": {""}}); r.Status != 200 {
		t.Fatalf("redact: %d %s", r.Status, r.Raw)
	}
	del, _ := http.NewRequest("DELETE", s.URL+msgs+"/"+sids[1]+".json", nil)
	del.SetBasicAuth(s.SID, s.Token)
	if resp, err := http.DefaultClient.Do(del); err != nil || resp.StatusCode != 204 {
		t.Fatalf("delete: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	r := call(t, "GET", s.URL+"/sandbox/messages?to=0790370001", s.SID, s.Token, "", "")
	if strings.Contains(r.Raw, "private text") || strings.Contains(r.Raw, sids[1]) || !strings.Contains(r.Raw, sids[0]) {
		t.Fatalf("the sandbox after a redaction and a deletion: %s", r.Raw)
	}
	smpp := mustServeSMPP(t, "smpp://otpgate:secret@"+freeAddr(t)+"?name=zain")
	if r := call(t, "GET", smpp.URL+"/sandbox/messages?to=0790370001", smpp.SID, smpp.Token, "", ""); r.Status != 404 {
		t.Fatalf("/sandbox/messages on a server delivering over SMPP: %d %s", r.Status, r.Raw)
	}
}
