package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// twilio-node (testdata/twilio-node, installed by .ci/run) against Verify
// v2, with the one-line change the README gives: a service, a
// verification, a wrong and a right check, a list, an error.
func TestTwilioNodeSDK(t *testing.T) {
	dir := filepath.Join("testdata", "twilio-node")
	needNodePackages(t, dir, "twilio")
	s := mustServe(t, nil)
	out := runNode(t, s, dir, "verify.js")
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
	mustDecodeNode(t, out, &got)
	if got.Service.FriendlyName != "Node App" || got.Service.CodeLength != 6 || got.Verification.Status != "pending" || got.Verification.Attempts != 1 ||
		got.Wrong.Status != "pending" || got.Wrong.Valid || got.Right.Status != "approved" || !got.Right.Valid ||
		len(got.Listed) != 1 || got.Listed[0] != got.Service.SID || got.Error.Status != 400 || got.Error.Code != 60200 {
		t.Fatalf("twilio-node saw %s", out)
	}
}

// runNode runs a script of dir against s, with its URL and credentials
// (and env) in its environment, and returns what it printed.
func runNode(t *testing.T, s *testServer, dir, script string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command("node", script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "OTPGATE_URL="+s.URL, "OTPGATE_SID="+s.SID, "OTPGATE_TOKEN="+s.Token), env...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node %s: %v\n%s%s", script, err, out, stderr)
	}
	return out
}

func mustDecodeNode(t *testing.T, out []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
}

// twilio-node's TOTP calls against otpgate, unchanged: newFactors.create,
// factors(...).update with oathtool's code, challenges.create (approved,
// then the same code pending), fetch, list, and an entity's delete.
func TestTwilioNodeTOTP(t *testing.T) {
	dir := filepath.Join("testdata", "twilio-node")
	needNodePackages(t, dir, "twilio")
	needTool(t, "oathtool", "oathtool")
	clock := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 7, 0, time.UTC)}
	s := mustServe(t, clock)
	out := runNode(t, s, dir, "totp.js", "OTPGATE_NOW="+strconv.FormatInt(clock.Now().Unix(), 10))
	var got struct {
		Created struct {
			SID, Status, Identity, URI string
			HasSecret                  bool
			TimeStep                   int
		}
		Verified    struct{ Status string }
		Challenge   struct{ SID, Status, FactorSID string }
		Replay      struct{ Status string }
		Fetched     string
		Factors     []struct{ SID, Status string }
		Entity      string
		AfterDelete struct{ Status, Code int }
	}
	mustDecodeNode(t, out, &got)
	c := got.Created
	if !strings.HasPrefix(c.SID, "YF") || c.Status != "unverified" || c.Identity != "node-user-0001" || !c.HasSecret || c.TimeStep != 30 ||
		!strings.HasPrefix(c.URI, "otpauth://totp/Node%20Bank:Ann?") || got.Verified.Status != "verified" ||
		!strings.HasPrefix(got.Challenge.SID, "YC") || got.Challenge.Status != "approved" || got.Challenge.FactorSID != c.SID ||
		got.Replay.Status != "pending" || got.Fetched != "approved" || len(got.Factors) != 1 || got.Factors[0].Status != "verified" ||
		got.Entity != "node-user-0001" || got.AfterDelete.Status != 404 || got.AfterDelete.Code != 20404 {
		t.Fatalf("twilio-node saw %s", out)
	}
}
