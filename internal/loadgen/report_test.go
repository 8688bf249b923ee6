package loadgen

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	vals := make([]time.Duration, 100_000)
	for i := range vals {
		// Log-uniform between 100ns and 10s.
		vals[i] = time.Duration(math.Exp(math.Log(100) + rng.Float64()*math.Log(1e8)))
		h.record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
		want := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
			t.Errorf("q%v = %v, want %v (error %.2f%%)", q, got, want, rel*100)
		}
	}
	if h.max != vals[len(vals)-1] {
		t.Errorf("max = %v, want %v", h.max, vals[len(vals)-1])
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1 << 20, 1<<36 - 1, 1 << 36, 1 << 62} {
		i := bucketOf(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", v, i, prev)
		}
		prev = i
		if v < 1<<36 {
			mid := bucketMid(i)
			if math.Abs(float64(mid)-float64(v)) > float64(v)/200 {
				t.Errorf("bucketMid(bucketOf(%d)) = %d", v, mid)
			}
		}
	}
	var empty histogram
	if q := empty.quantile(0.5); q != 0 {
		t.Errorf("empty quantile = %v", q)
	}
}

var sampleReport = Report{
	Phases: []PhaseResult{
		{Name: "send", Requests: 52311, Errors: map[string]int64{}, Duration: 10 * time.Second,
			RPS: 5231.1, P50: 11900 * time.Microsecond, P90: 15 * time.Millisecond, P99: 22 * time.Millisecond, Max: 1500 * time.Millisecond},
		{Name: "verify", Requests: 40, Errors: map[string]int64{"HTTP 429": 3, "transport: timeout": 7}, Duration: 2 * time.Second,
			RPS: 20, P50: 850 * time.Microsecond, P90: time.Millisecond, P99: 2 * time.Millisecond, Max: 2 * time.Millisecond},
	},
	Notes: []string{`verify: HTTP 429: "Too many requests"`},
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"phase", "req/s", "p99", "errors",
		"send", "52311", "5231", "11.9ms", "1.50s",
		"verify", "850µs", "transport: timeout: 7, HTTP 429: 3",
		"notes:", `  - verify: HTTP 429: "Too many requests"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got jsonReport
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, b.String())
	}
	if len(got.Phases) != 2 || got.Phases[0].P50Ms != 11.9 || got.Phases[1].Errors["HTTP 429"] != 3 ||
		got.Phases[0].DurationSeconds != 10 || len(got.Notes) != 1 {
		t.Errorf("decoded %+v", got)
	}

	b.Reset()
	if err := (Report{}).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"phases\": [],\n  \"notes\": []\n}\n"; b.String() != want {
		t.Errorf("empty report = %q, want %q", b.String(), want)
	}
}
