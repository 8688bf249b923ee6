package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/otpgate/otpgate/internal/latency"
	"github.com/otpgate/otpgate/internal/metricstest"
	"github.com/otpgate/otpgate/internal/smscsim"
)

// scrape GETs a /metrics URL (with the bearer token when given) and
// returns its families, after linting the exposition as promtool would.
func scrape(t *testing.T, u, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("the exposition does not lint: %v %v", problems, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// Prometheus metrics, scraped over HTTP from the running server: behind the
// bearer token on the main listener and open on --metrics-addr. A code sent
// through a real SMPP session, its receipt, a check, a status callback and a
// refusal each move their families; every name passes promtool's lint.
func TestMetricsEndpoint(t *testing.T) {
	// Receipts come half a second after their submit_sm, as an operator's
	// would come later still.
	sim := smscsim.New(smscsim.Config{ReceiptDelay: 500 * time.Millisecond})
	simAddr, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	var callbacks atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { callbacks.Add(1) }))
	t.Cleanup(receiver.Close)
	const token = "metrics-token-0123456789"
	metricsAddr := freeAddr(t)
	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.SMPP = []string{"smpp://otpgate:secret@" + simAddr.String() + "?name=zain"}
		c.MetricsToken, c.MetricsAddr = token, metricsAddr
		c.WebhookAllowPrivate = true
	})

	// No token, or a wrong one: the standard 401.
	for _, bad := range []string{"", "Bearer wrong-token-0123456789", "Basic " + token} {
		req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
		if bad != "" {
			req.Header.Set("Authorization", bad)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(body), `"code":20003`) || strings.Contains(string(body), "otpgate_") ||
			!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET /metrics with %q: %d %s (WWW-Authenticate %q), want the JSON 401 asking for a bearer token", bad, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
	waitFor := func(what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mfs := scrape(t, s.URL+"/metrics", token)
			if cond(mfs) {
				return mfs
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	before := scrape(t, "http://"+metricsAddr+"/metrics", "")
	if v := metricstest.Sum(before, "otpgate_smpp_binds_up", "connector", "zain"); v != 1 {
		waitFor("the bind up", func(m map[string]*dto.MetricFamily) bool {
			return metricstest.Sum(m, "otpgate_smpp_binds_up", "connector", "zain") == 1
		})
	}
	if v := metricstest.Sum(before, "otpgate_build_info"); v != 1 {
		t.Errorf("otpgate_build_info %v", v)
	}

	// A code, through the SMSC; its receipt; a wrong check and a right one.
	r := s.send(t, "app", "0791234567")
	if r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	var code string
	for deadline := time.Now().Add(10 * time.Second); code == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if subs := sim.Submits(); len(subs) > 0 {
			code = regexp.MustCompile(`\d{6}`).FindString(string(subs[0].ShortMessage))
		}
	}
	if code == "" {
		t.Fatal("no code reached the SMSC")
	}
	wrongCode := "000000"
	if code == wrongCode {
		wrongCode = "111111"
	}
	if v := s.postJSON(t, "/2fa/verify", map[string]string{"service": "app", "number": "0791234567", "code": wrongCode}); v.Status != 200 {
		t.Fatalf("wrong check: %d %s", v.Status, v.Raw)
	}
	if v := s.postJSON(t, "/2fa/verify", map[string]string{"service": "app", "number": "0791234567", "code": code}); v.Status != 200 || v.str("status") != "approved" {
		t.Fatalf("check: %d %s", v.Status, v.Raw)
	}
	// A message with a status callback; a request refused for a bad field.
	m := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{"To": {"0791234568"}, "From": {"MyApp"}, "Body": {"hi"}, "StatusCallback": {receiver.URL + "/status"}})
	if m.Status != 201 {
		t.Fatalf("message: %d %s", m.Status, m.Raw)
	}
	if bad := s.postJSON(t, "/2fa/send", map[string]string{"service": "app", "from": "MyApp", "to": "not a number"}); bad.Status != 400 {
		t.Fatalf("bad send: %d", bad.Status)
	}

	mfs := waitFor("the receipts and the callbacks", func(m map[string]*dto.MetricFamily) bool {
		return metricstest.Sum(m, "otpgate_smpp_receipts_total", "status", "delivered") >= 2 &&
			metricstest.Sum(m, "otpgate_callback_attempts_total", "result", "delivered") >= 1
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"otpgate_http_requests_total", []string{"route", "POST /2fa/send", "code", "201"}, 1},
		{"otpgate_http_requests_total", []string{"route", "POST /2fa/send", "code", "400"}, 1},
		{"otpgate_http_request_duration_seconds", []string{"route", "POST /2fa/verify"}, 2},
		{"otpgate_verify_sends_total", []string{"service", "app", "operator", "Zain", "kind", "new"}, 1},
		{"otpgate_verify_checks_total", []string{"service", "app", "result", "wrong"}, 1},
		{"otpgate_verify_checks_total", []string{"service", "app", "result", "approved"}, 1},
		{"otpgate_smpp_submits_total", []string{"connector", "zain"}, 2},
		{"otpgate_smpp_receipt_delay_seconds", []string{"connector", "zain"}, 2},
		{"otpgate_dispatch_outcomes_total", []string{"outcome", "sent"}, 2},
		{"otpgate_dispatch_handoff_seconds", nil, 2},
		{"otpgate_outbox_messages", nil, 0},
		{"otpgate_smpp_window_in_use", []string{"connector", "zain"}, 0},
		{"otpgate_guard_blocks_total", []string{"scope", "prefix"}, 0},
		{"otpgate_guard_failing_open", nil, 0},
	} {
		if v := metricstest.Sum(mfs, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	// Every write's answer waited for an fsync of the WAL: the two sends'
	// among them.
	if v := metricstest.Sum(mfs, "otpgate_store_fsync_seconds"); v < 2 {
		t.Errorf("otpgate_store_fsync_seconds: %v observations, want at least the 2 sends'", v)
	}
	// Both sends (the code and the message) went through every stage to
	// the SMSC's submit_sm_resp, each timed once; their stages add up to
	// their total, from the request's arrival.
	var parts, total float64
	for _, st := range latency.Stages() {
		want := 2.0
		if st == latency.Request {
			want = metricstest.Sum(mfs, "otpgate_send_stage_seconds", "stage", "policies") // and the send refused in the pipeline
		}
		if v := metricstest.Sum(mfs, "otpgate_send_stage_seconds", "stage", st.String()); v < 2 || v < want {
			t.Errorf("otpgate_send_stage_seconds{stage=%q}: %v observations, want %v", st, v, want)
		}
		for _, m := range mfs["otpgate_send_stage_seconds"].GetMetric() {
			if m.GetLabel()[0].GetValue() == st.String() && st != latency.Request {
				if st == latency.Total {
					total = m.GetHistogram().GetSampleSum()
				} else {
					parts += m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	if total <= 0 || parts > total {
		t.Errorf("the stages after the request took %vs together, more than the total %vs", parts, total)
	}
	if v := metricstest.Sum(mfs, "otpgate_callbacks_pending"); v < 0 {
		t.Error("no otpgate_callbacks_pending")
	}
	if v := metricstest.Sum(mfs, "go_goroutines"); v <= 0 {
		t.Error("no Go runtime metrics")
	}
}
