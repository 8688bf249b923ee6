package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// twilio-node (testdata/twilio-node, installed by .ci/run) against Verify
// v2, with the one-line change the README gives: a service, a
// verification, a wrong and a right check, a list, an error.
func TestTwilioNodeSDK(t *testing.T) {
	dir := filepath.Join("testdata", "twilio-node")
	needNodePackages(t, dir, "twilio")
	s := mustServe(t, nil)
	cmd := exec.Command("node", "verify.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OTPGATE_URL="+s.URL, "OTPGATE_SID="+s.SID, "OTPGATE_TOKEN="+s.Token)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node verify.js: %v\n%s%s", err, out, stderr)
	}
	var got struct {
		Service struct {
			SID          string `json:"sid"`
			FriendlyName string `json:"friendlyName"`
			CodeLength   int    `json:"codeLength"`
		} `json:"service"`
		Verification struct {
			SID      string `json:"sid"`
			Status   string `json:"status"`
			Attempts int    `json:"attempts"`
		} `json:"verification"`
		Wrong, Right struct {
			Status string `json:"status"`
			Valid  bool   `json:"valid"`
		}
		Listed []string `json:"listed"`
		Error  struct {
			Status int `json:"status"`
			Code   int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	if got.Service.FriendlyName != "Node App" || got.Service.CodeLength != 6 || got.Verification.Status != "pending" || got.Verification.Attempts != 1 ||
		got.Wrong.Status != "pending" || got.Wrong.Valid || got.Right.Status != "approved" || !got.Right.Valid ||
		len(got.Listed) != 1 || got.Listed[0] != got.Service.SID || got.Error.Status != 400 || got.Error.Code != 60200 {
		t.Fatalf("twilio-node saw %s", out)
	}
}
