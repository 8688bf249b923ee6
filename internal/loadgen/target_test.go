package loadgen

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Against Kannel, the send phase GETs /cgi-bin/sendsms with the SID and
// token as username and password, a fresh +96279 number each time, the
// receipts asked for when a DLR URL is given, and counts 202 as accepted.
func TestRunKannelTarget(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method != http.MethodGet || r.URL.Path != "/cgi-bin/sendsms":
			bad = append(bad, r.Method+" "+r.URL.Path)
		case q.Get("username") != "bench" || q.Get("password") != "pass word&x" || q.Get("from") != DefaultFrom:
			bad = append(bad, "credentials or sender: "+r.URL.RawQuery)
		case len(q.Get("to")) != 13 || !strings.HasPrefix(q.Get("to"), "+96279"):
			bad = append(bad, "number: "+q.Get("to"))
		case q.Get("dlr-mask") != "3" || q.Get("dlr-url") != "http://127.0.0.1:1/dlr?status=%d&x=1":
			bad = append(bad, "receipts: "+r.URL.RawQuery)
		case seen[q.Get("to")]:
			bad = append(bad, "number sent twice: "+q.Get("to"))
		}
		seen[q.Get("to")] = true
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, "0: Accepted for delivery")
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.SID, cfg.Token, cfg.Target = "bench", "pass word&x", TargetKannel
	cfg.KannelDLRURL = "http://127.0.0.1:1/dlr?status=%d&x=1"
	cfg.Phases = []string{PhaseSend}
	rep := MustRun(t, cfg)
	if len(bad) > 0 {
		t.Fatalf("%d bad requests, the first: %s", len(bad), bad[0])
	}
	if p := rep.Phases[0]; p.Requests == 0 || len(p.Errors) > 0 {
		t.Errorf("send phase: %d requests, errors %v; want some, all 202", p.Requests, p.Errors)
	}
	cfg.Phases = []string{PhaseSend, PhaseVerify}
	if _, err := Run(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "Kannel sends only") {
		t.Errorf("a verify phase against Kannel: %v, want refused", err)
	}
}

// With the server's metrics token, each phase reports the stages the
// server timed during its window (the histograms' growth, not their
// totals since the server started).
func TestRunReadsTheServersStages(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: stageMetric, Help: "h", Buckets: []float64{0.001, 0.002, 0.004}},
		[]string{"stage"})
	reg.MustRegister(h)
	for range 1000 { // before the run: slow commits, which must not count
		h.WithLabelValues("commit").Observe(0.0035)
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			if r.Header.Get("Authorization") != "Bearer mtoken" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			metrics.ServeHTTP(w, r)
			return
		}
		h.WithLabelValues("commit").Observe(0.0015) // each send: a fast commit
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.Phases = []string{PhaseSend}
	cfg.MetricsToken = "mtoken"
	rep := MustRun(t, cfg)
	st := rep.Phases[0].Stages
	if len(st) != 1 || st[0].Stage != "commit" {
		t.Fatalf("stages %+v, want commit", st)
	}
	if st[0].Count < rep.Phases[0].Requests/2 || st[0].P99 > 0.002*1e9 || st[0].P50 < 0.001*1e9 {
		t.Errorf("commit %+v over %d requests: want the window's fast commits only (1-2ms)", st[0], rep.Phases[0].Requests)
	}
	cfg.MetricsToken = "wrong"
	rep = MustRun(t, cfg)
	if len(rep.Phases[0].Stages) != 0 || !strings.Contains(strings.Join(rep.Notes, "\n"), "the stages of a send were not read") {
		t.Errorf("with a wrong token: stages %v, notes %v; want none and a note", rep.Phases[0].Stages, rep.Notes)
	}
}
