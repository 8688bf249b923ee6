package api

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/otpgate/otpgate/internal/otpgate"
)

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    map[string]string
		errCode int
		field   string
	}{
		{"strings", `{"to":"+962790320012","service":"app"}`, map[string]string{"to": "+962790320012", "service": "app"}, 0, ""},
		{"number kept as written", `{"to":962790320012}`, map[string]string{"to": "962790320012"}, 0, ""},
		{"big number not rounded", `{"to":96279032001299999}`, map[string]string{"to": "96279032001299999"}, 0, ""},
		{"null is absent", `{"body":null}`, map[string]string{"body": ""}, 0, ""},
		{"unicode", `{"body":"رمزك {code}"}`, map[string]string{"body": "رمزك {code}"}, 0, ""},
		{"bool", `{"to":true}`, nil, otpgate.CodeInvalidParameter, "to"},
		{"object", `{"to":{"a":1}}`, nil, otpgate.CodeInvalidParameter, "to"},
		{"array", `[]`, nil, otpgate.CodeMalformedBody, ""},
		{"null body", `null`, nil, otpgate.CodeMalformedBody, ""},
		{"empty", ``, nil, otpgate.CodeMalformedBody, ""},
		{"truncated", `{"to":"0790`, nil, otpgate.CodeMalformedBody, ""},
		{"two objects", `{"a":"b"}{"c":"d"}`, nil, otpgate.CodeMalformedBody, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := DecodeJSON([]byte(tt.body))
			if tt.errCode != 0 {
				e := otpgate.AsError(err)
				if e == nil || e.Code != tt.errCode || e.Field != tt.field {
					t.Fatalf("DecodeJSON(%q) error = %#v, want code %d field %q", tt.body, err, tt.errCode, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeJSON(%q): %v", tt.body, err)
			}
			for k, v := range tt.want {
				if f.Get(k) != v {
					t.Errorf("field %s = %q, want %q", k, f.Get(k), v)
				}
			}
		})
	}
}

func TestFieldsCapitalisedNames(t *testing.T) {
	f, err := DecodeForm([]byte("To=%2B962790320012&From=MyApp&service=x"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Get("to") != "+962790320012" || f.Get("from") != "MyApp" || f.Get("service") != "x" {
		t.Fatalf("fields = %v", f)
	}
}

// FuzzDecodeJSON: any input decodes or fails with an *otpgate.Error; never
// panics; a decoded object's string values match what encoding/json reads.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"to":"0790320012"}`, `{"to":962790320012,"code":123456}`, `{"a":null}`, `[]`, `{"a":{"b":1}}`, `{"a":"\u0000"}`, `{"a":1e400}`, "{\"a\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := DecodeJSON(body)
		if err != nil {
			if otpgate.AsError(err) == nil {
				t.Fatalf("error of another type: %T %v", err, err)
			}
			return
		}
		var ref map[string]any
		if json.Unmarshal(body, &ref) != nil {
			// DecodeJSON accepted what encoding/json refuses: only trailing
			// whitespace is allowed to differ.
			t.Fatalf("accepted %q which encoding/json refuses", body)
		}
		for k, v := range ref {
			if s, ok := v.(string); ok && fields[k] != s {
				t.Fatalf("field %q = %q, encoding/json reads %q", k, fields[k], s)
			}
		}
	})
}

// FuzzDecodeForm: never panics; every value is what net/url reads.
func FuzzDecodeForm(f *testing.F) {
	for _, s := range []string{"to=0790320012&code=123456", "a=%zz", "a=1&a=2", ";", "=&=", "to=%D9%A0"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := DecodeForm(body)
		if err != nil {
			if otpgate.AsError(err) == nil {
				t.Fatalf("error of another type: %T %v", err, err)
			}
			return
		}
		vals, _ := url.ParseQuery(string(body))
		for k, v := range vals {
			if len(v) > 0 && fields[k] != v[0] {
				t.Fatalf("field %q = %q, want %q", k, fields[k], v[0])
			}
		}
	})
}
