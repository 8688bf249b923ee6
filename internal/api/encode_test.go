package api

import (
	"bytes"
	"net/http/httptest"
	"testing"
)

// encodingJSON is a string as WriteJSON writes it.
func encodingJSON(t testing.TB, s string) []byte {
	b, err := MarshalJSON(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{
		"", "+962790320012", "Your code is 123456", `a "quoted" \ back`, "tab\there\nnew\rret\bback\fform",
		"\x00\x01\x1f\x7f", "رمزك 123456", "emoji 🙂", "sep\u2028para\u2029", "bad \xff\xfe utf8 \xe2\x82", "<&>",
	} {
		got := AppendJSONString([]byte("x"), s)
		want := append([]byte("x"), encodingJSON(t, s)...)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendJSONString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\t\x00\x7f", "رمز", "\u2028\u2029", "\xff", "\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendJSONString(nil, s), encodingJSON(t, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSONString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}

// A body a handler built goes out as WriteJSON's would: the same headers,
// status and bytes.
func TestWriteJSONBodyMatchesWriteJSON(t *testing.T) {
	v := map[string]string{"sid": "VE1", "to": "+962790320012"}
	a, b := httptest.NewRecorder(), httptest.NewRecorder()
	WriteJSON(a, 201, v)
	body := []byte(`{"sid":"VE1","to":"+962790320012"}`)
	WriteJSONBody(b, 201, body)
	if a.Code != b.Code || a.Body.String() != b.Body.String() ||
		a.Header().Get("Content-Type") != b.Header().Get("Content-Type") || a.Header().Get("Content-Length") != b.Header().Get("Content-Length") {
		t.Fatalf("WriteJSONBody wrote %d %q %v, WriteJSON %d %q %v", b.Code, b.Body, b.Header(), a.Code, a.Body, a.Header())
	}
}
