package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/store"
)

// errorBody is the wire form of every error, on every route: the shape
// Twilio's and Restcomm's SDKs decode.
type errorBody struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// ErrorsDoc is the page that explains every error code, one section (and
// anchor) a code: docs/errors.md. TestErrorsDoc checks it names every code
// the server returns, and only those.
const ErrorsDoc = "https://github.com/otpgate/otpgate/blob/main/docs/errors.md"

// moreInfo is the more_info of an error: its code's section of ErrorsDoc.
func moreInfo(code int) string {
	return ErrorsDoc + "#" + strconv.Itoa(code)
}

func statusOf(e *otpgate.Error) int {
	switch e.Kind {
	case otpgate.KindInvalid:
		switch e.Code {
		case otpgate.CodeBodyTooLarge:
			return http.StatusRequestEntityTooLarge
		case otpgate.CodeUnsupportedMedia:
			return http.StatusUnsupportedMediaType
		case otpgate.CodeMethodNotAllowed:
			return http.StatusMethodNotAllowed
		}
		return http.StatusBadRequest
	case otpgate.KindNotFound:
		return http.StatusNotFound
	case otpgate.KindTooMany:
		return http.StatusTooManyRequests
	case otpgate.KindUnauthorized:
		return http.StatusUnauthorized
	case otpgate.KindConflict:
		return http.StatusConflict
	case otpgate.KindForbidden:
		return http.StatusForbidden
	case otpgate.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// WriteError writes err as JSON, in the words of dialect d (nil: the
// domain's). An error that is not an *otpgate.Error is internal: it is logged
// with the request id and the client sees only that id. A request whose
// client hung up gets no reply and is logged at Info, not as a failure.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, d *Dialect, err error) {
	e := otpgate.AsError(err)
	if e == nil && r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		// The client hung up before the reply: nobody reads it, and the
		// server is not at fault. What was already written stays written.
		s.log.Info("request abandoned by the client", "request_id", RequestID(r), "method", r.Method, "path", r.URL.Path)
		return
	}
	if e == nil && errors.Is(err, store.ErrUnavailable) {
		s.log.Warn("request failed: the database is unavailable", "request_id", RequestID(r), "path", r.URL.Path, "err", err)
		e = otpgate.Errorf(otpgate.KindUnavailable, otpgate.CodeUnavailable,
			"The database is unavailable; try again shortly")
		e.RetryAfter = time.Second
	}
	if e == nil {
		id := RequestID(r)
		s.log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		e = &otpgate.Error{Kind: otpgate.KindInternal, Code: otpgate.CodeInternal,
			Message: "Internal error; the server log has the details under request id " + id}
	}
	code, msg := e.Code, e.Error()
	if d != nil {
		name := e.Field
		if d.Field != nil && name != "" {
			name = d.Field(name)
		}
		msg = e.Text(name, d.Noun)
		if d.Code != nil {
			code = d.Code(e)
		}
	}
	status := statusOf(e)
	switch {
	case status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "":
		// Basic, unless the route asked for another scheme (/metrics: Bearer).
		w.Header().Set("WWW-Authenticate", `Basic realm="otpgate"`)
	case (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && e.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	WriteJSON(w, status, errorBody{Code: code, Message: msg, MoreInfo: moreInfo(code), Status: status})
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("request refused", "request_id", RequestID(r), "path", r.URL.Path, "status", status, "code", code)
	}
}

// WriteJSON writes v as the JSON reply with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := MarshalJSON(v)
	if err != nil {
		http.Error(w, `{"code":20500,"message":"Internal error encoding the response","more_info":"`+moreInfo(otpgate.CodeInternal)+`","status":500}`, http.StatusInternalServerError)
		return
	}
	WriteJSONBody(w, status, b)
}

// MarshalJSON is v as WriteJSON writes it: encoding/json without HTML
// escaping (URIs keep their '&'), without the newline WriteJSONBody adds.
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}
