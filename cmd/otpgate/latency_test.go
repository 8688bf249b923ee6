package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/smscsim"
)

// BenchmarkSendToSubmit measures, at light load (one request at a time), the
// time from the 201 of POST /2fa/send to the submit_sm reaching the SMSC
// (otpgate's simulator on loopback), and from the request's start. The
// submit_sm can reach the SMSC before the client has read the 201: those
// count as 0.
func BenchmarkSendToSubmit(b *testing.B) {
	sim := smscsim.New(smscsim.Config{})
	addr, err := sim.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	s := mustServeSMPP(b, "smpp://otpgate:pw@"+addr.String()+"?name=sim")
	for !s.smpp[0].Healthy() {
		time.Sleep(time.Millisecond)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	type sent struct{ start, got201 time.Time }
	byDest := map[string]sent{}
	b.ResetTimer()
	for i := range b.N {
		to := fmt.Sprintf("96279%07d", 4000000+i)
		req, _ := http.NewRequest("POST", s.URL+"/2fa/send", strings.NewReader(`{"service":"lat","from":"MyApp","to":"+`+to+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(s.SID, s.Token)
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 201 {
			b.Fatalf("status %d", res.StatusCode)
		}
		byDest[to] = sent{start, time.Now()}
		time.Sleep(2 * time.Millisecond) // light load: one at a time, with a pause
	}
	deadline := time.Now().Add(10 * time.Second)
	for sim.Count() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	var after201, fromStart []time.Duration
	for _, sub := range sim.Submits() {
		if x, ok := byDest[sub.Dest]; ok {
			after201 = append(after201, max(0, sub.At.Sub(x.got201)))
			fromStart = append(fromStart, sub.At.Sub(x.start))
		}
	}
	if len(after201) != b.N {
		b.Fatalf("%d of %d sends reached the SMSC", len(after201), b.N)
	}
	slices.Sort(after201)
	slices.Sort(fromStart)
	q := func(d []time.Duration, p float64) float64 {
		return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(q(after201, 0.50), "p50_201_to_submit_ms")
	b.ReportMetric(q(after201, 0.99), "p99_201_to_submit_ms")
	b.ReportMetric(q(fromStart, 0.50), "p50_request_to_submit_ms")
	b.ReportMetric(q(fromStart, 0.99), "p99_request_to_submit_ms")
}
