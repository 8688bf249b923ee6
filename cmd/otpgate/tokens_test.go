package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	accountsv1 "github.com/twilio/twilio-go/rest/accounts/v1"
)

// An auth token rotated without downtime through the official SDK: the
// account fetched; a secondary token created (both work); promoted (the old
// one gets 401 at once, the new one works, and callbacks are signed with
// it); deleting a secondary there is none of is a 404. Then the command
// line: rotate-token (the old one stops within a second), disable (every
// token gets 401 within a second, on a running server), enable.
func TestTokenRotation(t *testing.T) {
	s := mustServe(t, nil)
	tw := twilioClient(t, s)
	acc, err := tw.Api.FetchAccount(s.SID)
	if err != nil || *acc.Sid != s.SID || *acc.Status != "active" {
		t.Fatalf("FetchAccount: %+v %v", acc, err)
	}
	other := mustCreateAccount(t, s)
	if r := call(t, "GET", s.URL+"/2010-04-01/Accounts/"+other.SID+".json", s.SID, s.Token, "", ""); r.Status != 403 {
		t.Fatalf("fetching another account: %d %s", r.Status, r.Raw)
	}
	works := func(token string) bool {
		t.Helper()
		return call(t, "GET", s.URL+"/sandbox/messages?to=0790000000", s.SID, token, "", "").Status == 200
	}

	sec, err := tw.AccountsV1.CreateSecondaryAuthToken(&accountsv1.CreateSecondaryAuthTokenParams{})
	if err != nil || sec.SecondaryAuthToken == nil || len(*sec.SecondaryAuthToken) != 32 || *sec.AccountSid != s.SID {
		t.Fatalf("CreateSecondaryAuthToken: %+v %v", sec, err)
	}
	second := *sec.SecondaryAuthToken
	if !works(s.Token) || !works(second) {
		t.Fatal("with a secondary token, both tokens must work")
	}
	promo, err := tw.AccountsV1.UpdateAuthTokenPromotion(&accountsv1.UpdateAuthTokenPromotionParams{})
	if err != nil || promo.AuthToken == nil || *promo.AuthToken != second {
		t.Fatalf("UpdateAuthTokenPromotion: %+v %v", promo, err)
	}
	if works(s.Token) {
		t.Fatal("the old primary token still works after the promotion")
	}
	if !works(second) {
		t.Fatal("the promoted token does not work")
	}
	s.Token = second
	tw = twilioClient(t, s)
	err = tw.AccountsV1.DeleteSecondaryAuthToken(&accountsv1.DeleteSecondaryAuthTokenParams{})
	var te *twclient.TwilioRestError
	if !errors.As(err, &te) || te.Status != 404 {
		t.Fatalf("deleting a secondary token there is none of: %v", err)
	}
	if _, err := tw.AccountsV1.CreateSecondaryAuthToken(&accountsv1.CreateSecondaryAuthTokenParams{}); err != nil {
		t.Fatal(err)
	}
	if err := tw.AccountsV1.DeleteSecondaryAuthToken(&accountsv1.DeleteSecondaryAuthTokenParams{}); err != nil {
		t.Fatalf("DeleteSecondaryAuthToken: %v", err)
	}

	// The command line, against the running server.
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(t.Context(), append(append([]string{"accounts"}, args...), "--sid", s.SID, "--data-dir", s.Config.DataDir), &out, &errOut); err != nil {
			t.Fatalf("accounts %v: %v %s", args, err, errOut.String())
		}
		return out.String()
	}
	within := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a second", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var rotated struct {
		Token string `json:"auth_token"`
	}
	json.Unmarshal([]byte(cli("rotate-token", "--json")), &rotated)
	within("the old token stops after rotate-token", func() bool { return !works(second) })
	if len(rotated.Token) != 32 || !works(rotated.Token) {
		t.Fatalf("the rotated token %q does not work", rotated.Token)
	}
	cli("disable")
	within("a disabled account gets 401", func() bool { return !works(rotated.Token) })
	cli("enable")
	within("an enabled account works again", func() bool { return works(rotated.Token) })
}

// On PostgreSQL, a promotion made through one node takes the old token away
// on the others within a second.
func TestClusterTokenPromotion(t *testing.T) {
	c := newCluster(t, 2, nil)
	a := c.nodes[0]
	tw := twilioClient(t, a)
	sec, err := tw.AccountsV1.CreateSecondaryAuthToken(&accountsv1.CreateSecondaryAuthTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	worksOn := func(n *testServer, token string) bool {
		return call(t, "GET", n.URL+"/sandbox/messages?to=0790000000", c.sid, token, "", "").Status == 200
	}
	deadline := time.Now().Add(time.Second)
	for !worksOn(c.nodes[1], *sec.SecondaryAuthToken) {
		if time.Now().After(deadline) {
			t.Fatal("the secondary token does not work on node 2 within a second")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := tw.AccountsV1.UpdateAuthTokenPromotion(&accountsv1.UpdateAuthTokenPromotionParams{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Second)
	for worksOn(c.nodes[1], c.token) {
		if time.Now().After(deadline) {
			t.Fatal("the old token still works on node 2 a second after the promotion on node 1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !worksOn(c.nodes[1], *sec.SecondaryAuthToken) || worksOn(a, c.token) {
		t.Fatal("after the promotion: the new token must work everywhere, the old nowhere")
	}
}
