package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// otpgate bound to bench's embedded SMSC, under bench's load for 2s: after
// the drain, every accepted send reached the SMSC (handed == accepted) and
// its receipt was acknowledged, and the per-second rows add up.
func TestBenchThroughEmbeddedSMSC(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2s load test")
	}
	addr := freeAddr(t)
	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.SMPP = []string{"smpp://otpgate:secret@" + addr + "?name=sim"}
		c.NoAbuseGuard = true
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"bench", "--url", s.URL, "--sid", s.SID, "--token", s.Token,
		"--phases", "send", "--concurrency", "16", "--duration", "2s", "--warmup", "200ms",
		"--smsc-listen", addr, "--receipt-delay", "20ms", "--bind-wait", "20s", "--drain-timeout", "20s", "--json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "SMSC listening on "+addr) {
		t.Errorf("stderr = %q", errOut.String())
	}
	var rep struct {
		Phases []struct {
			Name     string
			Requests int64
			Errors   map[string]int64
		}
		SMSC *struct {
			Accepted, Handed int64
			TotalAccepted    int64   `json:"total_accepted"`
			TotalHanded      int64   `json:"total_handed"`
			TotalDelivered   int64   `json:"total_delivered"`
			Drained          bool    `json:"drained"`
			Backlog          int64   `json:"backlog_at_end"`
			Unmatched        int64   `json:"unmatched_submits"`
			Extra            int64   `json:"extra_submits"`
			HandedUnaccepted int64   `json:"handed_unaccepted"`
			P50              float64 `json:"request_to_submit_p50_ms"`
			P99              float64 `json:"request_to_submit_p99_ms"`
			Latencies        int64   `json:"latency_samples"`
			AcceptedPerSec   float64 `json:"accepted_per_sec"`
			HandedPerSec     float64 `json:"handed_per_sec"`
			Rows             []struct {
				Stage                       string
				Accepted, Handed, Delivered int64
			}
		}
		Notes []string
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	if len(rep.Phases) != 1 || rep.Phases[0].Requests == 0 || len(rep.Phases[0].Errors) != 0 {
		t.Fatalf("phases = %+v", rep.Phases)
	}
	m := rep.SMSC
	if m == nil {
		t.Fatalf("no smsc section in %s", out.String())
	}
	t.Logf("accepted %d, handed %d, delivered %d; window %.0f/s accepted, %.0f/s handed; request -> submit_sm p50 %.2fms p99 %.2fms",
		m.TotalAccepted, m.TotalHanded, m.TotalDelivered, m.AcceptedPerSec, m.HandedPerSec, m.P50, m.P99)
	if m.TotalAccepted == 0 || m.TotalHanded != m.TotalAccepted || !m.Drained || m.Backlog != 0 {
		t.Errorf("after the drain: accepted %d, handed %d, drained %v, backlog %d; want handed == accepted > 0",
			m.TotalAccepted, m.TotalHanded, m.Drained, m.Backlog)
	}
	if m.TotalDelivered != m.TotalHanded {
		t.Errorf("delivered %d, want every handed send's receipt (%d) acknowledged", m.TotalDelivered, m.TotalHanded)
	}
	if m.Unmatched != 0 || m.Extra != 0 || m.HandedUnaccepted != 0 {
		t.Errorf("unmatched %d, extra %d, handed unaccepted %d, want none", m.Unmatched, m.Extra, m.HandedUnaccepted)
	}
	if m.Latencies == 0 || m.P50 <= 0 || m.P99 < m.P50 {
		t.Errorf("request -> submit_sm: %d samples, p50 %vms, p99 %vms", m.Latencies, m.P50, m.P99)
	}
	var acc, handed, delivered int64
	stages := map[string]bool{}
	for _, r := range m.Rows {
		acc, handed, delivered = acc+r.Accepted, handed+r.Handed, delivered+r.Delivered
		stages[r.Stage] = true
	}
	if acc != m.TotalAccepted || handed != m.TotalHanded || delivered != m.TotalDelivered {
		t.Errorf("rows add up to %d/%d/%d, want the totals %d/%d/%d", acc, handed, delivered, m.TotalAccepted, m.TotalHanded, m.TotalDelivered)
	}
	if !stages["warmup"] || !stages["load"] {
		t.Errorf("row stages %v, want warmup and load", stages)
	}
}

// bench says when the server's abuse guard is on (its load would look like
// an attack), and not when it is off.
func TestBenchSaysWhenTheGuardIsOn(t *testing.T) {
	for _, off := range []bool{false, true} {
		s := mustServeWith(t, nil, func(c *ServeConfig) { c.NoAbuseGuard = off })
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"bench", "--url", s.URL, "--sid", s.SID, "--token", s.Token,
			"--phases", "send", "--concurrency", "2", "--duration", "200ms", "--warmup", "0s"}, &out, &errOut)
		if err != nil {
			t.Fatalf("bench: %v\n%s", err, errOut.String())
		}
		if said := strings.Contains(errOut.String(), "abuse guard of the server under test is ON"); said == off {
			t.Errorf("guard off=%v: bench said %q", off, errOut.String())
		}
	}
}
