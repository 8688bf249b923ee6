package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kratosDir is the example a Kratos user copies: the courier channel and
// its Jsonnet body.
var kratosDir = filepath.Join("..", "..", "examples", "kratos")

// kratosRequestConfig is the part of Kratos's courier configuration that
// makes the request (courier.channels[].request_config).
type kratosRequestConfig struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
	Auth    struct {
		Type   string `json:"type"`
		Config struct {
			User     string `json:"user"`
			Password string `json:"password"`
		} `json:"config"`
	} `json:"auth"`
}

// Ory Kratos sends its SMS codes through examples/kratos as it stands: the
// request its HTTP courier builds from kratos.yml's sms channel (the Jsonnet
// body evaluated by a Jsonnet interpreter with ctx as its top-level argument,
// the result sent as a form, Basic auth, the configured headers) is accepted
// (2xx, what Kratos counts as sent), and the text Kratos rendered, code
// included, reaches the phone, in English and in Arabic. A wrong token is
// refused, so Kratos retries instead of losing the code silently.
func TestKratosCourier(t *testing.T) {
	needTool(t, "jsonnet", "jsonnet")
	s := mustServe(t, nil)
	rc := kratosChannel(t, s.URL, s.SID, s.Token)

	for _, c := range []struct{ number, body string }{
		{"+962790390011", "Your verification code is: 482915"},
		{"+962790390012", "رمز الدخول إلى حسابك: 731046"},
	} {
		status, reply := kratosSend(t, rc, c.number, c.body)
		if status < 200 || status > 299 {
			t.Fatalf("Kratos's request for %q: %d %s", c.body, status, reply)
		}
		if got := s.lastBody(t, c.number); got != c.body {
			t.Fatalf("the phone got %q, want Kratos's text %q", got, c.body)
		}
	}

	wrong := kratosChannel(t, s.URL, s.SID, strings.Repeat("0", 32))
	if status, reply := kratosSend(t, wrong, "+962790390013", "Your verification code is: 111222"); status != 401 {
		t.Fatalf("Kratos's request with a wrong auth token: %d %s, want 401", status, reply)
	}
}

// kratosChannel reads examples/kratos/kratos.yml as Kratos does (YAML, by
// PyYAML), with its placeholders filled in, and returns the sms channel's
// request_config.
func kratosChannel(t *testing.T, base, sid, token string) kratosRequestConfig {
	t.Helper()
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import yaml").Run() != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("Debian's python3 cannot import yaml, and CI is set: .ci/run installs it (apt-get install python3-yaml)")
		}
		t.Skip("SKIPPING: Debian's python3 cannot import yaml (apt-get install python3-yaml)")
	}
	raw, err := os.ReadFile(filepath.Join(kratosDir, "kratos.yml"))
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.NewReplacer("OTPGATE_URL", base, "ACCOUNT_SID", sid, "AUTH_TOKEN", token).Replace(string(raw))
	cmd := exec.Command(py, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)")
	cmd.Stdin = strings.NewReader(yml)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("parse kratos.yml: %v", err)
	}
	var cfg struct {
		Courier struct {
			Channels []struct {
				ID            string              `json:"id"`
				Type          string              `json:"type"`
				RequestConfig kratosRequestConfig `json:"request_config"`
			} `json:"channels"`
		} `json:"courier"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("kratos.yml: %v", err)
	}
	for _, ch := range cfg.Courier.Channels {
		if ch.ID == "sms" && ch.Type == "http" {
			return ch.RequestConfig
		}
	}
	t.Fatalf("kratos.yml has no http channel with id sms: %s", out)
	return kratosRequestConfig{}
}

// kratosSend makes and sends the request Kratos's courier makes for one SMS
// (its request builder): ctx is the message as Kratos passes it to the
// Jsonnet body; a form Content-Type turns the result's fields into a form.
func kratosSend(t *testing.T, rc kratosRequestConfig, recipient, text string) (int, string) {
	t.Helper()
	ctx, _ := json.Marshal(map[string]any{
		"recipient": recipient, "subject": "", "body": text, "message_type": "phone",
		"template_type": "verification_code_valid",
		"template_data": map[string]any{"To": recipient, "VerificationCode": codeRE.FindString(text)},
	})
	ctxFile := filepath.Join(t.TempDir(), "ctx.json")
	if err := os.WriteFile(ctxFile, ctx, 0o600); err != nil {
		t.Fatal(err)
	}
	// The body is a file:// URI where the user put the example's Jsonnet.
	body, ok := strings.CutPrefix(rc.Body, "file://")
	if !ok {
		t.Fatalf("request_config.body %q: want a file:// URI", rc.Body)
	}
	out, err := exec.Command("jsonnet", "--tla-code-file", "ctx="+ctxFile, filepath.Join(kratosDir, filepath.Base(body))).Output()
	if err != nil {
		t.Fatalf("jsonnet %s: %v", body, err)
	}
	fields := map[string]string{} // Kratos wants every field a string for a form
	if err := json.Unmarshal(out, &fields); err != nil {
		t.Fatalf("the Jsonnet body's result %s: %v", out, err)
	}
	if rc.Headers["Content-Type"] != "application/x-www-form-urlencoded" {
		t.Fatalf("Content-Type %q: the Messages API takes a form", rc.Headers["Content-Type"])
	}
	form := url.Values{}
	for k, v := range fields {
		form.Add(k, v)
	}
	req, err := http.NewRequest(rc.Method, rc.URL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range rc.Headers {
		req.Header.Set(k, v)
	}
	if rc.Auth.Type != "basic_auth" {
		t.Fatalf("auth type %q, want basic_auth", rc.Auth.Type)
	}
	req.SetBasicAuth(rc.Auth.Config.User, rc.Auth.Config.Password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	reply, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(reply)
}
