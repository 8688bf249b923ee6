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
	return f[strings.ToUpper(name[:1])+name[1:]]
}

// Has reports whether the field was given, by either name.
func (f Fields) Has(name string) bool {
	_, lower := f[name]
	_, upper := f[strings.ToUpper(name[:1])+name[1:]]
	return lower || upper
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
		return nil, &otpgate.Error{Kind: otpgate.KindInvalid, Code: otpgate.CodeMalformedBody, Message: "Request body could not be read: " + err.Error()}
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

// DecodeJSON reads a JSON object whose values are strings or numbers (a
// number like 962790320012 is taken as its digits). Other value types are an
// error naming the field.
func DecodeJSON(body []byte) (Fields, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, malformed("Malformed JSON body at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return nil, malformed("Malformed JSON body: it must be a JSON object like {\"to\": \"+962790320012\", ...}")
		case errors.Is(err, io.EOF):
			return nil, malformed("Empty JSON body: send a JSON object like {\"to\": \"+962790320012\", ...}")
		default:
			return nil, malformed("Malformed JSON body: %v", err)
		}
	}
	if raw == nil {
		return nil, malformed("Malformed JSON body: it must be a JSON object, not null")
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return nil, malformed("Malformed JSON body: unexpected data after the JSON object at byte %d", dec.InputOffset())
	}
	f := make(Fields, len(raw))
	for k, v := range raw {
		s, err := jsonScalar(v)
		if err != nil {
			return nil, otpgate.Invalid(k, "Invalid '%s': %v", k, err)
		}
		f[k] = s
	}
	return f, nil
}

func jsonScalar(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", errors.New("empty value")
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	case 'n':
		return "", nil // null: as if absent
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		// Keep the digits as written, so long numbers are not rounded.
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			return "", err
		}
		return string(v), nil
	default:
		return "", errors.New("must be a string")
	}
}

// DecodeForm reads an application/x-www-form-urlencoded body.
func DecodeForm(body []byte) (Fields, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, malformed("Malformed form body: %v", err)
	}
	f := make(Fields, len(vals))
	for k, v := range vals {
		if len(v) > 0 {
			f[k] = v[0]
		}
	}
	return f, nil
}
