package routing

import (
	"slices"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/otpgate"
)

func jordan(t *testing.T) *Table {
	t.Helper()
	tb, err := New([]Route{
		{Prefix: "+96279", Operator: "Zain", Connectors: []string{"zain", "agg"}, Senders: []string{"MyApp", "MyBank"}, DefaultSender: "MyApp"},
		{Prefix: "+96277", Operator: "Orange", Connectors: []string{"orange"}, Senders: []string{"MyApp"}},
		{Prefix: "+962", Connectors: []string{"agg"}},
		{Prefix: "+9627955", Operator: "Zain special", Connectors: []string{"agg"}},
	}, []string{"zain", "orange", "agg"})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestLongestPrefix(t *testing.T) {
	tb := jordan(t)
	for _, tt := range []struct {
		to   string
		want []string
	}{
		{"+962790320012", []string{"zain", "agg"}},
		{"+962795512345", []string{"agg"}}, // +9627955 is longer than +96279
		{"+962771234567", []string{"orange"}},
		{"+962781234567", []string{"agg"}}, // only +962 matches
		{"+447400123456", nil},
	} {
		if got := tb.Connectors(tt.to); !slices.Equal(got, tt.want) {
			t.Errorf("Connectors(%s) = %v, want %v", tt.to, got, tt.want)
		}
	}
	empty, _ := New(nil, []string{"a", "b"})
	if got := empty.Connectors("+447400123456"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("no routes: Connectors = %v, want every connector in order", got)
	}
}

func TestSender(t *testing.T) {
	tb := jordan(t)
	tests := []struct {
		name, to, from, want string
		code                 int
		mention              []string
	}{
		{"approved", "+962790320012", "MyBank", "MyBank", 0, nil},
		{"default when absent", "+962790320012", "", "MyApp", 0, nil},
		{"not approved", "+962790320012", "Other", "", otpgate.CodeSenderNotApproved, []string{`"Other"`, "Zain", "+96279", `"MyApp"`, "register"}},
		{"case matters", "+962771234567", "myapp", "", otpgate.CodeSenderNotApproved, []string{"Orange"}},
		{"absent without default", "+962771234567", "", "", otpgate.CodeInvalidParameter, []string{"'from'"}},
		{"route without sender list takes any", "+962781234567", "Anything", "Anything", 0, nil},
		{"no route", "+447400123456", "MyApp", "", otpgate.CodeNoRoute, []string{"+447400123456", "+96279"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tb.Sender(tt.to, tt.from)
			if tt.code == 0 {
				if err != nil || got != tt.want {
					t.Fatalf("Sender = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			e := otpgate.AsError(err)
			if e == nil || e.Code != tt.code || e.Kind != otpgate.KindInvalid {
				t.Fatalf("Sender error = %v, want code %d", err, tt.code)
			}
			for _, w := range tt.mention {
				if !strings.Contains(e.Error(), w) {
					t.Errorf("message %q does not mention %s", e.Error(), w)
				}
			}
		})
	}
	empty, _ := New(nil, []string{"a"})
	if got, err := empty.Sender("+447400123456", "Whatever"); err != nil || got != "Whatever" {
		t.Errorf("no routes: Sender = %q, %v; want any sender", got, err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name    string
		routes  []Route
		mention string
	}{
		{"bad prefix", []Route{{Prefix: "96279", Connectors: []string{"a"}}}, "prefix"},
		{"letters", []Route{{Prefix: "+9627x", Connectors: []string{"a"}}}, "prefix"},
		{"unknown connector", []Route{{Prefix: "+962", Connectors: []string{"nope"}}}, `"nope"`},
		{"no connectors", []Route{{Prefix: "+962"}}, "no connectors"},
		{"duplicate", []Route{{Prefix: "+962", Connectors: []string{"a"}}, {Prefix: "+962", Connectors: []string{"a"}}}, "same prefix"},
		{"default not approved", []Route{{Prefix: "+962", Connectors: []string{"a"}, Senders: []string{"X"}, DefaultSender: "Y"}}, "default_sender"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.routes, []string{"a"})
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("New error = %v, want one mentioning %s", err, tt.mention)
			}
		})
	}
}
