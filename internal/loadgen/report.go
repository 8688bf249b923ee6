package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// PhaseResult is what one phase measured. Requests counts every request that
// finished inside the measured window, errors included; RPS is Requests per
// second of that window. The percentiles cover requests that got an HTTP
// answer (of any status).
type PhaseResult struct {
	Name     string
	Requests int64
	// Errors counts the requests that did not get the expected status, by
	// kind: "HTTP 429" (an error status), "status 200" (an unexpected
	// non-error status) or "transport: <short reason>" (no answer).
	Errors   map[string]int64
	Duration time.Duration // the measured window
	RPS      float64
	P50      time.Duration
	P90      time.Duration
	P99      time.Duration
	Max      time.Duration
	// Stages are where a send's time went, as the server timed it (with
	// Config.MetricsToken; nil without).
	Stages []StageResult
}

// Report is the outcome of Run: one result per phase, and notes explaining
// errors or early ends.
type Report struct {
	Phases []PhaseResult
	// SMSC is what the embedded SMSC saw of the send phase; nil when the
	// run had none (Config.SMSC).
	SMSC  *SMSCResult
	Notes []string
}

// WriteText writes the report as a table followed by its notes.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\trequests\treq/s\tp50\tp90\tp99\tmax\terrors")
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
			p.Name, p.Requests, formatRPS(p.RPS),
			formatDuration(p.P50), formatDuration(p.P90), formatDuration(p.P99), formatDuration(p.Max),
			formatErrors(p.Errors))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Phases {
		if err := writeStages(w, p.Name, p.Stages); err != nil {
			return err
		}
	}
	if r.SMSC != nil {
		if err := r.SMSC.writeText(w); err != nil {
			return err
		}
	}
	if len(r.Notes) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\nnotes:\n")
	for _, n := range r.Notes {
		b.WriteString("  - ")
		b.WriteString(n)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type jsonPhase struct {
	Name            string           `json:"name"`
	Requests        int64            `json:"requests"`
	Errors          map[string]int64 `json:"errors"`
	DurationSeconds float64          `json:"duration_seconds"`
	RPS             float64          `json:"rps"`
	P50Ms           float64          `json:"p50_ms"`
	P90Ms           float64          `json:"p90_ms"`
	P99Ms           float64          `json:"p99_ms"`
	MaxMs           float64          `json:"max_ms"`
	Stages          []jsonStage      `json:"stages,omitempty"`
}

type jsonStage struct {
	Stage string  `json:"stage"`
	Count int64   `json:"sends"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}

type jsonReport struct {
	Phases []jsonPhase `json:"phases"`
	SMSC   *jsonSMSC   `json:"smsc,omitempty"`
	Notes  []string    `json:"notes"`
}

// WriteJSON writes the report as indented JSON, with durations in
// milliseconds (phase durations in seconds).
func (r Report) WriteJSON(w io.Writer) error {
	out := jsonReport{Phases: []jsonPhase{}, Notes: r.Notes}
	if out.Notes == nil {
		out.Notes = []string{}
	}
	for _, p := range r.Phases {
		errs := p.Errors
		if errs == nil {
			errs = map[string]int64{}
		}
		out.Phases = append(out.Phases, jsonPhase{
			Name:            p.Name,
			Requests:        p.Requests,
			Errors:          errs,
			DurationSeconds: p.Duration.Seconds(),
			RPS:             p.RPS,
			P50Ms:           ms(p.P50),
			P90Ms:           ms(p.P90),
			P99Ms:           ms(p.P99),
			MaxMs:           ms(p.Max),
			Stages:          jsonStages(p.Stages),
		})
	}
	if r.SMSC != nil {
		out.SMSC = r.SMSC.toJSON()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func jsonStages(stages []StageResult) []jsonStage {
	var out []jsonStage
	for _, s := range stages {
		out = append(out, jsonStage{Stage: s.Stage, Count: s.Count, P50Ms: ms(s.P50), P99Ms: ms(s.P99)})
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func formatRPS(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// formatDuration prints d with three significant digits or so: 850µs,
// 1.23ms, 12.3ms, 123ms, 1.23s.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", ms(d))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", ms(d))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", ms(d))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// formatErrors lists error kinds, most frequent first.
func formatErrors(errs map[string]int64) string {
	if len(errs) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(errs[b], errs[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, errs[k])
	}
	return strings.Join(parts, ", ")
}
