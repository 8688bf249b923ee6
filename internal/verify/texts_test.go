package verify

import (
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/smsenc"
	"github.com/otpgate/otpgate/internal/verification"
)

// Each built-in text fits one SMS (140 bytes, which is also the SMS
// Retriever's limit) in its encoding, GSM-7 for English and UCS-2 for
// Arabic: with a service name of up to 20 characters and a code of up to 10
// digits, alone and with an app hash. A WebOTP line repeats the code after
// the domain: English still fits one SMS; Arabic (70 characters) fits with
// a 6-character name, a 6-digit code and a 15-character domain, and takes
// 2 with a 20-character name.
func TestBuiltinTextsFitOneSMS(t *testing.T) {
	segments := func(loc, name, code, hash, web string) (smsenc.Encoding, int) {
		text, _ := render(builtinTexts[loc], name, code, hash, web)
		info := smsenc.Analyze(text)
		return info.Encoding, info.Segments
	}
	for loc, enc := range map[string]smsenc.Encoding{"en": smsenc.GSM7, "ar": smsenc.UCS2} {
		for _, name := range []string{"My App", "Jordan Pay Wallet 20"} {
			for _, code := range []string{"1234", "123456", "1234567890"} {
				for _, hash := range []string{"", "FA+9qCX9VSu"} {
					if e, n := segments(loc, name, code, hash, ""); e != enc || n != 1 {
						t.Errorf("%s, %q, %d digits, hash %q: %s in %d segments, want %s in 1", loc, name, len(code), hash, e, n, enc)
					}
				}
				if loc == "en" {
					if e, n := segments(loc, name, code, "", "pay.example.com"); e != enc || n != 1 {
						t.Errorf("en, %q, %d digits, WebOTP: %s in %d segments", name, len(code), e, n)
					}
				}
			}
		}
	}
	if e, n := segments("ar", "My App", "123456", "", "pay.example.com"); e != smsenc.UCS2 || n != 1 {
		t.Errorf("ar, My App, 6 digits, WebOTP: %s in %d segments, want 1", e, n)
	}
	if _, n := segments("ar", "Jordan Pay Wallet 20", "123456", "", "pay.example.com"); n != 2 {
		t.Errorf("ar, a 20-character name, WebOTP: %d segments, want 2", n)
	}
}

// The Arabic text lays out right to left (its first strong character is
// Arabic), keeps the code in ASCII digits, and puts an Arabic word between
// a Latin name and the code.
func TestArabicTextIsRTLSafe(t *testing.T) {
	text, _ := render(builtinTexts["ar"], "My App", "123456", "", "")
	for _, r := range text {
		if unicode.IsLetter(r) {
			if !unicode.Is(unicode.Arabic, r) {
				t.Fatalf("the first letter of %q is %q, not Arabic: phones would lay it out left to right", text, r)
			}
			break
		}
	}
	if !strings.Contains(text, "123456") {
		t.Fatalf("the code is not in ASCII digits: %q", text)
	}
	between := text[strings.Index(text, "My App")+len("My App") : strings.Index(text, "123456")]
	if !strings.ContainsFunc(between, func(r rune) bool { return unicode.Is(unicode.Arabic, r) }) {
		t.Fatalf("nothing Arabic between the name and the code: %q", between)
	}
}

// With an app hash the text ends with it, on its own line (Android's SMS
// Retriever: the message ends with the 11-character hash); with a WebOTP
// domain its last line is "@domain #code" (the WebOTP API), the code the
// one in the text; the masked text hides the code in both places.
func TestAutofillFormats(t *testing.T) {
	text, shown := render(builtinTexts["en"], "My App", "482913", "FA+9qCX9VSu", "")
	if !strings.HasSuffix(text, "\nFA+9qCX9VSu") || !strings.Contains(text, "482913") || strings.Contains(shown, "482913") {
		t.Fatalf("with an app hash: %q (shown %q)", text, shown)
	}
	text, shown = render(builtinTexts["ar"], "My App", "482913", "", "login.example.com")
	lines := strings.Split(text, "\n")
	m := regexp.MustCompile(`^@([a-z0-9.-]+) #([0-9A-Za-z]+)$`).FindStringSubmatch(lines[len(lines)-1])
	if m == nil || m[1] != "login.example.com" || m[2] != "482913" || !strings.Contains(lines[0], "482913") {
		t.Fatalf("with a WebOTP domain: %q", text)
	}
	if strings.Contains(shown, "482913") {
		t.Fatalf("the masked text shows the code: %q", shown)
	}
	for _, bad := range []string{"short", "FA+9qCX9VSu!", "FA+9qCX9VS-"} {
		if e, ok := validAppHash(bad).(*otpgate.Error); !ok || e.Field != "app_hash" {
			t.Errorf("app hash %q: %v", bad, validAppHash(bad))
		}
	}
}

// A code's locale: the request's (any spelling of a language), then the
// service's default, then, when the service asks, the destination's country.
func TestLocale(t *testing.T) {
	svc := verification.Service{Texts: verification.Texts{Templates: map[string]string{"fr": "Votre code : {code}"}}}
	for _, tc := range []struct {
		svcLocale, requested, region string
		byCountry                    bool
		want                         string
	}{
		{"", "", "JO", false, "en"},
		{"", "ar-JO", "GB", false, "ar"},
		{"", "AR", "GB", false, "ar"},
		{"", "fr_FR", "JO", false, "fr"},
		{"ar", "", "GB", false, "ar"},
		{"", "", "JO", true, "ar"},
		{"", "", "SA", true, "ar"},
		{"", "", "GB", true, "en"},
		{"en", "", "JO", true, "en"},
	} {
		svc.Texts.Locale, svc.Texts.ByCountry = tc.svcLocale, tc.byCountry
		got, err := locale(svc, tc.requested, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q %v, want %q", tc, got, err, tc.want)
		}
	}
	_, err := locale(svc, "de", "JO")
	if e, ok := err.(*otpgate.Error); !ok || e.Field != "locale" || !strings.Contains(e.Error(), "ar, en, fr") {
		t.Fatalf("an unknown locale: %v", err)
	}
}

// With the do-not-share warning, each built-in text still fits one SMS with
// a 10-character name and a 6-digit code.
func TestWarnedTextsFitOneSMS(t *testing.T) {
	for _, loc := range []string{"en", "ar"} {
		text, _ := renderWarned(builtinTexts[loc], doNotShare[loc], "Jordan Pay", "123456", "", "")
		if info := smsenc.Analyze(text); info.Segments != 1 {
			t.Errorf("%s with the warning: %d segments (%d units):\n%s", loc, info.Segments, info.Units, text)
		}
	}
}

// A code email's subject and text per locale: Arabic and English built in,
// a service's own locale under the English subject; no subject holds the
// code.
func TestEmailTexts(t *testing.T) {
	svc := verification.Service{Texts: verification.Texts{Templates: map[string]string{"fr": "Votre code {code}"}}}
	for _, tc := range []struct{ loc, subject, text string }{
		{"ar", "رمز التحقق الخاص بك في {friendly_name}", "رمز التحقق الخاص بك في {friendly_name} هو {code}\n\nإذا لم تطلب هذا الرمز، يمكنك تجاهل هذه الرسالة."},
		{"en", "Your {friendly_name} verification code", "Your {friendly_name} verification code is: {code}\n\nIf you did not ask for this code, you can ignore this email."},
		{"fr", "Your {friendly_name} verification code", "Votre code {code}"},
	} {
		subject, text := emailTexts(svc, tc.loc)
		if subject != tc.subject || text != tc.text || strings.Contains(subject, Placeholder) {
			t.Errorf("emailTexts(%s) = %q, %q", tc.loc, subject, text)
		}
	}
}
