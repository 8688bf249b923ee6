package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/otpgate/otpgate/internal/latency"
)

// StageResult is one stage of a send, as the server under test timed it
// (its otpgate_send_stage_seconds histogram) during a phase's measured
// window: how many sends passed it, and its p50 and p99, read from the
// histogram's buckets as Prometheus's histogram_quantile does (within a
// bucket's width: about a third).
type StageResult struct {
	Stage    string
	Count    int64
	P50, P99 time.Duration
}

// stageMetric is the server's histogram of a send's stages.
const stageMetric = latency.MetricName

// stageHist is one stage's cumulative bucket counts at a moment.
type stageHist struct {
	bounds []float64 // upper bounds, +Inf last
	counts []float64 // cumulative
}

// stageSnapshot is every stage's histogram, in the order the server lists them.
type stageSnapshot struct {
	order  []string
	stages map[string]stageHist
}

// scrapeStages reads the stage histograms from base's /metrics (with the
// bearer token of the server's --metrics-token).
func scrapeStages(ctx context.Context, client *http.Client, base, token string) (stageSnapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return stageSnapshot{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return stageSnapshot{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return stageSnapshot{}, fmt.Errorf("GET /metrics: %s (the server's --metrics-token?)", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return stageSnapshot{}, fmt.Errorf("GET /metrics: %w", err)
	}
	mf := mfs[stageMetric]
	if mf == nil {
		return stageSnapshot{}, fmt.Errorf("GET /metrics: no %s (an otpgate older than the stage histograms?)", stageMetric)
	}
	snap := stageSnapshot{stages: map[string]stageHist{}}
	for _, m := range mf.GetMetric() {
		var stage string
		for _, l := range m.GetLabel() {
			if l.GetName() == "stage" {
				stage = l.GetValue()
			}
		}
		var h stageHist
		for _, b := range m.GetHistogram().GetBucket() {
			h.bounds = append(h.bounds, b.GetUpperBound())
			h.counts = append(h.counts, float64(b.GetCumulativeCount()))
		}
		h.bounds = append(h.bounds, math.Inf(1))
		h.counts = append(h.counts, float64(m.GetHistogram().GetSampleCount()))
		snap.order = append(snap.order, stage)
		snap.stages[stage] = h
	}
	return snap, nil
}

// stagesBetween is what happened to each stage between two snapshots.
func stagesBetween(before, after stageSnapshot) []StageResult {
	var out []StageResult
	for _, name := range stageOrder(after.order) {
		a := after.stages[name]
		b, ok := before.stages[name]
		delta := make([]float64, len(a.counts))
		for i := range a.counts {
			delta[i] = a.counts[i]
			if ok && i < len(b.counts) {
				delta[i] -= b.counts[i]
			}
		}
		n := delta[len(delta)-1]
		out = append(out, StageResult{Stage: name, Count: int64(n),
			P50: quantile(0.5, a.bounds, delta), P99: quantile(0.99, a.bounds, delta)})
	}
	return out
}

// stageOrder is the server's stages in the order a send passes them
// (names the server lists that this bench does not know go last).
func stageOrder(have []string) []string {
	var known []string
	for _, st := range latency.Stages() {
		known = append(known, st.String())
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range known {
		for _, h := range have {
			if h == k {
				out, seen[k] = append(out, k), true
			}
		}
	}
	for _, h := range have {
		if !seen[h] {
			out = append(out, h)
		}
	}
	return out
}

// quantile is q of the cumulative counts in buckets with the given upper
// bounds, interpolated linearly within its bucket; 0 with no observations.
func quantile(q float64, bounds, cum []float64) time.Duration {
	n := cum[len(cum)-1]
	if n <= 0 {
		return 0
	}
	rank := q * n
	for i, c := range cum {
		if c < rank {
			continue
		}
		lo, prev := 0.0, 0.0
		if i > 0 {
			lo, prev = bounds[i-1], cum[i-1]
		}
		hi := bounds[i]
		if math.IsInf(hi, 1) {
			return time.Duration(lo * float64(time.Second)) // past the last bound: its lower edge
		}
		frac := 0.0
		if c > prev {
			frac = (rank - prev) / (c - prev)
		}
		return time.Duration((lo + (hi-lo)*frac) * float64(time.Second))
	}
	return 0
}

// writeStages writes a phase's stages as a table.
func writeStages(w io.Writer, phase string, stages []StageResult) error {
	if len(stages) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\n%s: where a send's time went (the server's %s, this phase's window)\n", phase, stageMetric)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "stage\tsends\tp50\tp99")
	for _, s := range stages {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Stage, s.Count, formatDuration(s.P50), formatDuration(s.P99))
	}
	return tw.Flush()
}
