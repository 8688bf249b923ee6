package api

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/otpgate/otpgate/internal/otpgate"
)

// ServeMetrics serves GET /metrics with h to requests that carry
// "Authorization: Bearer TOKEN"; others are answered 401 in JSON, with a
// WWW-Authenticate challenge. The token is compared in constant time.
func (s *Server) ServeMetrics(h http.Handler, token string) {
	s.Public("GET /metrics", nil, func(w http.ResponseWriter, r *http.Request) error {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="otpgate metrics"`)
			return otpgate.Errorf(otpgate.KindUnauthorized, otpgate.CodeUnauthorized,
				"Metrics need the bearer token of --metrics-token: Authorization: Bearer TOKEN")
		}
		h.ServeHTTP(w, r)
		return nil
	})
}
