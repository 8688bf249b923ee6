package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/loadgen"
)

const benchUsage = `Usage: otpgate bench --url URL --sid SID --token TOKEN [flags]

Load-tests a running otpgate: requests/s and p50/p90/p99/max latency of
send and verify, with error counts. The sends are real: against a server with
an operator connector they text real numbers; use a sandbox server, or
--smsc-listen. Start it with --abuse-guard=off: codes to sequential numbers,
never checked, are what its SMS-pumping guard blocks (bench warns when the
guard is on).

With --smsc-listen ADDR, bench runs an SMPP SMSC itself; start the otpgate
under test with --smpp 'smpp://otpgate:secret@ADDR?name=sim'. bench waits for
its bind, then reports per second of the send phase: sends accepted (201),
handed to the SMSC (submit_sm arrived), delivered (receipts otpgate
acknowledged), the backlog (accepted, not yet at the SMSC) and the age of its
oldest entry, and p50/p99 from request sent to submit_sm. After the load it
keeps watching until the backlog is empty (or --drain-timeout).

Flags (each also an OTPGATE_* environment variable):
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate bench", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080", "base URL of the otpgate to load")
	sid := fs.String("sid", "", "account SID (required)")
	token := fs.String("token", "", "auth token (required; OTPGATE_TOKEN keeps it off the command line)")
	conc := fs.Int("concurrency", loadgen.DefaultConcurrency, "connections, each sending its next request when the last one answered")
	dur := fs.Duration("duration", loadgen.DefaultDuration, "measured time of each phase")
	warm := fs.Duration("warmup", loadgen.DefaultWarmup, "unmeasured time before each phase")
	phases := fs.String("phases", "send,verify", "phases in order: send (POST /2fa/send to fresh numbers), verify (POST /2fa/verify with wrong codes on numbers sent to, 4 per number)")
	service := fs.String("service", loadgen.DefaultService, "service name in the requests")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	smscListen := fs.String("smsc-listen", "", "run an SMPP SMSC on this address (e.g. 127.0.0.1:2775) for the otpgate under test to deliver to, and report what reaches it")
	receiptDelay := fs.Duration("receipt-delay", loadgen.DefaultReceiptDelay, "with --smsc-listen: delay before the SMSC sends a delivery receipt")
	bindWait := fs.Duration("bind-wait", time.Minute, "with --smsc-listen: how long to wait for otpgate to bind before the load starts")
	drainTimeout := fs.Duration("drain-timeout", loadgen.DefaultDrainTimeout, "with --smsc-listen: how long to keep watching, after the send phase, for accepted sends still on their way to the SMSC")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *sid == "" || *token == "" {
		return errors.New("bench: --sid and --token are required")
	}
	warmup := *warm
	if warmup == 0 {
		warmup = -1 // loadgen reads 0 as "the default"
	}
	cfg := loadgen.Config{
		URL: *url, SID: *sid, Token: *token, Concurrency: *conc, Duration: *dur, Warmup: warmup,
		Service: *service, Phases: strings.Split(*phases, ","), DrainTimeout: *drainTimeout,
	}
	if *smscListen != "" {
		smsc, err := loadgen.StartSMSC(loadgen.SMSCConfig{Addr: *smscListen, ReceiptDelay: *receiptDelay})
		if err != nil {
			return fmt.Errorf("--smsc-listen: %w", err)
		}
		defer smsc.Close()
		fmt.Fprintf(stderr, "bench: SMSC listening on %s; waiting up to %s for a bind (otpgate serve --smpp 'smpp://otpgate:secret@%s?name=sim')\n",
			smsc.Addr(), *bindWait, smsc.Addr())
		wctx, cancel := context.WithTimeout(ctx, *bindWait)
		err = smsc.WaitBind(wctx)
		cancel()
		if err != nil {
			return err
		}
		cfg.SMSC = smsc
	}
	if guardOn(ctx, *url) {
		fmt.Fprintln(stderr, "bench: the abuse guard of the server under test is ON: its rate limits and SMS-pumping guard will refuse much of this load (429 and 403/60410), as they would an attack; to measure throughput, start it with --abuse-guard=off")
	}
	// On a terminal, a line on stderr says how far the load has gone; piped,
	// nothing (scripts/bench*.sh read stdout).
	done := newProgressLine(stderr).every(250*time.Millisecond, benchProgress(time.Now(), cfg))
	rep, err := loadgen.Run(ctx, cfg)
	done()
	if err != nil && (ctx.Err() == nil || len(rep.Phases) == 0) {
		return err
	}
	// On Ctrl-C, print what was measured so far.
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}

// benchProgress words how far bench has gone. Its phases last a known time
// (each a warm-up and a measured window); with an SMSC, the wait for
// accepted sends to reach it after the send phase adds up to the drain
// timeout.
func benchProgress(start time.Time, cfg loadgen.Config) func() string {
	warmup, dur, drain := cfg.Warmup, cfg.Duration, cfg.DrainTimeout
	switch {
	case warmup < 0:
		warmup = 0
	case warmup == 0:
		warmup = loadgen.DefaultWarmup
	}
	if dur == 0 {
		dur = loadgen.DefaultDuration
	}
	if drain == 0 {
		drain = loadgen.DefaultDrainTimeout
	}
	total := time.Duration(len(cfg.Phases)) * (warmup + dur)
	what := strings.Join(cfg.Phases, ", then ")
	return func() string {
		el := time.Since(start)
		switch {
		case cfg.SMSC != nil && el > total:
			return fmt.Sprintf("bench: %s: %s of load, and the wait for sends to reach the SMSC (up to %s)", seconds(el), seconds(total), seconds(drain))
		case cfg.SMSC != nil:
			return fmt.Sprintf("bench: %s %s of %s + SMSC drain (%s)", bar(float64(el), float64(total), 20), seconds(el), seconds(total), what)
		}
		return fmt.Sprintf("bench: %s %s of %s (%s)", bar(float64(el), float64(total), 20), seconds(el), seconds(total), what)
	}
}

// guardOn reports whether the otpgate at base says its abuse guard is on
// (GET /healthz).
func guardOn(ctx context.Context, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		AbuseGuard string `json:"abuse_guard"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&h)
	return h.AbuseGuard == "on"
}

func runNoop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate noop-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate noop-server [--addr ADDR]\n\nServes a no-op HTTP handler (201 to POST /2fa/send, 200 to anything else):\nrun otpgate bench against it for the ceiling of this machine and generator.\n\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	return loadgen.ServeNoop(ctx, *addr, func(a net.Addr) {
		fmt.Fprintf(stdout, "noop-server listening on %s (%s)\n", a, time.Now().Format(time.RFC3339))
	})
}
