package smpp_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/smpptest"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smsenc"
)

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu       sync.Mutex
	receipts []sms.Receipt
	inbound  []sms.Inbound
}

func (r *recorder) HandleReceipt(_ context.Context, rc sms.Receipt) error {
	r.mu.Lock()
	r.receipts = append(r.receipts, rc)
	r.mu.Unlock()
	return nil
}

func (r *recorder) HandleInbound(_ context.Context, m sms.Inbound) error {
	r.mu.Lock()
	r.inbound = append(r.inbound, m)
	r.mu.Unlock()
	return nil
}

func (r *recorder) waitReceipts(t *testing.T, n int) []sms.Receipt {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		got := append([]sms.Receipt(nil), r.receipts...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d receipts, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustConnector(t *testing.T, peer *smpptest.Peer, h smpp.Handler, query string) *smpp.Connector {
	t.Helper()
	cfg, err := smpp.ParseURL("smpp://otpgate:secret@"+peer.Addr+"?name=zain"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smpp.New(cfg, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(5 * time.Second)
	for !c.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("connector did not bind")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

func send(t *testing.T, c *smpp.Connector, from, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := c.Send(ctx, sms.Message{SID: "SM1", From: from, To: "+962790320012", Body: body})
	if err != nil {
		t.Fatalf("Send(%q): %v", body, err)
	}
	return id
}

func TestSubmitEncodings(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	c := mustConnector(t, peer, &recorder{}, "")

	long := strings.Repeat("رمز التحقق الخاص بك ", 9) // 180 UTF-16 units: 3 parts of 67/67/46
	tests := []struct {
		name   string
		from   string
		body   string
		parts  int
		coding byte
		ton    byte
		npi    byte
	}{
		{"GSM from an alphanumeric sender", "MyApp", "Your verification code is: 123456", 1, 0, 5, 0},
		{"Arabic is UCS-2", "MyApp", "رمز التحقق: 123456", 1, 8, 5, 0},
		{"emoji is UCS-2", "+962790000000", "Code 123456 🔐", 1, 8, 1, 1},
		{"long Arabic in 3 parts", "MyApp", long, 3, 8, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(peer.Submits())
			ids := send(t, c, tt.from, tt.body)
			subs := peer.WaitSubmits(t, before+tt.parts, 5*time.Second)[before:]
			if len(subs) != tt.parts || len(strings.Split(ids, ",")) != tt.parts {
				t.Fatalf("%d submits, ids %q; want %d parts", len(subs), ids, tt.parts)
			}
			want, err := smsenc.Split(tt.body, smsenc.Analyze(tt.body).Encoding, smsenc.SplitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var ref byte
			for i, s := range subs {
				if s.DataCoding != tt.coding || s.SourceTON != tt.ton || s.SourceNPI != tt.npi || s.DestTON != 1 || s.DestNPI != 1 ||
					s.Dest != "962790320012" || s.Source != strings.TrimPrefix(tt.from, "+") || s.RegisteredDelivery != 1 {
					t.Errorf("part %d: %+v", i+1, s)
				}
				payload := s.ShortMessage
				if tt.parts > 1 {
					if s.ESMClass&0x40 == 0 || len(payload) < 6 || !bytes.Equal(payload[:5], []byte{5, 0, 3, payload[3], byte(tt.parts)}) || payload[5] != byte(i+1) {
						t.Fatalf("part %d: UDH % x, esm_class %#x", i+1, payload[:min(6, len(payload))], s.ESMClass)
					}
					if i == 0 {
						ref = payload[3]
					} else if payload[3] != ref {
						t.Errorf("part %d has reference %d, part 1 %d", i+1, payload[3], ref)
					}
					payload = payload[6:]
				}
				if !bytes.Equal(payload, want[i].Payload) {
					t.Errorf("part %d payload % x, want % x", i+1, payload, want[i].Payload)
				}
			}
		})
	}
}

func TestReceiptsAndThrottling(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	rec := &recorder{}
	c := mustConnector(t, peer, rec, "")

	id := send(t, c, "MyApp", "hello")
	peer.Receipt(t, id, "DELIVRD", "000")
	r := rec.waitReceipts(t, 1)[0]
	if r.ProviderID != id || r.Status != "delivered" || r.Connector != "zain" {
		t.Fatalf("receipt %+v, want delivered for %s", r, id)
	}
	id2 := send(t, c, "MyApp", "hello again")
	peer.Receipt(t, id2, "UNDELIV", "001")
	r = rec.waitReceipts(t, 2)[1]
	if r.ProviderID != id2 || r.Status != "undelivered" || r.ErrorCode != 1 {
		t.Fatalf("receipt %+v, want undelivered err 1 for %s", r, id2)
	}

	// Every second submit is throttled: all still go through.
	peer.Throttle(t, 2)
	for i := range 6 {
		if id := send(t, c, "MyApp", "throttled "+string(rune('a'+i))); id == "" {
			t.Fatal("no id")
		}
	}
}

func TestSplitModes(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	long := strings.Repeat("0123456789", 20) // 200 GSM septets: 2 parts
	t.Run("sar", func(t *testing.T) {
		c := mustConnector(t, peer, &recorder{}, "&split=sar")
		before := len(peer.Submits())
		send(t, c, "MyApp", long)
		subs := peer.WaitSubmits(t, before+2, 5*time.Second)[before:]
		for i, s := range subs {
			ref, total, seq := s.TLVs[0x020C], s.TLVs[0x020E], s.TLVs[0x020F]
			if s.ESMClass&0x40 != 0 || len(ref) != 2 || !bytes.Equal(total, []byte{2}) || !bytes.Equal(seq, []byte{byte(i + 1)}) {
				t.Fatalf("part %d: esm_class %#x, SAR ref % x total % x seq % x", i+1, s.ESMClass, ref, total, seq)
			}
			if !bytes.Equal(subs[0].TLVs[0x020C], ref) {
				t.Errorf("parts carry different SAR references")
			}
		}
		if got := string(subs[0].ShortMessage) + string(subs[1].ShortMessage); got != long {
			t.Fatalf("SAR parts join to %q", got)
		}
	})
	t.Run("payload", func(t *testing.T) {
		c := mustConnector(t, peer, &recorder{}, "&split=payload")
		before := len(peer.Submits())
		send(t, c, "MyApp", long)
		s := peer.WaitSubmits(t, before+1, 5*time.Second)[before]
		if len(s.ShortMessage) != 0 || string(s.TLVs[0x0424]) != long {
			t.Fatalf("message_payload submit: short_message %q, payload %q", s.ShortMessage, s.TLVs[0x0424])
		}
	})
}

// A transmitter and a receiver bind: submits go on the first, receipts come
// on the second.
func TestTransmitterReceiverPair(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	rec := &recorder{}
	c := mustConnector(t, peer, rec, "&bind=txrx")
	binds := peer.WaitBinds(t, 2, 5*time.Second)
	kinds := map[string]bool{}
	for _, b := range binds {
		kinds[b.Command] = true
	}
	if !kinds["bind_transmitter"] || !kinds["bind_receiver"] {
		t.Fatalf("binds %+v, want a transmitter and a receiver", binds)
	}
	id := send(t, c, "MyApp", "hello")
	peer.Receipt(t, id, "DELIVRD", "000")
	if r := rec.waitReceipts(t, 1)[0]; r.ProviderID != id || r.Status != "delivered" {
		t.Fatalf("receipt %+v", r)
	}
}

// Several binds per connector: all are up and share the sends.
func TestSeveralBinds(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	c := mustConnector(t, peer, &recorder{}, "&binds=3")
	peer.WaitBinds(t, 3, 5*time.Second)
	for i := range 9 {
		send(t, c, "MyApp", "message "+string(rune('a'+i)))
	}
	if n := len(peer.WaitSubmits(t, 9, 5*time.Second)); n != 9 {
		t.Fatalf("%d submits, want 9", n)
	}
}

// gate is a Handler whose receipts wait until it is opened, like a store
// that is slow to commit.
type gate struct {
	recorder
	open chan struct{}
}

func (g *gate) HandleReceipt(ctx context.Context, rc sms.Receipt) error {
	<-g.open
	return g.recorder.HandleReceipt(ctx, rc)
}

// Storing receipts does not hold up submits: the submit_sm_resp that
// follows a deliver_sm on the same connection is read while the receipt is
// still being stored, and the receipt is acknowledged only once stored.
func TestSlowReceiptsDoNotHoldUpSubmits(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	g := &gate{open: make(chan struct{})}
	c := mustConnector(t, peer, g, "")
	opened := false
	t.Cleanup(func() { // before the connector stops
		if !opened {
			close(g.open)
		}
	})
	var ids []string
	for i := range 5 {
		ids = append(ids, send(t, c, "MyApp", "first "+string(rune('a'+i))))
	}
	for _, id := range ids {
		peer.Receipt(t, id, "DELIVRD", "000")
	}
	// The receipts are stuck in the store; 50 more messages still go out.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for i := range 50 {
			if _, err := c.Send(ctx, sms.Message{SID: "SM2", From: "MyApp", To: "+962790320012", Body: "more " + string(rune('a'+i))}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("sends while receipts wait for the store: %v", err)
	}
	if acks := peer.DeliverAcks(); len(acks) != 0 {
		t.Fatalf("%d receipts acknowledged before they were stored", len(acks))
	}
	close(g.open)
	opened = true
	acks := peer.WaitDeliverAcks(t, 5, 5*time.Second)
	for _, a := range acks {
		if a.CommandStatus != 0 || a.Kind != "receipt" {
			t.Fatalf("ack %+v, want ESME_ROK for a receipt", a)
		}
	}
	if got := len(g.waitReceipts(t, 5)); got != 5 {
		t.Fatalf("%d receipts stored, want 5", got)
	}
}
