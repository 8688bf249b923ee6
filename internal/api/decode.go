package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/otpgate"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// Fields are a request's parameters, from a JSON object or a form.
type Fields map[string]string

// Get returns the field by its lowercase name or, for Twilio-style clients,
// its capitalised name.
func (f Fields) Get(name string) string {
	if v, ok := f[name]; ok {
		return v
	}
	v, _ := f.capitalised(name)
	return v
}

// Has reports whether the field was given, by either name.
func (f Fields) Has(name string) bool {
	_, lower := f[name]
	_, upper := f.capitalised(name)
	return lower || upper
}

// capitalised looks name up with its first letter in upper case. A
// handler asks for each optional field it knows, most of them absent: the
// usual name is spelt in a buffer, which the map lookup does not keep.
func (f Fields) capitalised(name string) (string, bool) {
	var buf [32]byte
	if len(name) > 0 && len(name) <= len(buf) && name[0] >= 'a' && name[0] <= 'z' {
		b := append(buf[:0], name...)
		b[0] -= 'a' - 'A'
		v, ok := f[string(b)]
		return v, ok
	}
	v, ok := f[strings.ToUpper(name[:1])+name[1:]]
	return v, ok
}

// Decode reads a JSON or form-encoded body of at most MaxBody bytes.
func Decode(w http.ResponseWriter, r *http.Request) (Fields, error) {
	ct := r.Header.Get("Content-Type")
	mediaType := ""
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, unsupported(ct)
		}
		mediaType = mt
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &otpgate.Error{Kind: otpgate.KindInvalid, Code: otpgate.CodeBodyTooLarge,
				Message: fmt.Sprintf("Request body is over the %d KiB limit", MaxBody>>10)}
		}
		return nil, malformed("Request body could not be read to its end: the client closed the connection, or sent a malformed chunked body")
	}
	switch mediaType {
	case "application/json":
		return DecodeJSON(body)
	case "application/x-www-form-urlencoded":
		return DecodeForm(body)
	case "":
		if len(bytes.TrimSpace(body)) == 0 {
			return Fields{}, nil
		}
		return nil, unsupported("(none)")
	default:
		return nil, unsupported(ct)
	}
}

func unsupported(ct string) error {
	return &otpgate.Error{Kind: otpgate.KindInvalid, Code: otpgate.CodeUnsupportedMedia,
		Message: fmt.Sprintf("Unsupported Content-Type %q: send application/json or application/x-www-form-urlencoded", ct)}
}

func malformed(format string, args ...any) error {
	return &otpgate.Error{Kind: otpgate.KindInvalid, Code: otpgate.CodeMalformedBody, Message: fmt.Sprintf(format, args...)}
}

// jsonExample ends the messages about a body that is not a JSON object.
const jsonExample = `send a JSON object like {"to": "+962790320012", ...}`

// DecodeJSON reads a JSON object whose values are strings or numbers (a
// number like 962790320012 is taken as its digits). Other value types are an
// error naming the field. Errors are in otpgate's words, never Go's parser's.
func DecodeJSON(body []byte) (Fields, error) {
	if f, ok := decodeFlatJSON(body); ok {
		return f, nil
	}
	return decodeJSON(body)
}

// decodeJSON is DecodeJSON through encoding/json, with its errors.
func decodeJSON(body []byte) (Fields, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, malformed("Malformed JSON body at byte %d: %s", se.Offset, syntaxProblem(body, se.Offset))
		case errors.As(err, &te):
			return nil, malformed("Malformed JSON body: it must be a JSON object like {\"to\": \"+962790320012\", ...}")
		case errors.Is(err, io.EOF):
			return nil, malformed("Empty JSON body: %s", jsonExample)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, malformed("Malformed JSON body: it ends at byte %d before the JSON object is complete; %s", len(body), jsonExample)
		default:
			return nil, malformed("Malformed JSON body: it could not be read as one JSON object; %s", jsonExample)
		}
	}
	if raw == nil {
		return nil, malformed("Malformed JSON body: it must be a JSON object, not null")
	}
	// Only JSON's white space may follow: not \v, \f or Unicode spaces.
	if rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, malformed("Malformed JSON body: unexpected data after the JSON object at byte %d", dec.InputOffset())
	}
	f := make(Fields, len(raw))
	for k, v := range raw {
		s, problem := jsonScalar(v)
		if problem != "" {
			return nil, otpgate.Invalid(k, "Invalid '%s': %s", k, problem)
		}
		f[k] = s
	}
	return f, nil
}

// jsonScalar returns a field's value as a string, or what is wrong with it.
func jsonScalar(v json.RawMessage) (s, problem string) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", "it has no value"
	}
	switch v[0] {
	case '"':
		if err := json.Unmarshal(v, &s); err != nil {
			return "", "it is not a valid JSON string"
		}
		return s, ""
	case 'n':
		return "", "" // null: as if absent
	case 't', 'f':
		// A boolean, as its word: the field's own check decides whether a
		// boolean is what it takes ("transactional": true).
		if b := string(v); b == "true" || b == "false" {
			return b, ""
		}
		return "", "it must be a string, a number or a boolean, not " + clip(string(v), 32)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		// Keep the digits as written, so long numbers are not rounded. The
		// decoder checked the syntax; what fails here is out of range.
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			return "", fmt.Sprintf("%s is not a number that can be used here (it is out of range); send it as a string, in double quotes", clip(string(v), 32))
		}
		return string(v), ""
	case '{':
		return "", "it must be a string, a number or a boolean, not an object"
	case '[':
		return "", "it must be a string, a number or a boolean, not a list"
	default:
		return "", "it must be a string, a number or a boolean, not " + clip(string(v), 32)
	}
}

// clip returns s, or its first n bytes and an ellipsis when it is longer.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// syntaxProblem says in plain words what is wrong at byte off (1-based, as
// json.SyntaxError counts) of body, which is valid JSON up to that byte.
func syntaxProblem(body []byte, off int64) string {
	if off < 1 || off > int64(len(body)) {
		return "it is not valid JSON; " + jsonExample
	}
	at := int(off - 1)
	// Where the bad byte stands: in a string, after its backslash, or
	// among the four hex digits of a \u escape.
	inString, escaped, hex := false, false, 0
	for _, b := range body[:at] {
		switch {
		case hex > 0:
			hex--
		case escaped:
			escaped = false
			if b == 'u' {
				hex = 4
			}
		case inString && b == '\\':
			escaped = true
		case b == '"':
			inString = !inString
		}
	}
	c := describeByte(body[at:])
	switch {
	case hex > 0:
		return fmt.Sprintf("unexpected %s in a \\u escape, which takes four hexadecimal digits", c)
	case escaped:
		esc := "a backslash before " + c
		if b := body[at]; b > ' ' && b < utf8.RuneSelf {
			esc = `\` + string(b)
		}
		return fmt.Sprintf(`%s in a string is not an escape; JSON strings escape only \" \\ \/ \b \f \n \r \t and \uXXXX`, esc)
	case inString:
		return fmt.Sprintf("unexpected %s inside a string; a JSON string holds control characters escaped, as \\n for a newline and \\t for a tab", c)
	}
	return fmt.Sprintf("unexpected %s; %s, with names and strings in double quotes", c, jsonExample)
}

// describeByte names the character b starts with, so that a message shows
// it even when it is invisible or not UTF-8.
func describeByte(b []byte) string {
	r, size := utf8.DecodeRune(b)
	switch {
	case r == utf8.RuneError && size <= 1:
		return fmt.Sprintf("byte 0x%02X", b[0])
	case r < ' ' || r == 0x7F:
		return fmt.Sprintf("U+%04X", r)
	case r < utf8.RuneSelf:
		return "'" + string(r) + "'"
	}
	return fmt.Sprintf("'%c' (U+%04X)", r, r)
}

// DecodeForm reads an application/x-www-form-urlencoded body. Errors are
// in otpgate's words, never net/url's.
func DecodeForm(body []byte) (Fields, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, formProblem(body)
	}
	f := make(Fields, len(vals))
	for k, v := range vals {
		if len(v) > 0 {
			f[k] = v[0]
		}
	}
	return f, nil
}

// maxFormFields is how many fields url.ParseQuery reads (its default limit).
const maxFormFields = 10000

// formProblem says what url.ParseQuery refused in body: a ';' (which it
// refuses wherever it stands), a '%' without two hex digits, or more than
// maxFormFields fields.
func formProblem(body []byte) error {
	if i := bytes.IndexByte(body, ';'); i >= 0 {
		return malformed("Malformed form body at byte %d: fields are separated by '&', not ';' (write a literal ; as %%3B)", i+1)
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '%' {
			continue
		}
		if i+2 < len(body) && isHex(body[i+1]) && isHex(body[i+2]) {
			i += 2
			continue
		}
		end := min(i+3, len(body))
		return malformed("Malformed form body at byte %d: %q is not a percent-escape (a '%%' and two hexadecimal digits); write a literal %% as %%25", i+1, body[i:end])
	}
	return malformed("Malformed form body: it has more than %d fields", maxFormFields)
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// decodeFlatJSON reads the usual body, a JSON object of strings without
// escapes, numbers, booleans and nulls, in one pass: encoding/json reads it
// three times (to find its end, into raw values, then each string), a
// tenth of a check's CPU. It answers only when it is sure to give what
// decodeJSON gives; for anything else (an escape, invalid UTF-8, a nested
// value, a number out of range, any error) ok is false and decodeJSON reads
// the body, with its errors. FuzzDecodeFlatJSON holds the two equal.
func decodeFlatJSON(b []byte) (f Fields, ok bool) {
	i := skipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	f = Fields{}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return f, skipJSONSpace(b, i+1) == len(b)
	}
	for {
		key, j, ok := flatJSONString(b, i)
		if !ok {
			return nil, false
		}
		i = skipJSONSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipJSONSpace(b, i+1)
		if i >= len(b) {
			return nil, false
		}
		var val string
		switch c := b[i]; {
		case c == '"':
			val, i, ok = flatJSONString(b, i)
		case c == '-' || c >= '0' && c <= '9':
			val, i, ok = flatJSONNumber(b, i)
		case bytes.HasPrefix(b[i:], []byte("true")):
			val, i, ok = "true", i+4, true
		case bytes.HasPrefix(b[i:], []byte("false")):
			val, i, ok = "false", i+5, true
		case bytes.HasPrefix(b[i:], []byte("null")):
			val, i, ok = "", i+4, true // as if absent
		default:
			ok = false
		}
		if !ok {
			return nil, false
		}
		f[key] = val
		i = skipJSONSpace(b, i)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipJSONSpace(b, i+1)
		case '}':
			return f, skipJSONSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// skipJSONSpace returns the index of the first byte from i on that is not
// JSON's white space.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// flatJSONString reads the string at b[i] ('"'), without escapes and in
// valid UTF-8, and returns it and the index after it.
func flatJSONString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s := b[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return "", 0, false
			}
			return string(s), j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", 0, false
}

// flatJSONNumber reads the JSON number at b[i] and returns it as written,
// and the index after it; not ok when it is not one, or out of float64's
// range (which decodeJSON refuses, naming the field).
func flatJSONNumber(b []byte, i int) (string, int, bool) {
	start := i
	digits := func() bool {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return "", 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return "", 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return "", 0, false
		}
	}
	s, problem := jsonScalar(b[start:i]) // its range check, as decodeJSON makes it
	return s, i, problem == ""
}
