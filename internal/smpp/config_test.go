package smpp

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	env := map[string]string{"ZAIN_PW": "s3cret", "EMPTY_PW": ""}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := ParseURL("smpp://otpgate:$ZAIN_PW@smsc.example:2775?name=zain&bind=txrx&binds=2&window=100&tps=50&ton=5&npi=0&split=sar&system_type=OTP", getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "zain" || c.Password != "s3cret" || c.Bind != "txrx" || c.Binds != 2 || c.Window != 100 || c.TPS != 50 ||
		c.SourceTON != 5 || c.SourceNPI != 0 || c.Split != "sar" || c.SystemType != "OTP" || c.Addr != "smsc.example:2775" {
		t.Fatalf("config = %+v", c)
	}
	for _, tt := range []struct{ url, mention string }{
		{"http://a:b@h:1", "scheme"},
		{"smpp://a:b@h:1?bogus=1", "unknown parameter"},
		{"smpp://a:b@h:1?window=x", "window"},
		{"smpp://a:b@h:1?bind=rx", "bind"},
		{"smpp://a:b@h?name=x", "HOST:PORT"},
		{"smpp://:pw@h:1", "system_id"},
		{"smpp://a:toolongpassword@h:1", "password"},
		{"smpp://a:b@h:1?enquire_link=1m&read_timeout=30s", "read_timeout"},
		{"smpp://a:$UNSET_PW@h:1", "the password is $UNSET_PW, which is not set in the environment"},
		{"smpp://a:$EMPTY_PW@h:1", "the password is $EMPTY_PW, which is empty in the environment"},
	} {
		_, err := ParseURL(tt.url, getenv)
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ParseURL(%q) = %v, want an error mentioning %q", tt.url, err, tt.mention)
		}
	}
}

// FuzzParseURL: any --smpp value is parsed or refused without a panic, and
// an error never shows the password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smpp://a:b@h:1", "smpp://otpgate:$P@127.0.0.1:2775?name=z&window=50&tps=0", "smpp://a:pw%zz@h:1", "smpp://u:p@[::1]:2775?ton=auto"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseURL(s, func(string) (string, bool) { return "pw", true })
		if err != nil {
			if i := strings.Index(s, "://"); i >= 0 {
				if at := strings.Index(s[i+3:], "@"); at > 0 {
					if _, pw, ok := strings.Cut(s[i+3:i+3+at], ":"); ok && len(pw) >= 6 && strings.Contains(err.Error(), pw) {
						t.Fatalf("error %q shows the password %q", err, pw)
					}
				}
			}
			return
		}
		if c.Validate() != nil {
			t.Fatalf("ParseURL accepted %q but the config does not validate", s)
		}
	})
}
