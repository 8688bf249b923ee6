package webhook

import (
	"errors"
	"net/url"
	"strings"
)

// redactURL returns raw as scheme://host/path, the form in which a callback
// URL is logged and kept with its attempts: receivers often authenticate
// callbacks with a secret in the query string (?key=...), and user info and
// fragments are no one's business either. It returns a placeholder for a URL
// that cannot be parsed.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// redactError returns err's text for a log or an attempt record without the
// secret parts of the callback URLs raws. net/http's errors are *url.Error,
// whose text repeats the whole URL: its URL is replaced by the redacted one.
// Then each raw URL is replaced by its redacted form, and its query,
// fragment and user info, when 4 bytes or longer (shorter ones would cut
// out ordinary words and hide no secret), are cut out of the text wherever
// they still appear.
func redactError(err error, raws ...string) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if ue, ok := errors.AsType[*url.Error](err); ok {
		redacted := *ue
		redacted.URL = redactURL(ue.URL)
		msg = strings.ReplaceAll(msg, ue.Error(), redacted.Error())
	}
	for _, raw := range raws {
		msg = strings.ReplaceAll(msg, raw, redactURL(raw))
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		for _, secret := range []string{u.RawQuery, u.EscapedFragment(), u.Fragment, u.User.String()} {
			if len(secret) >= 4 {
				msg = strings.ReplaceAll(msg, secret, "[redacted]")
			}
		}
	}
	return msg
}
