package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/otpgate/otpgate/internal/otpgate"
)

// errorBody is the wire form of every error, on every route: the shape
// Twilio's and Restcomm's SDKs decode.
type errorBody struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func moreInfo(code int) string {
	return "https://github.com/otpgate/otpgate#error-" + strconv.Itoa(code)
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

// writeError writes err as JSON. An error that is not an *otpgate.Error is
// internal: it is logged with the request id and the client sees only that id.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := otpgate.AsError(err)
	if e == nil {
		id := requestID(r)
		a.log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		e = &otpgate.Error{Kind: otpgate.KindInternal, Code: otpgate.CodeInternal,
			Message: "Internal error; the server log has the details under request id " + id}
	}
	status := statusOf(e)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="otpgate"`)
	}
	if status == http.StatusMethodNotAllowed && e.Field != "" {
		w.Header().Set("Allow", e.Field)
	}
	writeJSON(w, status, errorBody{Code: e.Code, Message: e.Message, MoreInfo: moreInfo(e.Code), Status: status})
	if a.log.Enabled(r.Context(), slog.LevelDebug) {
		a.log.Debug("request refused", "request_id", requestID(r), "path", r.URL.Path, "status", status, "code", e.Code)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // URIs keep their '&'
	err := enc.Encode(v)
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err != nil {
		http.Error(w, `{"code":20500,"message":"Internal error encoding the response","more_info":"","status":500}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	b = append(b, '\n')
	w.Write(b)
}
