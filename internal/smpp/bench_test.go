package smpp_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smscsim"
)

// BenchmarkConnectorSubmit measures submit_sm/s through one connector (one
// bind, no TPS limit) against otpgate's simulator, each Send waiting for its
// submit_sm_resp. The simulator's own ceiling is BenchmarkSubmit in
// internal/smscsim.
func BenchmarkConnectorSubmit(b *testing.B) {
	for _, window := range []int{50, 200} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			sim := smscsim.New(smscsim.Config{})
			addr, err := sim.Start("127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer sim.Close()
			cfg, err := smpp.ParseURL(fmt.Sprintf("smpp://bench:pw@%s?name=sim&window=%d", addr, window), nil)
			if err != nil {
				b.Fatal(err)
			}
			c, err := smpp.New(cfg, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			c.Start(context.Background())
			defer c.Stop()
			for !c.Healthy() {
				time.Sleep(time.Millisecond)
			}
			var n atomic.Int64
			b.SetParallelism(window / 2) // GOMAXPROCS * window/2 senders: enough to keep the window full
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					_, err := c.Send(context.Background(), sms.Message{SID: "SM", From: "MyApp", To: fmt.Sprintf("+96279%07d", i%10000000), Body: "Your verification code is: 123456"})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submit_sm/s")
		})
	}
}
