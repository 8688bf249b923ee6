package webhook

import (
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/client"
)

func TestSignKnownVectors(t *testing.T) {
	const twilioURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	tests := []struct {
		name   string
		token  string
		url    string
		params url.Values
		want   string
	}{
		{
			// twilio-go v1.31.0 client/request_validator_test.go
			name:  "twilio-go test vector",
			token: "12345",
			url:   twilioURL,
			params: url.Values{
				"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
				"Caller": {"+14158675309"}, "From": {"+14158675309"},
				"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
			},
			want: "vOEb5UThFn24KEfnOFLQY2AE5FY=",
		},
		{
			// the same, over http (twilio-go test "http and port ... without it")
			name:  "twilio-go http vector",
			token: "12345",
			url:   strings.Replace(twilioURL, "https", "http", 1),
			params: url.Values{
				"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
				"Caller": {"+14158675309"}, "From": {"+14158675309"},
				"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
			},
			want: "n2xBNyzSW7rfYStDtOFiFMv7qNo=",
		},
		{
			// Twilio's webhook security documentation example
			name:  "twilio docs vector",
			token: "12345",
			url:   twilioURL,
			params: url.Values{
				"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
				"From": {"+12349013030"}, "To": {"+18005551212"},
			},
			want: "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
		},
		{
			// repeated name and Arabic value: sorted by name, then by value in
			// byte order; computed independently with
			// printf '%s' 'https://otpgate.example/hooks/inbound?account=AC1BodyHelloBodyمرحباFromZainTo+962791234567' |
			//   openssl dgst -sha1 -hmac tok3n -binary | base64
			name:   "repeated name",
			token:  "tok3n",
			url:    "https://otpgate.example/hooks/inbound?account=AC1",
			params: url.Values{"To": {"+962791234567"}, "Body": {"مرحبا", "Hello"}, "From": {"Zain"}},
			want:   "Hl5abJyImqLQxlxQCZbZ9VftxnI=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sign(tt.token, tt.url, tt.params); got != tt.want {
				t.Errorf("Sign = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestSignDoesNotModifyParams(t *testing.T) {
	params := url.Values{"Body": {"b", "a", "c"}}
	Sign("t", "https://h.example/", params)
	if got := strings.Join(params["Body"], ","); got != "b,a,c" {
		t.Errorf("Sign reordered the caller's values: %s", got)
	}
}

// randomText returns a short string mixing ASCII, form-special characters,
// Arabic, CJK and characters outside the BMP.
func randomText(r *rand.Rand, maxLen int) string {
	pieces := []string{"a", "Z", "0", "9", "+", " ", "&", "=", "%", "?", "#", "/", "é", "ß", "م", "ر", "ح", "ب", "٣", "中", "文", "😀", "🇯🇴", "\u200f", "\t", "\"", "'", "<", "~"}
	var b strings.Builder
	for range r.IntN(maxLen + 1) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// TestSignAgreesWithTwilioValidator checks Sign with twilio-go's own
// RequestValidator for random parameters. The validator takes one value per
// name; for a repeated name it is given the values already joined as Twilio
// signs them (v1 + name + v2 + ...), which yields the same signed string
// only if Sign orders repeated values by value.
func TestSignAgreesWithTwilioValidator(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	urls := []string{
		"https://hooks.example.com/status",
		"https://hooks.example.com/status?account=AC123&x=%20y",
		"http://hooks.example.com:8080/twilio/sms",
		"https://[2606:4700::1111]:8443/هوك",
	}
	for i := range 500 {
		token := randomText(r, 40)
		fullURL := urls[i%len(urls)]
		params := url.Values{}
		folded := map[string]string{}
		for range r.IntN(8) {
			name := randomText(r, 6)
			if name == "" {
				name = "N"
			}
			for range 1 + r.IntN(3)*r.IntN(2) {
				params.Add(name, randomText(r, 12))
			}
		}
		hasRepeats := false
		for name, values := range params {
			sorted := append([]string(nil), values...)
			slices.Sort(sorted)
			folded[name] = strings.Join(sorted, name)
			hasRepeats = hasRepeats || len(values) > 1
		}

		sig := Sign(token, fullURL, params)
		v := client.NewRequestValidator(token)
		if !v.Validate(fullURL, folded, sig) {
			t.Fatalf("case %d: twilio-go rejects Sign(%q, %q, %q) = %q", i, token, fullURL, params, sig)
		}
		if !hasRepeats {
			// A form body as the receiver gets it.
			if body := params.Encode(); !v.ValidateBody(fullURL, []byte(body), sig) {
				t.Fatalf("case %d: twilio-go ValidateBody rejects body %q", i, body)
			}
		}
		// Any change breaks the signature.
		tampered := url.Values{}
		for name, values := range params {
			tampered[name] = values
		}
		tampered.Add("Tampered", "1")
		if Sign(token, fullURL, tampered) == sig {
			t.Fatalf("case %d: adding a parameter did not change the signature", i)
		}
		if v.Validate(fullURL+"x", folded, sig) {
			t.Fatalf("case %d: twilio-go accepts the signature for another URL", i)
		}
	}
}

func TestSignJSONKnownVectors(t *testing.T) {
	// twilio-go v1.31.0 client/request_validator_test.go
	body := []byte(`{"property": "value", "boolean": true}`)
	const bodyHash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	tests := []struct {
		url, wantURL, wantSig string
	}{
		{"https://mycompany.com/myapp.php?foo=1&bar=2", "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=" + bodyHash, "a9nBmqA0ju/hNViExpshrM61xv4="},
		{"https://mycompany.com/myapp.php", "https://mycompany.com/myapp.php?bodySHA256=" + bodyHash, "y77kIzt2vzLz71DgmJGsen2scGs="},
		{"https://mycompany.com/myapp.php?", "https://mycompany.com/myapp.php?bodySHA256=" + bodyHash, "y77kIzt2vzLz71DgmJGsen2scGs="},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			gotURL, gotSig := SignJSON("12345", tt.url, body)
			if gotURL != tt.wantURL || gotSig != tt.wantSig {
				t.Errorf("SignJSON = %q, %q; want %q, %q", gotURL, gotSig, tt.wantURL, tt.wantSig)
			}
		})
	}
}

func TestSignJSONAgreesWithTwilioValidator(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	urls := []string{
		"https://hooks.example.com/inbound",
		"https://hooks.example.com/inbound?account=AC123",
		"https://hooks.example.com/inbound?account=AC123&",
		"http://hooks.example.com:8080/inbound#rc=5",
	}
	for i := range 300 {
		token := randomText(r, 40)
		body := []byte(`{"Body":"` + randomText(r, 40) + `","To":"+962791234567"}`)
		signedURL, sig := SignJSON(token, urls[i%len(urls)], body)
		v := client.NewRequestValidator(token)
		if !v.ValidateBody(signedURL, body, sig) {
			t.Fatalf("case %d: twilio-go ValidateBody rejects SignJSON(%q, %q, %q) = %q, %q", i, token, urls[i%len(urls)], body, signedURL, sig)
		}
		if v.ValidateBody(signedURL, append(body, ' '), sig) {
			t.Fatalf("case %d: twilio-go accepts a changed body", i)
		}
		if u, err := url.Parse(signedURL); err != nil || len(u.Query()["bodySHA256"]) != 1 {
			t.Fatalf("case %d: signed URL %q: %v; want exactly one bodySHA256", i, signedURL, err)
		}
	}
}
