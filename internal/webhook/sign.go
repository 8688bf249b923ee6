package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// SignatureHeader is the header that carries the signature.
const SignatureHeader = "X-Twilio-Signature"

// Sign returns Twilio's X-Twilio-Signature for a form-encoded POST of params
// to fullURL: base64(HMAC-SHA1(authToken, fullURL + name1 + value1 + ...)),
// the parameters sorted by name and, for a name with several values, by value
// (byte order, as Twilio does). fullURL is the URL exactly as requested,
// query included; a receiver sees no fragment, so pass none.
func Sign(authToken, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	io.WriteString(mac, fullURL)
	for _, name := range slices.Sorted(maps.Keys(params)) {
		values := params[name]
		if len(values) > 1 {
			values = slices.Sorted(slices.Values(values))
		}
		for _, v := range values {
			io.WriteString(mac, name)
			io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignJSON signs a request with a JSON (or any non-form) body the way Twilio
// does: it adds the query parameter bodySHA256, the hex SHA-256 of body, to
// fullURL (before any fragment) and signs that URL with no parameters. POST
// body to signedURL with signature in the X-Twilio-Signature header.
// fullURL must not already carry a bodySHA256 parameter.
func SignJSON(authToken, fullURL string, body []byte) (signedURL string, signature string) {
	sum := sha256.Sum256(body)
	base, fragment, hasFragment := strings.Cut(fullURL, "#")
	sep := "?"
	if i := strings.IndexByte(base, '?'); i >= 0 {
		sep = "&"
		if i == len(base)-1 || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	signedURL = base + sep + "bodySHA256=" + hex.EncodeToString(sum[:])
	if hasFragment {
		signedURL += "#" + fragment
	}
	return signedURL, Sign(authToken, signedURL, nil)
}
