package smscsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/phone"
)

func mustPhones(tb testing.TB) *phone.Parser {
	tb.Helper()
	p, err := phone.NewParser("JO")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

type listing struct {
	Messages []map[string]any `json:"messages"`
}

// get asks the inbox for path and decodes its JSON.
func get(tb testing.TB, h http.Handler, method, target string) (int, listing, map[string]any) {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		tb.Fatalf("%s %s: Content-Type %q", method, target, ct)
	}
	var l listing
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		tb.Fatalf("%s %s: %v: %s", method, target, err, rec.Body)
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &l)
	return rec.Code, l, raw
}

func bodies(l listing) []string {
	var out []string
	for _, m := range l.Messages {
		out = append(out, m["body"].(string))
	}
	return out
}

// GET /messages answers as the sandbox inbox: a number in any spelling,
// newest first, the sandbox's fields.
func TestInboxList(t *testing.T) {
	in := NewInbox(0, mustPhones(t))
	at := time.Date(2026, 12, 6, 12, 0, 1, 0, time.UTC)
	add := func(dst string, ton byte, text string) {
		in.Add(Message{IDs: []string{"id-" + text}, SystemID: "otpgate", Source: "MyApp", SourceTON: 5,
			Dest: dst, DestTON: ton, Text: text, Encoding: "GSM-7", Parts: 1, At: at})
	}
	add("962790320012", 1, "first")
	add("962771234567", 1, "other number")
	add("0790320012", 0, "second, national form")
	add("12345", 0, "short code")
	in.Add(Message{IDs: []string{"x"}, Dest: "962790320012", DestTON: 1, Text: "incomplete", Parts: 2, Missing: []int{2}})

	for _, to := range []string{"962790320012", "+962790320012", "+962 79 032 0012", "00962790320012", "0790320012",
		"٠٧٩٠٣٢٠٠١٢", "790320012", " 962790320012" /* a '+' unescaped in a URL */} {
		t.Run(to, func(t *testing.T) {
			code, l, _ := get(t, in, "GET", "/messages?to="+url.QueryEscape(to))
			if want := []string{"second, national form", "first"}; code != 200 || !slices.Equal(bodies(l), want) {
				t.Fatalf("%d %q, want %q", code, bodies(l), want)
			}
		})
	}
	_, l, _ := get(t, in, "GET", "/messages?to=962790320012")
	want := map[string]any{
		"sid": "id-second, national form", "to": "+962790320012", "from": "MyApp", "body": "second, national form",
		"segments": 1.0, "encoding": "GSM-7", "created_at": "2026-12-06T12:00:01Z", "message_ids": []any{"id-second, national form"},
		"system_id": "otpgate", "data_coding": 0.0,
	}
	if got := l.Messages[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("entry %v\nwant  %v", got, want)
	}
	if _, l, _ := get(t, in, "GET", "/messages?to=12345"); !slices.Equal(bodies(l), []string{"short code"}) {
		t.Errorf("short code: %q", bodies(l))
	}
	if _, l, _ := get(t, in, "GET", "/messages"); len(l.Messages) != 4 || l.Messages[0]["body"] != "short code" {
		t.Errorf("every number: %q", bodies(l))
	}
	if _, l, _ := get(t, in, "GET", "/messages?to=962799999999"); l.Messages == nil || len(l.Messages) != 0 {
		t.Errorf("no messages: %v, want []", l.Messages)
	}
}

func TestInboxErrors(t *testing.T) {
	in := NewInbox(0, mustPhones(t))
	tests := []struct {
		method, target string
		status, code   int
	}{
		{"GET", "/messages?to=nobody", 400, 60200},
		{"GET", "/messages?to=", 400, 60200},
		{"POST", "/messages?to=0790320012", 405, 20004},
		{"GET", "/sandbox/messages?to=0790320012", 404, 20404},
		{"GET", "/", 404, 20404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			status, _, raw := get(t, in, tt.method, tt.target)
			if status != tt.status || raw["code"] != float64(tt.code) || raw["status"] != float64(tt.status) ||
				raw["message"] == "" || !strings.HasPrefix(raw["more_info"].(string), "https://") {
				t.Errorf("%d %v, want %d with code %d", status, raw, tt.status, tt.code)
			}
		})
	}
}

// The inbox keeps the last keep messages, each text at most MaxStoredText
// bytes, cut at a character.
func TestInboxBounds(t *testing.T) {
	in := NewInbox(3, nil)
	for i := range 5 {
		in.Add(Message{IDs: []string{fmt.Sprint(i)}, Dest: "962790320012", DestTON: 1, Text: fmt.Sprint(i), Encoding: "GSM-7", Parts: 1})
	}
	if _, l, _ := get(t, in, "GET", "/messages?to=%2B962790320012"); in.Len() != 3 || !slices.Equal(bodies(l), []string{"4", "3", "2"}) {
		t.Fatalf("kept %d: %q", in.Len(), bodies(l))
	}
	long := strings.Repeat("ب", MaxStoredText) // 2 bytes each
	in.Add(Message{IDs: []string{"long"}, Dest: "962790320012", DestTON: 1, Text: "x" + long, Encoding: "UCS-2", Parts: 30})
	_, l, _ := get(t, in, "GET", "/messages?to=962790320012")
	body := l.Messages[0]["body"].(string)
	if len(body) > MaxStoredText || len(body) < MaxStoredText-1 || !strings.HasPrefix(body, "xبب") || l.Messages[0]["truncated"] != true {
		t.Fatalf("stored %d bytes, truncated %v", len(body), l.Messages[0]["truncated"])
	}
	if _, ok := l.Messages[1]["truncated"]; ok {
		t.Fatal("a whole text is marked truncated")
	}
}

// Inbox.Add from many goroutines while listing: no race, none lost.
func TestInboxConcurrent(t *testing.T) {
	in := NewInbox(1000, mustPhones(t))
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 100 {
				in.Add(Message{IDs: []string{fmt.Sprint(g, i)}, Dest: "962790320012", DestTON: 1, Text: "t", Encoding: "GSM-7", Parts: 1})
			}
		}()
	}
	for range 20 {
		get(t, in, "GET", "/messages?to=0790320012")
	}
	for range 4 {
		<-done
	}
	if _, l, _ := get(t, in, "GET", "/messages?to=0790320012"); in.Len() != 400 || len(l.Messages) != listLimit {
		t.Fatalf("kept %d, listed %d", in.Len(), len(l.Messages))
	}
}
