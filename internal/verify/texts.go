package verify

import (
	"slices"
	"strings"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/verification"
)

// The built-in texts of a code SMS, per locale, with {code} and
// {friendly_name} (the service's name). Each fits one SMS with a service
// name of up to 20 characters and a 10-digit code: the English one in
// GSM-7 (160 characters), the Arabic one in UCS-2 (70). The Arabic one
// starts with Arabic, so phones lay it out right to left, keeps the code in
// ASCII digits (autofill reads those), and puts an Arabic word between the
// name (often Latin) and the code, so neither runs into the other.
var builtinTexts = map[string]string{
	"en": "Your {friendly_name} verification code is: {code}",
	"ar": "رمز التحقق الخاص بك في {friendly_name} هو {code}",
}

// builtinEmails are the built-in subject and text of a code email, per
// locale, with {code} and {friendly_name}. The code stays out of the
// subject (mail clients show subjects on locked screens and in lists).
var builtinEmails = map[string][2]string{
	"en": {"Your {friendly_name} verification code",
		"Your {friendly_name} verification code is: {code}\n\nIf you did not ask for this code, you can ignore this email."},
	"ar": {"رمز التحقق الخاص بك في {friendly_name}",
		"رمز التحقق الخاص بك في {friendly_name} هو {code}\n\nإذا لم تطلب هذا الرمز، يمكنك تجاهل هذه الرسالة."},
}

// emailTexts returns a code email's subject and text template for a
// locale: the built-in email text of the locale, else the service's own
// template of the locale (a locale only it has) under the English subject.
// A request's own text is never an email's (Send refuses body for email):
// every account's emails go from the server's one sender address.
func emailTexts(svc verification.Service, loc string) (subject, tmpl string) {
	e, ok := builtinEmails[loc]
	if !ok {
		e = builtinEmails["en"]
		if t, own := svc.Texts.Templates[loc]; own {
			e[1] = t
		}
	}
	return e[0], e[1]
}

// doNotShare is the line a service with DoNotShare adds, per locale.
var doNotShare = map[string]string{
	"en": "Don't share this code with anyone.",
	"ar": "لا تشارك هذا الرمز مع أحد.",
}

// FriendlyNamePlaceholder is where a text names the service.
const FriendlyNamePlaceholder = "{friendly_name}"

// arabicRegions are the countries whose numbers get Arabic codes when a
// service takes the locale from the destination (verification.Texts'
// ByCountry).
var arabicRegions = []string{"AE", "BH", "DZ", "EG", "IQ", "JO", "KW", "LB", "LY", "MA", "MR", "OM", "PS", "QA", "SA", "SD", "SY", "TN", "YE"}

// normalLocale reads a locale as clients write it ("ar", "AR", "ar-JO",
// "en_US") as its language ("ar", "en").
func normalLocale(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "-_"); i > 0 {
		s = s[:i]
	}
	return s
}

// Locales returns the locales a service's codes can be sent in, sorted.
func Locales(svc verification.Service) []string {
	out := []string{"ar", "en"}
	for l := range svc.Texts.Templates {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// locale decides a code's locale: the request's, then the service's
// default, then (if the service asks) the destination's country, then
// English.
func locale(svc verification.Service, requested, region string) (string, error) {
	if requested != "" {
		l := normalLocale(requested)
		if _, ok := builtinTexts[l]; ok {
			return l, nil
		}
		if _, ok := svc.Texts.Templates[l]; ok {
			return l, nil
		}
		return "", otpgate.FieldError("locale", otpgate.InvalidField, " %q: this service's codes can be sent in %s", requested, strings.Join(Locales(svc), ", "))
	}
	if svc.Texts.Locale != "" {
		return svc.Texts.Locale, nil
	}
	if svc.Texts.ByCountry && slices.Contains(arabicRegions, region) {
		return "ar", nil
	}
	return "en", nil
}

// template returns a service's text for a locale: its own, else the
// built-in one.
func template(svc verification.Service, loc string) string {
	if t, ok := svc.Texts.Templates[loc]; ok {
		return t
	}
	if t, ok := builtinTexts[loc]; ok {
		return t
	}
	return builtinTexts["en"]
}

// validAppHash accepts Android's SMS Retriever app hash: 11 characters of
// base64.
func validAppHash(h string) error {
	if h == "" {
		return nil
	}
	ok := len(h) == 11
	for _, c := range h {
		ok = ok && (c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/')
	}
	if !ok {
		return otpgate.FieldError("app_hash", otpgate.InvalidField, " %q: Android's SMS Retriever app hash is 11 characters of base64 (letters, digits, + and /)", h)
	}
	return nil
}

// render makes a code SMS from a template: the code and the service's name
// in place, then what autofill reads. With an app hash, the text ends with
// it on a line of its own (Android's SMS Retriever); otherwise, with a
// WebOTP domain, its last line is "@domain #code" (the WebOTP API's). It
// returns the text and the text with the code masked (for the message log).
func render(tmpl, name, code, appHash, webOTP string) (text, shown string) {
	return renderWarned(tmpl, "", name, code, appHash, webOTP)
}

// renderWarned is render with a warning line after the text ("" for none).
func renderWarned(tmpl, warning, name, code, appHash, webOTP string) (text, shown string) {
	mask := strings.Repeat("*", len(code))
	body := strings.ReplaceAll(tmpl, FriendlyNamePlaceholder, name)
	if warning != "" {
		body += "\n" + warning
	}
	text, shown = strings.ReplaceAll(body, Placeholder, code), strings.ReplaceAll(body, Placeholder, mask)
	switch {
	case appHash != "":
		text, shown = text+"\n"+appHash, shown+"\n"+appHash
	case webOTP != "":
		text, shown = text+"\n\n@"+webOTP+" #"+code, shown+"\n\n@"+webOTP+" #"+mask
	}
	return text, shown
}

// ValidTemplate checks a code SMS template as the 2FA API's body and a
// service's templates take it: text with {code}, short enough with the code.
func ValidTemplate(tmpl string) error { return validTemplate(tmpl) }

// SetTexts applies settings to a service's texts: its default locale
// ("" for English), whether the destination's country decides, its WebOTP
// domain ("" for none), and templates per locale ("" removes one). It
// returns the *otpgate.Error of the first setting refused, naming field
// as given.
func SetTexts(t *verification.Texts, loc *string, byCountry *bool, webOTP *string, templates map[string]string) error {
	for l, tmpl := range templates {
		n := normalLocale(l)
		if n == "" || len(n) > 8 || strings.ContainsFunc(n, func(r rune) bool { return r < 'a' || r > 'z' }) {
			return otpgate.FieldError("template", otpgate.InvalidField, " for locale %q: a locale is a language code, like ar or en", l)
		}
		if tmpl == "" {
			delete(t.Templates, n)
			continue
		}
		if err := validTemplate(tmpl); err != nil {
			e := err.(*otpgate.Error)
			e.Field = "template"
			return e
		}
		if t.Templates == nil {
			t.Templates = map[string]string{}
		}
		t.Templates[n] = tmpl
	}
	if len(t.Templates) == 0 {
		t.Templates = nil
	}
	if loc != nil {
		n := normalLocale(*loc)
		_, builtin := builtinTexts[n]
		_, own := t.Templates[n]
		if n != "" && !builtin && !own {
			return otpgate.FieldError("locale", otpgate.InvalidField, " %q: ar, en, or a locale the service has a template for", *loc)
		}
		if n == "en" {
			n = ""
		}
		t.Locale = n
	}
	if byCountry != nil {
		t.ByCountry = *byCountry
	}
	if webOTP != nil {
		d := strings.ToLower(strings.TrimSpace(*webOTP))
		if d != "" && !validDomain(d) {
			return otpgate.FieldError("web_otp_domain", otpgate.InvalidField, " %q: the web site's host name, like example.com (no scheme, port or path)", *webOTP)
		}
		t.WebOTPDomain = d
	}
	return nil
}

func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
