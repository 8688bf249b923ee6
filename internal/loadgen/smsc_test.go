package loadgen

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestBenchNumber(t *testing.T) {
	tests := []struct {
		dest string
		n    uint32
		ok   bool
	}{
		{"962791234567", 1234567, true},
		{"+962790000001", 1, true},
		{"00962799999999", 9999999, true},
		{"0791234567", 1234567, true},
		{"962781234567", 0, false}, // not 79
		{"96279123456", 0, false},  // short
		{"96279123456x", 0, false},
		{"MyApp", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		n, ok := benchNumber(tt.dest)
		if n != tt.n || ok != tt.ok {
			t.Errorf("benchNumber(%q) = %d, %v, want %d, %v", tt.dest, n, ok, tt.n, tt.ok)
		}
	}
}

const ms100 = 100 * time.Millisecond

// at is a time given in tenths of a second.
func at(tenths int) time.Duration { return time.Duration(tenths) * ms100 }

// dest is a destination as otpgate sends it, for the bench number n.
func dest(n uint32) string { return string(appendDigits7([]byte("96279"), n)) }

func within(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= float64(want)/200
}

// A made-up send phase: warmup 0-1s, window 1-3s, load answered by 3.1s,
// observed until 4.5s. The tracker's clock starts 5s before the phase.
func TestTrackerResult(t *testing.T) {
	base := time.Now()
	tr := newTracker(base)
	start := 5 * time.Second
	ev := func(d time.Duration) time.Time { return base.Add(start + d) }
	send := func(n uint32, sent, answered time.Duration, status int32) sendRec {
		return sendRec{n: n, sent: start + sent, answered: start + answered, status: status}
	}
	sends := []sendRec{
		send(1, at(1), at(2), 201),
		send(2, at(10), at(11), 201),                     // at the SMSC only at 2.5s
		send(3, at(12), at(13), 201),                     // at the SMSC before its 201 was read
		send(4, at(15), at(16), 503),                     // refused
		send(5, at(17), at(18), 0),                       // no answer, but delivered
		send(6, at(29), at(30)+50*time.Millisecond, 201), // at the SMSC in the drain
	}
	tr.Submitted(dest(1), ev(at(3)))
	tr.Submitted(dest(1), ev(at(4))) // a second part
	tr.ReceiptAnswered(dest(1), 0, ev(at(5)))
	tr.Submitted(dest(3), ev(at(12)+50*time.Millisecond))
	tr.Submitted(dest(5), ev(at(19)))
	tr.Submitted("447700900000", ev(at(20))) // someone else's
	tr.Submitted(dest(99), ev(at(21)))       // not sent by this run
	tr.Submitted(dest(2), ev(at(25)))
	tr.ReceiptAnswered(dest(2), 0x58, ev(at(27))) // refused, sent again
	tr.ReceiptAnswered(dest(2), 0, ev(at(37)))
	tr.Submitted(dest(6), ev(at(42)))

	res := tr.result(sends, timeline{start: start, windowStart: at(10), windowEnd: at(30), loadEnd: at(31), end: at(45)}, 201)

	type row struct {
		end                         time.Duration
		stage                       string
		accepted, handed, delivered int64
		backlog                     int64
		oldest                      time.Duration
	}
	want := []row{
		{at(10), StageWarmup, 1, 1, 1, 0, 0},
		{at(20), StageLoad, 2, 2, 0, 1, at(9)}, // send 2, accepted at 1.1s
		{at(30), StageLoad, 0, 1, 0, 0, 0},
		{at(40), StageDrain, 1, 0, 1, 1, at(9) + 50*time.Millisecond}, // send 6
		{at(45), StageDrain, 0, 1, 0, 0, 0},
	}
	if len(res.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(res.Rows), len(want), res.Rows)
	}
	for i, w := range want {
		r := res.Rows[i]
		got := row{r.End, r.Stage, r.Accepted, r.Handed, r.Delivered, r.Backlog, r.OldestAge}
		if got != w {
			t.Errorf("row %d = %+v, want %+v", i, got, w)
		}
	}
	if res.Rows[4].Span != 500*time.Millisecond || res.Rows[0].Span != time.Second {
		t.Errorf("spans %v, %v, want 1s and 500ms", res.Rows[0].Span, res.Rows[4].Span)
	}
	// In the window: 201s of sends 2 and 3; submits of 3, 5 and 2.
	if res.Accepted != 2 || res.Handed != 3 || res.Delivered != 0 || res.AcceptedRate != 1 || res.HandedRate != 1.5 {
		t.Errorf("window: accepted %d (%v/s), handed %d (%v/s), delivered %d", res.Accepted, res.AcceptedRate, res.Handed, res.HandedRate, res.Delivered)
	}
	// Sends made in the window and handed: 3 (50ms), 6 (1.3s), 2 (1.5s).
	if res.Latencies != 3 || !within(res.P50, 1300*time.Millisecond) || !within(res.P99, 1500*time.Millisecond) || res.Max != 1500*time.Millisecond {
		t.Errorf("request -> submit_sm: %d samples, p50 %v, p99 %v, max %v", res.Latencies, res.P50, res.P99, res.Max)
	}
	if res.TotalAccepted != 4 || res.TotalHanded != 5 || res.TotalDelivered != 2 || res.HandedUnaccepted != 1 {
		t.Errorf("totals: accepted %d, handed %d (%d unaccepted), delivered %d", res.TotalAccepted, res.TotalHanded, res.HandedUnaccepted, res.TotalDelivered)
	}
	if res.Unmatched != 2 || res.Extra != 1 || res.ReceiptErrors != 1 {
		t.Errorf("unmatched %d, extra %d, receipt errors %d, want 2, 1, 1", res.Unmatched, res.Extra, res.ReceiptErrors)
	}
	if !res.Drained || res.Backlog != 0 || res.Drain != at(11) {
		t.Errorf("drained %v, backlog %d, drain %v, want drained 1.1s after the load", res.Drained, res.Backlog, res.Drain)
	}

	var text bytes.Buffer
	if err := (Report{SMSC: res}).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"accepted/s", "handed to SMSC/s", "backlog", "oldest", "900ms", "950ms", "4.5s",
		"accepted 1.0/s, handed to the SMSC 1.5/s", "p50 1.30s", "all 4 accepted sends reached the SMSC, the last 1.10s after"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, text.String())
		}
	}
	var j bytes.Buffer
	if err := (Report{SMSC: res}).WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var got jsonReport
	if err := json.Unmarshal(j.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if s := got.SMSC; s == nil || len(s.Rows) != 5 || s.Rows[1].OldestAgeMs != 900 || s.Rows[4].HandedPerSec != 2 || s.TotalHanded != 5 || !s.Drained {
		t.Errorf("JSON smsc = %+v", got.SMSC)
	}
}

// An accepted send that never reaches the SMSC stays in the backlog, aging.
func TestTrackerNotDrained(t *testing.T) {
	base := time.Now()
	tr := newTracker(base)
	sends := []sendRec{{n: 7, sent: at(4), answered: at(5), status: 201}}
	res := tr.result(sends, timeline{windowEnd: at(10), loadEnd: at(6), end: at(20)}, 201)
	if len(res.Rows) != 2 || res.Rows[0].Backlog != 1 || res.Rows[0].OldestAge != at(5) ||
		res.Rows[1].Backlog != 1 || res.Rows[1].OldestAge != at(15) || res.Rows[1].Stage != StageDrain {
		t.Errorf("rows = %+v", res.Rows)
	}
	if res.Drained || res.Backlog != 1 || res.Latencies != 0 {
		t.Errorf("drained %v, backlog %d, latencies %d", res.Drained, res.Backlog, res.Latencies)
	}
	var text bytes.Buffer
	if err := (Report{SMSC: res}).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "NOT DRAINED: 1 of 1 accepted sends") {
		t.Errorf("text:\n%s", text.String())
	}
}
