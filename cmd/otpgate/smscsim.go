package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/smscsim"
)

func runSMSCSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate smsc-sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2775", "address to listen on")
	systemID := fs.String("system-id", "", "system_id binds must give (empty: any)")
	password := fs.String("password", "", "password binds must give (empty: any)")
	delay := fs.Duration("receipt-delay", 100*time.Millisecond, "delay before a delivery receipt (sent when the submit_sm asks for one)")
	outcomes := fs.String("outcomes", "DELIVRD=1", "mix of receipt outcomes, e.g. DELIVRD=0.9,UNDELIV=0.05,EXPIRED=0.05 (also REJECTD, DELETED, ACCEPTD, UNKNOWN)")
	throttle := fs.Int("throttle-every", 0, "answer every Nth submit_sm with ESME_RTHROTTLED (0: never)")
	maxTPS := fs.Int("max-tps", 0, "answer submit_sm beyond this rate per connection with ESME_RTHROTTLED (0: unlimited)")
	dropAfter := fs.Int("drop-after", 0, "drop each connection after this many submit_sm, without unbind (0: never)")
	hexIDs := fs.Bool("hex-ids", false, "message ids in hex in submit_sm_resp and decimal in the receipt text, as some SMSCs do")
	verbose := fs.Bool("verbose", false, "print one line per PDU received")
	printMsgs := fs.Bool("print-messages", true, "print one line per message taken (time UTC, destination, sender, the decoded text, so codes too); off for load tests")
	httpAddr := fs.String("http", defaultSimHTTP, "serve the messages taken at http://ADDR/messages?to=NUMBER, as the sandbox inbox does, without auth; a loopback address only, unless --http-public (\"\": off)")
	httpPublic := fs.Bool("http-public", false, "allow --http to listen beyond loopback (no auth: anyone who reaches it reads every code)")
	keep := fs.Int("keep", smscsim.DefaultKeep, "messages --http keeps in memory, the oldest forgotten first (each text up to 4 KB)")
	region := fs.String("region", "JO", "region of numbers written without a country code in GET /messages?to=, as serve's --region")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate smsc-sim [flags]\n\nRuns an SMPP 3.4 SMSC simulator for local development and load tests: it accepts\nbinds, acknowledges submit_sm, sends delivery receipts after a delay with a mix of\noutcomes, can throttle and drop connections, and prints what it receives.\nPoint otpgate at it with --smpp 'smpp://otpgate:secret@127.0.0.1:2775?name=sim'.\n\nEach message is printed once whole (long ones joined: UDH, SAR or message_payload),\ndecoded (GSM-7, UCS-2, Latin-1), and served at GET /messages?to=NUMBER on --http,\nso a developer can read a code: curl 'http://127.0.0.1:2776/messages?to=0790320012'.\n\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	mix, err := parseOutcomes(*outcomes)
	if err != nil {
		return fmt.Errorf("--outcomes: %w", err)
	}
	if *httpAddr != "" && !*httpPublic && !loopbackAddr(*httpAddr) {
		return fmt.Errorf("--http %s: the messages (and the codes in them) are served without authentication, so on loopback only (127.0.0.1:PORT, [::1]:PORT, localhost:PORT); add --http-public to listen there anyway", *httpAddr)
	}
	if *keep < 1 {
		return fmt.Errorf("--keep %d: at least 1", *keep)
	}
	phones, err := phone.NewParser(*region)
	if err != nil {
		return fmt.Errorf("--region: %w", err)
	}
	var inbox *smscsim.Inbox
	if *httpAddr != "" {
		inbox = smscsim.NewInbox(*keep, phones)
	}
	cfg := smscsim.Config{
		SystemID: *systemID, Password: *password, ReceiptDelay: *delay, Outcomes: mix,
		ThrottleEvery: *throttle, MaxTPS: *maxTPS, DropAfter: *dropAfter, HexIDs: *hexIDs,
		Log: stdout, Verbose: *verbose,
	}
	if *printMsgs || inbox != nil {
		// Calls come one at a time (smscsim.Config.Messages).
		cfg.Messages = func(m smscsim.Message) {
			if *printMsgs {
				_, _ = io.WriteString(stdout, m.Line()+"\n")
			}
			if inbox != nil {
				inbox.Add(m)
			}
		}
	}
	sim := smscsim.New(cfg)
	var web *http.Server
	if inbox != nil {
		hl, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return fmt.Errorf("--http: %w", err)
		}
		web = &http.Server{Handler: inbox, ReadHeaderTimeout: 10 * time.Second}
		go web.Serve(hl)
		defer web.Close()
		fmt.Fprintf(stdout, "smsc-sim: messages at http://%s/messages?to=NUMBER (the last %d)\n", hl.Addr(), *keep)
	}
	a, err := sim.Start(*addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	fmt.Fprintf(stdout, "smsc-sim listening on %s\n", a)
	<-ctx.Done()
	err = sim.Close()
	fmt.Fprintf(stdout, "smsc-sim stopped after %d submit_sm and %d binds\n", sim.Count(), sim.Binds())
	return err
}

// defaultSimHTTP is where otpgate smsc-sim serves the messages it took
// unless --http says otherwise; serve's first start and log name it.
const defaultSimHTTP = "127.0.0.1:2776"

func parseOutcomes(s string) (map[string]float64, error) {
	known := map[string]bool{"DELIVRD": true, "UNDELIV": true, "EXPIRED": true, "REJECTD": true, "DELETED": true, "ACCEPTD": true, "UNKNOWN": true}
	out := map[string]float64{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		k = strings.ToUpper(k)
		if !ok || !known[k] {
			return nil, fmt.Errorf("%q: want STAT=WEIGHT with STAT one of DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, ACCEPTD, UNKNOWN", kv)
		}
		w, err := strconv.ParseFloat(v, 64)
		if err != nil || w < 0 {
			return nil, fmt.Errorf("%q: the weight must be a number >= 0", kv)
		}
		out[k] = w
	}
	if len(out) == 0 {
		return nil, errors.New("no outcomes")
	}
	return out, nil
}
