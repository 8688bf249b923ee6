package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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
	verbose := fs.Bool("verbose", true, "print one line per PDU received")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate smsc-sim [flags]\n\nRuns an SMPP 3.4 SMSC simulator for local development and load tests: it accepts\nbinds, acknowledges submit_sm, sends delivery receipts after a delay with a mix of\noutcomes, can throttle and drop connections, and prints what it receives.\nPoint otpgate at it with --smpp 'smpp://otpgate:secret@127.0.0.1:2775?name=sim'.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	mix, err := parseOutcomes(*outcomes)
	if err != nil {
		return fmt.Errorf("--outcomes: %w", err)
	}
	sim := smscsim.New(smscsim.Config{
		SystemID: *systemID, Password: *password, ReceiptDelay: *delay, Outcomes: mix,
		ThrottleEvery: *throttle, MaxTPS: *maxTPS, DropAfter: *dropAfter, HexIDs: *hexIDs,
		Log: stdout, Verbose: *verbose,
	})
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
