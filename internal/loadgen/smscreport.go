package loadgen

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// SMSCResult is what the embedded SMSC saw of a send phase, matched with
// its requests. Times are from the start of the send phase (its warmup
// included).
type SMSCResult struct {
	// Addr is where the SMSC listened.
	Addr string
	// Rows has one row per second, from the start of the send phase to the
	// end of the drain; the last may be shorter.
	Rows []SMSCRow
	// WindowStart and WindowEnd bound the phase's measured window; LoadEnd
	// is when its last request was answered.
	WindowStart, WindowEnd, LoadEnd time.Duration
	// End is when observing ended.
	End time.Duration
	// In the measured window: sends answered 201, first submit_sm per send
	// arrived at the SMSC, receipts acknowledged with ESME_ROK; and the same
	// per second.
	Accepted, Handed, Delivered             int64
	AcceptedRate, HandedRate, DeliveredRate float64
	// Request sent -> submit_sm at the SMSC, over the sends made in the
	// window that reached it (Latencies of them).
	P50, P90, P99, Max time.Duration
	Latencies          int64
	// Over the whole observation (warmup, load and drain).
	TotalAccepted, TotalHanded, TotalDelivered int64
	// Backlog is how many accepted sends had not reached the SMSC when
	// observing ended; Drained is true when none, and Drain is then the
	// time from LoadEnd until the last accepted send reached it.
	Backlog int64
	Drained bool
	Drain   time.Duration
	// HandedUnaccepted counts sends that reached the SMSC although their
	// request got no 201 (an error status, or no answer in time).
	HandedUnaccepted int64
	// Unmatched counts submit_sm to numbers this run did not send to;
	// Extra counts further submit_sm to a number already handed (parts of
	// a long message, resends).
	Unmatched, Extra int64
	// ReceiptErrors counts receipts answered with an error status (the
	// SMSC sends those again).
	ReceiptErrors int64
}

// SMSCRow is one second of a send phase as the SMSC saw it.
type SMSCRow struct {
	End   time.Duration // end of the second, from the start of the send phase
	Span  time.Duration // 1s, but for a last partial second
	Stage string        // "warmup", "load" or "drain", at the start of the second
	// In this second: sends answered 201, sends whose first submit_sm
	// arrived, receipts acknowledged with ESME_ROK.
	Accepted, Handed, Delivered int64
	// At the end of the second: accepted sends not yet at the SMSC, and how
	// long ago the oldest of them was accepted.
	Backlog   int64
	OldestAge time.Duration
}

// Stages of an SMSCRow.
const (
	StageWarmup = "warmup"
	StageLoad   = "load"
	StageDrain  = "drain"
)

// timeline places a send phase on the tracker's clock.
type timeline struct {
	start       time.Duration // the phase's start (its warmup's)
	windowStart time.Duration // the measured window, from start
	windowEnd   time.Duration
	loadEnd     time.Duration // the last request answered, from start
	end         time.Duration // observing ended, from start; 0: now
}

// result matches the requests of a send phase (sends, on the tracker's
// clock) with what the tracker saw, and computes the per-second rows.
func (t *tracker) result(sends []sendRec, tl timeline, expect int) *SMSCResult {
	t.mu.Lock()
	if tl.end == 0 {
		// Now, under the lock: nothing seen comes after the end.
		tl.end = time.Since(t.base) - tl.start
	}
	submits := make(map[uint32]time.Duration, len(t.submits))
	for n, at := range t.submits {
		submits[n] = at - tl.start
	}
	receipts := slices.Clone(t.receipts)
	res := &SMSCResult{Extra: t.extra, Unmatched: t.foreign}
	t.mu.Unlock()

	res.WindowStart, res.WindowEnd, res.LoadEnd, res.End = tl.windowStart, tl.windowEnd, tl.loadEnd, tl.end
	nRows := int((tl.end + time.Second - 1) / time.Second)
	res.Rows = make([]SMSCRow, max(nRows, 0))
	row := func(at time.Duration) *SMSCRow {
		return &res.Rows[min(max(int(at/time.Second), 0), len(res.Rows)-1)]
	}
	inWindow := func(at time.Duration) bool { return at >= tl.windowStart && at < tl.windowEnd }

	// backlog entries: accepted sends, when they entered and left it
	type entry struct{ in, out time.Duration }
	var entries []entry
	const never = time.Duration(1<<63 - 1)
	var hist histogram
	sentTo := make(map[uint32]bool, len(sends))
	for _, s := range sends {
		sentTo[s.n] = true
		sent, answered := s.sent-tl.start, s.answered-tl.start
		sub, handed := submits[s.n]
		accepted := int(s.status) == expect
		if handed {
			res.TotalHanded++
			if len(res.Rows) > 0 {
				row(sub).Handed++
			}
			if inWindow(sub) {
				res.Handed++
			}
			if !accepted {
				res.HandedUnaccepted++
			}
		}
		if !accepted {
			continue
		}
		res.TotalAccepted++
		if len(res.Rows) > 0 {
			row(answered).Accepted++
		}
		if inWindow(answered) {
			res.Accepted++
		}
		out := never
		if handed {
			out = max(sub, answered)
			if inWindow(sent) {
				hist.record(sub - sent)
			}
		}
		entries = append(entries, entry{answered, out})
	}
	res.Unmatched += int64(len(submits)) - res.TotalHanded
	for _, r := range receipts {
		switch {
		case !r.ok:
			res.ReceiptErrors++
		case !r.foreign && sentTo[r.n]:
			at := r.at - tl.start
			res.TotalDelivered++
			if len(res.Rows) > 0 {
				row(at).Delivered++
			}
			if inWindow(at) {
				res.Delivered++
			}
		}
	}

	// The backlog at time T: entries with in <= T < out. Sorted by in, the
	// oldest is the first entry not yet out by T; once out, always out.
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.in, b.in) })
	ins := make([]time.Duration, len(entries))
	outs := make([]time.Duration, len(entries))
	var lastOut time.Duration
	for i, e := range entries {
		ins[i], outs[i] = e.in, e.out
		if e.out != never {
			lastOut = max(lastOut, e.out)
		} else {
			res.Backlog++
		}
	}
	slices.Sort(outs)
	first := 0
	for i := range res.Rows {
		r := &res.Rows[i]
		start := time.Duration(i) * time.Second
		r.End = min(start+time.Second, tl.end)
		r.Span = r.End - start
		switch {
		case start < tl.windowStart:
			r.Stage = StageWarmup
		case start < tl.windowEnd:
			r.Stage = StageLoad
		default:
			r.Stage = StageDrain
		}
		// at the end of the row: in <= T and out > T
		T := r.End
		in, _ := slices.BinarySearch(ins, T+1)
		out, _ := slices.BinarySearch(outs, T+1)
		r.Backlog = int64(in - out)
		for first < len(entries) && entries[first].out <= T {
			first++
		}
		if first < len(entries) && entries[first].in <= T {
			r.OldestAge = T - entries[first].in
		}
	}

	res.Drained = res.Backlog == 0
	if res.Drained && lastOut > tl.loadEnd {
		res.Drain = lastOut - tl.loadEnd
	}
	if w := (tl.windowEnd - tl.windowStart).Seconds(); w > 0 {
		res.AcceptedRate = float64(res.Accepted) / w
		res.HandedRate = float64(res.Handed) / w
		res.DeliveredRate = float64(res.Delivered) / w
	}
	res.Latencies = int64(hist.n)
	res.P50, res.P90, res.P99, res.Max = hist.quantile(0.5), hist.quantile(0.9), hist.quantile(0.99), hist.max
	return res
}

// writeText writes the rows and a summary.
func (r *SMSCResult) writeText(w io.Writer) error {
	fmt.Fprintf(w, "\nSMSC on %s, per second from the start of the send phase:\n", r.Addr)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tstage\taccepted/s\thanded to SMSC/s\tdelivered/s\tbacklog\toldest\t")
	for _, row := range r.Rows {
		perSec := func(n int64) string {
			if row.Span <= 0 {
				return "-"
			}
			return formatRPS(float64(n) / row.Span.Seconds())
		}
		oldest := "-"
		if row.Backlog > 0 {
			oldest = formatDuration(row.OldestAge)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", formatSeconds(row.End), row.Stage,
			perSec(row.Accepted), perSec(row.Handed), perSec(row.Delivered), row.Backlog, oldest)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "send window (%s): accepted %s/s, handed to the SMSC %s/s, delivered %s/s\n",
		formatSeconds(r.WindowEnd-r.WindowStart), formatRPS(r.AcceptedRate), formatRPS(r.HandedRate), formatRPS(r.DeliveredRate))
	fmt.Fprintf(&b, "request -> submit_sm: p50 %s, p90 %s, p99 %s, max %s (%d sends)\n",
		formatDuration(r.P50), formatDuration(r.P90), formatDuration(r.P99), formatDuration(r.Max), r.Latencies)
	if r.Drained {
		when := "by the time the load ended"
		if r.Drain > 0 {
			when = "the last " + formatDuration(r.Drain) + " after the load ended"
		}
		fmt.Fprintf(&b, "drain: all %d accepted sends reached the SMSC, %s; %d receipts acknowledged by the server (delivered)\n",
			r.TotalAccepted, when, r.TotalDelivered)
	} else {
		fmt.Fprintf(&b, "drain: NOT DRAINED: %d of %d accepted sends had not reached the SMSC when observing stopped (%s after the load ended)\n",
			r.Backlog, r.TotalAccepted, formatSeconds(max(r.End-r.LoadEnd, 0)))
	}
	if r.HandedUnaccepted > 0 {
		fmt.Fprintf(&b, "%d sends reached the SMSC although their request got no 201\n", r.HandedUnaccepted)
	}
	if r.Unmatched > 0 || r.Extra > 0 {
		fmt.Fprintf(&b, "%d submit_sm to numbers this run did not send to, %d more to numbers already handed\n", r.Unmatched, r.Extra)
	}
	if r.ReceiptErrors > 0 {
		fmt.Fprintf(&b, "%d receipts answered with an error status\n", r.ReceiptErrors)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatSeconds prints d in seconds: 1s, 2.5s, 10.03s.
func formatSeconds(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", d.Seconds()), "0"), ".") + "s"
}

type jsonSMSCRow struct {
	EndSeconds      float64 `json:"end_seconds"`
	SpanSeconds     float64 `json:"span_seconds"`
	Stage           string  `json:"stage"`
	Accepted        int64   `json:"accepted"`
	Handed          int64   `json:"handed"`
	Delivered       int64   `json:"delivered"`
	Backlog         int64   `json:"backlog"`
	OldestAgeMs     float64 `json:"oldest_age_ms"`
	AcceptedPerSec  float64 `json:"accepted_per_sec"`
	HandedPerSec    float64 `json:"handed_per_sec"`
	DeliveredPerSec float64 `json:"delivered_per_sec"`
}

type jsonSMSC struct {
	Addr               string        `json:"addr"`
	WindowStartSeconds float64       `json:"window_start_seconds"`
	WindowSeconds      float64       `json:"window_seconds"`
	LoadEndSeconds     float64       `json:"load_end_seconds"`
	EndSeconds         float64       `json:"end_seconds"`
	Accepted           int64         `json:"accepted"`
	Handed             int64         `json:"handed"`
	Delivered          int64         `json:"delivered"`
	AcceptedPerSec     float64       `json:"accepted_per_sec"`
	HandedPerSec       float64       `json:"handed_per_sec"`
	DeliveredPerSec    float64       `json:"delivered_per_sec"`
	SubmitP50Ms        float64       `json:"request_to_submit_p50_ms"`
	SubmitP90Ms        float64       `json:"request_to_submit_p90_ms"`
	SubmitP99Ms        float64       `json:"request_to_submit_p99_ms"`
	SubmitMaxMs        float64       `json:"request_to_submit_max_ms"`
	Latencies          int64         `json:"latency_samples"`
	TotalAccepted      int64         `json:"total_accepted"`
	TotalHanded        int64         `json:"total_handed"`
	TotalDelivered     int64         `json:"total_delivered"`
	Backlog            int64         `json:"backlog_at_end"`
	Drained            bool          `json:"drained"`
	DrainSeconds       float64       `json:"drain_seconds"`
	HandedUnaccepted   int64         `json:"handed_unaccepted"`
	Unmatched          int64         `json:"unmatched_submits"`
	Extra              int64         `json:"extra_submits"`
	ReceiptErrors      int64         `json:"receipt_errors"`
	Rows               []jsonSMSCRow `json:"rows"`
}

func (r *SMSCResult) toJSON() *jsonSMSC {
	out := &jsonSMSC{
		Addr: r.Addr, WindowSeconds: (r.WindowEnd - r.WindowStart).Seconds(),
		Accepted: r.Accepted, Handed: r.Handed, Delivered: r.Delivered,
		AcceptedPerSec: r.AcceptedRate, HandedPerSec: r.HandedRate, DeliveredPerSec: r.DeliveredRate,
		SubmitP50Ms: ms(r.P50), SubmitP90Ms: ms(r.P90), SubmitP99Ms: ms(r.P99), SubmitMaxMs: ms(r.Max), Latencies: r.Latencies,
		TotalAccepted: r.TotalAccepted, TotalHanded: r.TotalHanded, TotalDelivered: r.TotalDelivered,
		Backlog: r.Backlog, Drained: r.Drained, DrainSeconds: r.Drain.Seconds(),
		HandedUnaccepted: r.HandedUnaccepted, Unmatched: r.Unmatched, Extra: r.Extra, ReceiptErrors: r.ReceiptErrors,
		Rows: []jsonSMSCRow{}, LoadEndSeconds: r.LoadEnd.Seconds(), WindowStartSeconds: r.WindowStart.Seconds(),
		EndSeconds: r.End.Seconds(),
	}
	for _, row := range r.Rows {
		j := jsonSMSCRow{
			EndSeconds: row.End.Seconds(), SpanSeconds: row.Span.Seconds(), Stage: row.Stage,
			Accepted: row.Accepted, Handed: row.Handed, Delivered: row.Delivered,
			Backlog: row.Backlog, OldestAgeMs: ms(row.OldestAge),
		}
		if s := row.Span.Seconds(); s > 0 {
			j.AcceptedPerSec = float64(row.Accepted) / s
			j.HandedPerSec = float64(row.Handed) / s
			j.DeliveredPerSec = float64(row.Delivered) / s
		}
		out.Rows = append(out.Rows, j)
	}
	return out
}
