package api

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/otpgate/otpgate/internal/otpgate"
)

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    map[string]string
		errCode int
		field   string
		message string // the whole error message, when errCode is set
	}{
		{"strings", `{"to":"+962790320012","service":"app"}`, map[string]string{"to": "+962790320012", "service": "app"}, 0, "", ""},
		{"number kept as written", `{"to":962790320012}`, map[string]string{"to": "962790320012"}, 0, "", ""},
		{"big number not rounded", `{"to":96279032001299999}`, map[string]string{"to": "96279032001299999"}, 0, "", ""},
		{"null is absent", `{"body":null}`, map[string]string{"body": ""}, 0, "", ""},
		{"unicode", `{"body":"رمزك {code}"}`, map[string]string{"body": "رمزك {code}"}, 0, "", ""},
		{"boolean as its word", `{"transactional":true,"x":false}`, map[string]string{"transactional": "true", "x": "false"}, 0, "", ""},
		{"object", `{"to":{"a":1}}`, nil, otpgate.CodeInvalidParameter, "to",
			`Invalid 'to': it must be a string, a number or a boolean, not an object`},
		{"list", `{"to":["0790320012"]}`, nil, otpgate.CodeInvalidParameter, "to",
			`Invalid 'to': it must be a string, a number or a boolean, not a list`},
		{"number out of range", `{"to":1e400}`, nil, otpgate.CodeInvalidParameter, "to",
			`Invalid 'to': 1e400 is not a number that can be used here (it is out of range); send it as a string, in double quotes`},
		{"long number out of range", `{"ttl":-` + strings.Repeat("9", 400) + `}`, nil, otpgate.CodeInvalidParameter, "ttl",
			`Invalid 'ttl': -9999999999999999999999999999999… is not a number that can be used here (it is out of range); send it as a string, in double quotes`},
		{"array", `[]`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body: it must be a JSON object like {"to": "+962790320012", ...}`},
		{"null body", `null`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body: it must be a JSON object, not null`},
		{"empty", ``, nil, otpgate.CodeMalformedBody, "",
			`Empty JSON body: send a JSON object like {"to": "+962790320012", ...}`},
		{"truncated", `{"to":"0790`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body: it ends at byte 11 before the JSON object is complete; send a JSON object like {"to": "+962790320012", ...}`},
		{"a vertical tab after the object", "{\"a\":\"b\"}\v", nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body: unexpected data after the JSON object at byte 9`},
		{"a no-break space after the object", "{\"a\":\"b\"}\u00a0", nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body: unexpected data after the JSON object at byte 9`},
		{"JSON white space after the object", "{\"a\":\"b\"} \t\r\n", map[string]string{"a": "b"}, 0, "", ""},
		{"two objects", `{"a":"b"}{"c":"d"}`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body: unexpected data after the JSON object at byte 9`},
		{"bare word", `{"to":x}`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body at byte 7: unexpected 'x'; send a JSON object like {"to": "+962790320012", ...}, with names and strings in double quotes`},
		{"unquoted name", `{to:"0790320012"}`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body at byte 2: unexpected 't'; send a JSON object like {"to": "+962790320012", ...}, with names and strings in double quotes`},
		{"trailing comma", `{"to":"0790320012",}`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body at byte 20: unexpected '}'; send a JSON object like {"to": "+962790320012", ...}, with names and strings in double quotes`},
		{"Arabic digit outside a string", `{"to":١}`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body at byte 7: unexpected '١' (U+0661); send a JSON object like {"to": "+962790320012", ...}, with names and strings in double quotes`},
		{"not UTF-8 outside a string", "{\"to\":\xff}", nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body at byte 7: unexpected byte 0xFF; send a JSON object like {"to": "+962790320012", ...}, with names and strings in double quotes`},
		{"newline in a string", "{\"body\":\"line 1\nline 2\"}", nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body at byte 16: unexpected U+000A inside a string; a JSON string holds control characters escaped, as \n for a newline and \t for a tab`},
		{"unknown escape", `{"body":"a\x"}`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body at byte 12: \x in a string is not an escape; JSON strings escape only \" \\ \/ \b \f \n \r \t and \uXXXX`},
		{"a backslash before a tab", "{\"body\":\"a\\\t\"}", nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body at byte 12: a backslash before U+0009 in a string is not an escape; JSON strings escape only \" \\ \/ \b \f \n \r \t and \uXXXX`},
		{"bad \\u escape", `{"body":"\u12G4"}`, nil, otpgate.CodeMalformedBody, "",
			`Malformed JSON body at byte 14: unexpected 'G' in a \u escape, which takes four hexadecimal digits`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := DecodeJSON([]byte(tt.body))
			if tt.errCode != 0 {
				e := otpgate.AsError(err)
				if e == nil || e.Code != tt.errCode || e.Field != tt.field {
					t.Fatalf("DecodeJSON(%q) error = %#v, want code %d field %q", tt.body, err, tt.errCode, tt.field)
				}
				if e.Message != tt.message {
					t.Errorf("DecodeJSON(%q) says\n%s\nwant\n%s", tt.body, e.Message, tt.message)
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

func TestDecodeForm(t *testing.T) {
	for _, tc := range []struct{ name, body, message string }{
		{"a bad percent-escape", "to=%2B962790320012&body=100%zz", `Malformed form body at byte 28: "%zz" is not a percent-escape (a '%' and two hexadecimal digits); write a literal % as %25`},
		{"a cut percent-escape", "to=0790320012&body=50%", `Malformed form body at byte 22: "%" is not a percent-escape (a '%' and two hexadecimal digits); write a literal % as %25`},
		{"a semicolon", "to=0790320012;body=hi", `Malformed form body at byte 14: fields are separated by '&', not ';' (write a literal ; as %3B)`},
		{"too many fields", strings.Repeat("a=1&", 10001), `Malformed form body: it has more than 10000 fields`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeForm([]byte(tc.body))
			e := otpgate.AsError(err)
			if e == nil || e.Code != otpgate.CodeMalformedBody || e.Message != tc.message {
				t.Fatalf("DecodeForm(%.40q) = %v, want %s", tc.body, err, tc.message)
			}
		})
	}
}

// A body that cannot be read to its end (a connection reset, a malformed
// chunk) is answered in otpgate's words, not the reader's.
func TestDecodeUnreadableBody(t *testing.T) {
	r := httptest.NewRequest("POST", "/2fa/send", iotest.ErrReader(errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: connection reset by peer")))
	r.Header.Set("Content-Type", "application/json")
	_, err := Decode(httptest.NewRecorder(), r)
	e := otpgate.AsError(err)
	want := "Request body could not be read to its end: the client closed the connection, or sent a malformed chunked body"
	if e == nil || e.Code != otpgate.CodeMalformedBody || e.Message != want {
		t.Fatalf("Decode = %v, want %s", err, want)
	}
}

// goWords are what Go's parsers say and otpgate's messages must not: the
// package that spoke, its phrasing, or a Go type name.
var goWords = []string{"strconv", "json:", "invalid character", "looking for beginning", "EOF",
	"invalid URL escape", "semicolon separator", "query parameters", "float64", "int64", "map[", "RawMessage", "interface {", "[]byte"}

// mustSpeakPlainly fails the test if err's message carries Go's words.
func mustSpeakPlainly(t *testing.T, input []byte, err error) {
	t.Helper()
	e := otpgate.AsError(err)
	if e == nil {
		t.Fatalf("error of another type: %T %v", err, err)
	}
	for _, w := range goWords {
		if strings.Contains(e.Message, w) {
			t.Fatalf("the error for %q says %q, Go's words: %s", input, w, e.Message)
		}
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

// FuzzDecodeJSON: any input decodes or fails with an *otpgate.Error in
// otpgate's words (no Go parser text); never panics; a decoded object's
// string values match what encoding/json reads.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"to":"0790320012"}`, `{"to":962790320012,"code":123456}`, `{"a":null}`, `[]`, `{"a":{"b":1}}`, `{"a":"\u0000"}`, `{"a":1e400}`, "{\"a\":\"\xff\"}",
		`{"a":x}`, `{"a":"\x"}`, `{"a":"\u12G4"}`, "{\"a\":\"b\nc\"}", `{"a":`, `{"a":tru}`, `{"a":[1]}`, `"a"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := DecodeJSON(body)
		if err != nil {
			mustSpeakPlainly(t, body, err)
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

// FuzzDecodeFlatJSON: where the one-pass reader of the usual body answers,
// it gives exactly what encoding/json's path gives.
func FuzzDecodeFlatJSON(f *testing.F) {
	for _, s := range []string{`{"to":"0790320012","service":"login"}`, ` { "to" : 962790320012 , "code":123456 } `, `{}`, `{"a":null,"a":"b"}`,
		`{"a":true,"b":false,"c":-0.5e+3}`, `{"a":1e400}`, "{\"a\":\"\xff\"}", `{"a":"\u0041"}`, `{"a":01}`, `{"a":"x"}x`, `{"a":"x",}`,
		"{\"\u0645\":\"\u0631\"}", "{\"a\":\"\x7f\"}", `{"a":-}`, `{"a":1.}`, `{"a":truex}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := decodeFlatJSON(body)
		if !ok {
			return
		}
		slow, err := decodeJSON(body)
		if err != nil {
			t.Fatalf("the one-pass reader took %q, which encoding/json's path refuses: %v", body, err)
		}
		if !maps.Equal(fast, slow) {
			t.Fatalf("%q: the one-pass reader gives %v, encoding/json's path %v", body, fast, slow)
		}
	})
}

// FuzzDecodeForm: never panics; every value is what net/url reads; an
// error is an *otpgate.Error in otpgate's words.
func FuzzDecodeForm(f *testing.F) {
	for _, s := range []string{"to=0790320012&code=123456", "a=%zz", "a=1&a=2", ";", "=&=", "to=%D9%A0"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := DecodeForm(body)
		if err != nil {
			mustSpeakPlainly(t, body, err)
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

// BenchmarkDecodeJSON: a /2fa/send body through DecodeJSON (the one-pass
// reader) and through encoding/json's path, its baseline.
func BenchmarkDecodeJSON(b *testing.B) {
	body := []byte(`{"service":"login","from":"OTPGate","to":"0790320012","body":"Your code is {code}"}`)
	for _, c := range []struct {
		name string
		fn   func([]byte) (Fields, error)
	}{{"one-pass", DecodeJSON}, {"encoding-json", decodeJSON}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.fn(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A field is found by its name or its capitalised name; asking for an
// absent one allocates nothing.
func TestFieldsGet(t *testing.T) {
	f := Fields{"to": "a", "From": "b", "éx": "c", "Éx": "d"}
	for name, want := range map[string]string{"to": "a", "from": "b", "From": "b", "éx": "c", "body": ""} {
		if got := f.Get(name); got != want {
			t.Errorf("Get(%q) = %q, want %q", name, got, want)
		}
	}
	if !f.Has("from") || !f.Has("to") || f.Has("body") {
		t.Errorf("Has: from %v, to %v, body %v; want true, true, false", f.Has("from"), f.Has("to"), f.Has("body"))
	}
	if n := testing.AllocsPerRun(100, func() { f.Get("statusCallback") }); n != 0 {
		t.Errorf("Get of an absent field: %v allocations, want 0", n)
	}
}
