package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/loadgen"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate bench", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080", "base URL of the otpgate to load")
	sid := fs.String("sid", "", "account SID (required)")
	token := fs.String("token", "", "auth token (required)")
	conc := fs.Int("concurrency", loadgen.DefaultConcurrency, "connections, each sending its next request when the last one answered")
	dur := fs.Duration("duration", loadgen.DefaultDuration, "measured time of each phase")
	warm := fs.Duration("warmup", loadgen.DefaultWarmup, "unmeasured time before each phase")
	phases := fs.String("phases", "send,verify", "phases in order: send (POST /2fa/send to fresh numbers), verify (POST /2fa/verify with wrong codes on numbers sent to, 4 per number)")
	service := fs.String("service", loadgen.DefaultService, "service name in the requests")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate bench --url URL --sid SID --token TOKEN [flags]\n\nLoad-tests a running otpgate: requests/s and p50/p90/p99/max latency of\nsend and verify, with error counts. The sends are real: against a server with\nan operator connector they text real numbers; use a sandbox server.\n\nFlags (each also an OTPGATE_* environment variable):\n")
		fs.PrintDefaults()
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
	rep, err := loadgen.Run(ctx, loadgen.Config{
		URL: *url, SID: *sid, Token: *token, Concurrency: *conc, Duration: *dur, Warmup: warmup,
		Service: *service, Phases: strings.Split(*phases, ","),
	})
	if err != nil && (ctx.Err() == nil || len(rep.Phases) == 0) {
		return err
	}
	// On Ctrl-C, print what was measured so far.
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}

func runNoop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate noop-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate noop-server [--addr ADDR]\n\nServes a no-op HTTP handler (201 to POST /2fa/send, 200 to anything else):\nrun otpgate bench against it for the ceiling of this machine and generator.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	return loadgen.ServeNoop(ctx, *addr, func(a net.Addr) {
		fmt.Fprintf(stdout, "noop-server listening on %s (%s)\n", a, time.Now().Format(time.RFC3339))
	})
}
