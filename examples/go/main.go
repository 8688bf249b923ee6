// Command example texts a one-time code to a phone number and checks the code
// the user types, with Twilio's Go SDK (twilio-go) and its Verify v2 API,
// against otpgate instead of Twilio. Only newClient differs from a Twilio app.
//
//	export OTPGATE_URL=http://127.0.0.1:8080 OTPGATE_ACCOUNT_SID=AC... OTPGATE_AUTH_TOKEN=...
//	export OTPGATE_SERVICE_SID=$(go run ./examples/go service "My App")
//	go run ./examples/go send +962790000000
//	go run ./examples/go check +962790000000 123456
//
// check exits 0 when the code is approved, 1 when it is not; errors exit 2.
package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	verify "github.com/twilio/twilio-go/rest/verify/v2"
)

const usage = `usage:
  go run ./examples/go service NAME        create a Verify service; prints its SID (set OTPGATE_SERVICE_SID to it)
  go run ./examples/go send NUMBER         text a code to NUMBER; prints the verification's SID
  go run ./examples/go check NUMBER CODE   check the code NUMBER's user typed; prints approved or not approved
environment: OTPGATE_URL (default http://127.0.0.1:8080), OTPGATE_ACCOUNT_SID, OTPGATE_AUTH_TOKEN,
  OTPGATE_SERVICE_SID (for send and check)`

func main() {
	base := os.Getenv("OTPGATE_URL")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	sid, token := os.Getenv("OTPGATE_ACCOUNT_SID"), os.Getenv("OTPGATE_AUTH_TOKEN")
	if sid == "" || token == "" {
		fail("set OTPGATE_ACCOUNT_SID and OTPGATE_AUTH_TOKEN (otpgate serve prints them on its first start)")
	}
	tw, err := newClient(base, sid, token)
	if err != nil {
		fail(err.Error())
	}
	service := os.Getenv("OTPGATE_SERVICE_SID")
	args := os.Args[1:]
	switch {
	case len(args) == 2 && args[0] == "service":
		p := &verify.CreateServiceParams{}
		p.SetFriendlyName(args[1])
		s, err := tw.VerifyV2.CreateService(p)
		exitOn(err)
		fmt.Println(*s.Sid)
	case len(args) == 2 && args[0] == "send" && service != "":
		p := &verify.CreateVerificationParams{}
		p.SetTo(args[1]).SetChannel("sms")
		v, err := tw.VerifyV2.CreateVerification(service, p)
		exitOn(err)
		fmt.Println(*v.Sid)
	case len(args) == 3 && args[0] == "check" && service != "":
		p := &verify.CreateVerificationCheckParams{}
		p.SetTo(args[1]).SetCode(args[2])
		c, err := tw.VerifyV2.CreateVerificationCheck(service, p)
		exitOn(err)
		if *c.Status != "approved" {
			fmt.Printf("not approved (%s)\n", *c.Status)
			os.Exit(1)
		}
		fmt.Println("approved")
	case len(args) > 0 && (args[0] == "send" || args[0] == "check") && service == "":
		fail("set OTPGATE_SERVICE_SID to a service's SID (service NAME makes one)")
	default:
		fail(usage)
	}
}

// newClient is twilio-go pointed at otpgate. twilio-go has no base URL
// setting, so its HTTP client gets a transport that sends each request,
// addressed to verify.twilio.com, to otpgate's scheme and host instead. The
// account SID and auth token are otpgate's.
func newClient(base, sid, token string) (*twilio.RestClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTPGATE_URL=%q: want http://HOST[:PORT] or https://HOST[:PORT]", base)
	}
	c := &client.Client{
		Credentials: client.NewCredentials(sid, token),
		HTTPClient:  &http.Client{Transport: toOtpgate{u}, Timeout: 10 * time.Second},
	}
	c.SetAccountSid(sid)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c}), nil
}

// toOtpgate rewrites the scheme and host of every request to otpgate's. The
// Host header stays verify.twilio.com: otpgate then names Twilio's host in
// the URLs of its replies, the ones the SDK follows (a proxy in front of
// otpgate must pass that header on).
type toOtpgate struct{ otpgate *url.URL }

func (t toOtpgate) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.otpgate.Scheme, t.otpgate.Host
	return http.DefaultTransport.RoundTrip(r)
}

// exitOn prints err, with Twilio's error code when it has one, and exits 2.
func exitOn(err error) {
	var te *client.TwilioRestError
	switch {
	case errors.As(err, &te):
		fail(fmt.Sprintf("error %d (HTTP %d): %s", te.Code, te.Status, te.Message))
	case err != nil:
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(2)
}
