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

With --metrics-token (the server's), bench also reports where a send's time
went, as the server timed it: p50/p99 of each stage, from the request read to
the SMSC's submit_sm_resp (otpgate_send_stage_seconds).

With --target kannel, the same load goes to Kannel's smsbox instead (a
baseline: the send phase only, GET /cgi-bin/sendsms).

Flags (each also an OTPGATE_* environment variable):
`

// benchFlags are bench's flags, read into a loadgen.Config by config.
type benchFlags struct {
	url, sid, token, phases, service, smscListen *string
	target, kannelDLR, metricsToken              *string
	conc                                         *int
	dur, warm, receiptDelay, bindWait, drain     *time.Duration
	asJSON                                       *bool
}

func newBenchFlags(fs *flag.FlagSet) benchFlags {
	return benchFlags{
		url:          fs.String("url", "http://127.0.0.1:8080", "base URL of the otpgate to load"),
		sid:          fs.String("sid", "", "account SID (required)"),
		token:        fs.String("token", "", "auth token (required; OTPGATE_TOKEN keeps it off the command line)"),
		conc:         fs.Int("concurrency", loadgen.DefaultConcurrency, "connections, each sending its next request when the last one answered"),
		dur:          fs.Duration("duration", loadgen.DefaultDuration, "measured time of each phase"),
		warm:         fs.Duration("warmup", loadgen.DefaultWarmup, "unmeasured time before each phase"),
		phases:       fs.String("phases", "send,verify", "phases in order: send (POST /2fa/send to fresh numbers), verify (POST /2fa/verify with wrong codes on numbers sent to, 4 per number)"),
		service:      fs.String("service", loadgen.DefaultService, "service name in the requests"),
		asJSON:       fs.Bool("json", false, "print the report as JSON"),
		smscListen:   fs.String("smsc-listen", "", "run an SMPP SMSC on this address (e.g. 127.0.0.1:2775) for the otpgate under test to deliver to, and report what reaches it"),
		receiptDelay: fs.Duration("receipt-delay", loadgen.DefaultReceiptDelay, "with --smsc-listen: delay before the SMSC sends a delivery receipt"),
		bindWait:     fs.Duration("bind-wait", time.Minute, "with --smsc-listen: how long to wait for otpgate to bind before the load starts"),
		target:       fs.String("target", loadgen.TargetOtpgate, "what serves --url: otpgate, or kannel (Kannel's smsbox, a baseline: send phase only, GET /cgi-bin/sendsms with --sid and --token as its username and password)"),
		kannelDLR:    fs.String("kannel-dlr-url", "", "with --target kannel: ask Kannel for delivery receipts, and to call this URL with each (say, an otpgate noop-server)"),
		metricsToken: fs.String("metrics-token", "", "the server's --metrics-token: report where a send's time went, stage by stage (p50/p99 of each, from the server's /metrics)"),
		drain:        fs.Duration("drain-timeout", loadgen.DefaultDrainTimeout, "with --smsc-listen: how long to keep watching, after the send phase, for accepted sends still on their way to the SMSC"),
	}
}

// config is the loadgen.Config the flags say, without its SMSC.
func (f benchFlags) config() loadgen.Config {
	warmup := *f.warm
	if warmup == 0 {
		warmup = -1 // loadgen reads 0 as "the default"
	}
	return loadgen.Config{
		URL: *f.url, SID: *f.sid, Token: *f.token, Concurrency: *f.conc, Duration: *f.dur, Warmup: warmup,
		Service: *f.service, Phases: strings.Split(*f.phases, ","), DrainTimeout: *f.drain,
		MetricsToken: *f.metricsToken, Target: *f.target, KannelDLRURL: *f.kannelDLR,
	}
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate bench", flag.ContinueOnError)
	f := newBenchFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *f.sid == "" || *f.token == "" {
		return errors.New("bench: --sid and --token are required")
	}
	cfg := f.config()
	if *f.smscListen != "" {
		smsc, err := loadgen.StartSMSC(loadgen.SMSCConfig{Addr: *f.smscListen, ReceiptDelay: *f.receiptDelay})
		if err != nil {
			return fmt.Errorf("--smsc-listen: %w", err)
		}
		defer smsc.Close()
		fmt.Fprintf(stderr, "bench: SMSC listening on %s; waiting up to %s for a bind (otpgate serve --smpp 'smpp://otpgate:secret@%s?name=sim')\n",
			smsc.Addr(), *f.bindWait, smsc.Addr())
		wctx, cancel := context.WithTimeout(ctx, *f.bindWait)
		err = smsc.WaitBind(wctx)
		cancel()
		if err != nil {
			return err
		}
		cfg.SMSC = smsc
	}
	if *f.target == loadgen.TargetOtpgate && guardOn(ctx, *f.url) {
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
	if *f.asJSON {
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
