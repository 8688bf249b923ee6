package smpp_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otpgate/otpgate/internal/metricstest"
	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/smpptest"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smscsim"
	"github.com/otpgate/otpgate/internal/syncbuf"
)

// Each connector metric moves when its event happens on the wire: a bind
// coming up, a part accepted, a throttle, a refusal, a receipt and its
// delay. The SMSC is the simulator, over TCP.
func TestConnectorMetrics(t *testing.T) {
	sim := smscsim.New(smscsim.Config{ReceiptDelay: 200 * time.Millisecond, RefuseDest: "962780"})
	addr, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	c, reg, _ := instrumented(t, addr.String(), "&binds=2&window=8")
	value := func(name string, labels ...string) float64 {
		t.Helper()
		return metricstest.Value(t, reg, name, labels...)
	}
	if v := value("otpgate_smpp_binds_up", "connector", "zain"); v != 0 {
		t.Fatalf("binds up before Start: %v", v)
	}
	c.Start(context.Background())
	t.Cleanup(c.Stop)
	waitUntil(t, "both binds up in the metric", func() bool { return value("otpgate_smpp_binds_up", "connector", "zain") == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		if _, err := c.Send(ctx, sms.Message{SID: "SM1", From: "MyApp", To: "+962790320012", Body: "Your code is 123456"}); err != nil {
			t.Fatal(err)
		}
	}
	if v := value("otpgate_smpp_submits_total", "connector", "zain"); v != 3 {
		t.Errorf("submits_total %v, want 3", v)
	}
	waitUntil(t, "3 delivered receipts counted", func() bool {
		return value("otpgate_smpp_receipts_total", "connector", "zain", "status", "delivered") == 3
	})
	n, sum := histogram(t, reg, "otpgate_smpp_receipt_delay_seconds")
	if n != 3 || sum < 3*0.15 || sum > 3*5 {
		t.Errorf("receipt delay: %d observations summing %.3f s; want 3 of about 0.2 s", n, sum)
	}

	sim.SetThrottle(2) // every second submit_sm: ESME_RTHROTTLED, then submitted again
	for range 4 {
		if _, err := c.Send(ctx, sms.Message{SID: "SM2", From: "MyApp", To: "+962790320012", Body: "again"}); err != nil {
			t.Fatal(err)
		}
	}
	sim.SetThrottle(0)
	if v := value("otpgate_smpp_throttled_total", "connector", "zain"); v < 1 {
		t.Errorf("throttled_total %v after throttled submits, want at least 1", v)
	}
	// A destination the SMSC refuses: ESME_RINVDSTADR.
	if _, err := c.Send(ctx, sms.Message{SID: "SM3", From: "MyApp", To: "+962780000001", Body: "x"}); err == nil {
		t.Fatal("a destination the SMSC refuses was accepted")
	}
	if v := value("otpgate_smpp_submit_errors_total", "connector", "zain", "status", "ESME_RINVDSTADR"); v != 1 {
		t.Errorf("submit_errors_total{status=ESME_RINVDSTADR} %v, want 1", v)
	}
	if v := value("otpgate_smpp_window_in_use", "connector", "zain"); v != 0 {
		t.Errorf("window in use %v with nothing in flight", v)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metric names: %v %v", problems, err)
	}
}

// instrumented is a connector "zain" to the SMSC at addr (query: more of
// its URL's options), its metrics in reg, its receipts in rec; not started.
func instrumented(t *testing.T, addr, query string) (*smpp.Connector, *prometheus.Registry, *recorder) {
	t.Helper()
	cfg, err := smpp.ParseURL("smpp://otpgate:secret@"+addr+"?name=zain"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	c, err := smpp.New(cfg, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	c.Instrument(smpp.NewMetrics(reg))
	return c, reg, rec
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func histogram(t *testing.T, reg prometheus.Gatherer, name string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no %s", strings.TrimSpace(name))
	return 0, 0
}

// A bind the SMSC refuses is logged with its reason, not as a dropped
// connection: gosmpp alone read the body-less refusal SMPP 3.4 prescribes as
// EOF, so a wrong password looked like a network fault.
func TestRefusedBindSaysWhy(t *testing.T) {
	sim := smscsim.New(smscsim.Config{SystemID: "otpgate", Password: "right"})
	addr, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	var logs syncbuf.Buffer
	cfg, err := smpp.ParseURL("smpp://otpgate:wrong@"+addr.String()+"?name=zain", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smpp.New(cfg, &recorder{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	t.Cleanup(c.Stop)
	waitUntil(t, "the bind failure logged", func() bool { return strings.Contains(logs.String(), "smpp bind failed") })
	line := logs.String()
	if !strings.Contains(line, "refused the bind_transceiver as system_id otpgate") || !strings.Contains(line, "ESME_RBINDFAIL") || strings.Contains(line, "EOF") {
		t.Errorf("the log does not say the SMSC refused the bind:\n%s", line)
	}
	if strings.Contains(line, "wrong") {
		t.Errorf("the log holds the password:\n%s", line)
	}
	if c.Healthy() {
		t.Error("Healthy with a refused bind")
	}
}

// Stop does not wait out a bind to an SMSC that accepts the connection and
// never answers: the bind in progress ends with it.
func TestStopDuringASilentBind(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	cfg, err := smpp.ParseURL("smpp://otpgate:secret@"+l.Addr().String()+"?name=silent", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smpp.New(cfg, &recorder{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	time.Sleep(200 * time.Millisecond) // connected, waiting for the bind's answer
	start := time.Now()
	c.Stop()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Stop took %s while a bind waited for a silent SMSC", took)
	}
}

// failOnce fails the first receipt it is handed (the store was down), so
// the SMSC sends it again.
type failOnce struct {
	recorder
	calls atomic.Int32
}

func (f *failOnce) HandleReceipt(ctx context.Context, rc sms.Receipt) error {
	if f.calls.Add(1) == 1 {
		return errors.New("store down")
	}
	return f.recorder.HandleReceipt(ctx, rc)
}

// A receipt that could not be stored is counted once, when it is: the SMSC
// sends it again and the retry is the one that counts.
func TestReceiptCountedOnceWhenStoredOnRetry(t *testing.T) {
	sim := smscsim.New(smscsim.Config{ReceiptDelay: 50 * time.Millisecond})
	addr, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	reg := prometheus.NewPedanticRegistry()
	cfg, err := smpp.ParseURL("smpp://otpgate:secret@"+addr.String()+"?name=zain", nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &failOnce{}
	c, err := smpp.New(cfg, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Instrument(smpp.NewMetrics(reg))
	c.Start(context.Background())
	t.Cleanup(c.Stop)
	waitUntil(t, "the bind", c.Healthy)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Send(ctx, sms.Message{SID: "SM1", From: "MyApp", To: "+962790320012", Body: "code"}); err != nil {
		t.Fatal(err)
	}
	h.waitReceipts(t, 1)
	if n := h.calls.Load(); n < 2 {
		t.Fatalf("%d receipt deliveries, want the refused one and its retry", n)
	}
	if v := metricstest.Value(t, reg, "otpgate_smpp_receipts_total", "connector", "zain", "status", "delivered"); v != 1 {
		t.Errorf("receipts_total{delivered} = %v, want 1 for one receipt delivered twice", v)
	}
}

// A receipt the SMSC sends before the submit_sm_resp naming its part (some
// do; the connector then reads the receipt first) is timed all the same, at
// 0 s, not left out of the receipt delay. The SMSC is node-smpp's.
func TestReceiptBeforeSubmitRespTimed(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	peer.AutoReceiptFirst(t, "DELIVRD")
	c, reg, rec := instrumented(t, peer.Addr, "")
	c.Start(context.Background())
	t.Cleanup(c.Stop)
	waitUntil(t, "the bind up", c.Healthy)
	for range 3 {
		send(t, c, "MyApp", "Your code is 123456")
	}
	got := rec.waitReceipts(t, 3)
	for _, s := range peer.Submits() {
		found := false
		for _, r := range got {
			found = found || r.ProviderID == s.MessageID
		}
		if !found {
			t.Fatalf("no receipt for part %q among %+v", s.MessageID, got)
		}
	}
	n, sum := histogram(t, reg, "otpgate_smpp_receipt_delay_seconds")
	if n != 3 || sum != 0 {
		t.Errorf("receipt delay: %d observations summing %.3f s; want 3 of 0 s (each receipt came before its submit_sm_resp)", n, sum)
	}
}
