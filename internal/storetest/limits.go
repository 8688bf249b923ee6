package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/ratelimit"
	"github.com/otpgate/otpgate/internal/verification"
)

var limitTests = []testCase{
	{"CountsAndRefuses", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		l := ratelimit.Limit{Key: "n:AC1:" + to, Max: 2, Window: time.Hour}
		other := ratelimit.Limit{Key: "a:AC1", Max: 100, Window: time.Hour}
		for i := range 2 {
			m := newMessage("AC1", fmt.Sprintf("SM%d", i), at(time.Duration(i)*time.Minute))
			check(t, "InsertSend under the limit", s.InsertSend(ctx, m, newOutbound(m), nil, l, other))
		}
		// The third, a new verification's code: refused, and nothing of it written.
		v := newVerification("AC1", svc.SID, "VE3", to, at(2*time.Minute))
		m := newMessage("AC1", "SM3", at(2*time.Minute))
		m.VerificationSID = v.SID
		err := s.InsertSend(ctx, m, newOutbound(m), &verification.Change{V: v, New: true}, other, l)
		var le *ratelimit.Error
		if !errors.As(err, &le) || le.Limit.Key != l.Key {
			t.Fatalf("the third send: %v, want a *ratelimit.Error for %s", err, l.Key)
		}
		// The window is counted in minutes: the first send's minute leaves it an hour after it began.
		if want := at(0).Truncate(time.Minute).Add(time.Hour); !le.RetryAt.Equal(want) {
			t.Errorf("RetryAt %v, want %v", le.RetryAt, want)
		}
		_, err = s.Message(ctx, "AC1", "SM3")
		wantNotFound(t, "the refused send's message", err)
		_, err = latest(t, s, "AC1", svc.SID, to)
		wantNotFound(t, "the refused send's verification", err)
		// The other limit counted only the two sends made: 98 more fit.
		for i := range 98 {
			m := newMessage("AC1", fmt.Sprintf("SMO%d", i), at(3*time.Minute))
			check(t, "InsertSend under the other limit", s.InsertSend(ctx, m, newOutbound(m), nil, other))
		}
		m = newMessage("AC1", "SMO98", at(3*time.Minute))
		if err := s.InsertSend(ctx, m, newOutbound(m), nil, other); !errors.As(err, &le) {
			t.Errorf("the 101st send under a limit of 100: %v", err)
		}
		// After the window the key counts from zero.
		m = newMessage("AC1", "SM4", le.RetryAt.Add(time.Hour))
		check(t, "InsertSend an hour later", s.InsertSend(ctx, m, newOutbound(m), nil, l))
	}},
	{"ExactUnderConcurrency", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		l := ratelimit.Limit{Key: "n:AC1:" + to, Max: 10, Window: time.Hour}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, refused int
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := newMessage("AC1", fmt.Sprintf("SMC%02d", i), at(time.Second))
				err := s.InsertSend(ctx, m, newOutbound(m), nil, l)
				var le *ratelimit.Error
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.As(err, &le):
					refused++
				default:
					t.Errorf("InsertSend: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok != 10 || refused != 30 {
			t.Errorf("40 concurrent sends under a limit of 10: %d stored, %d refused", ok, refused)
		}
	}},
	{"ExactUnderConcurrencyNewVerifications", func(t *testing.T, s Store) {
		// 40 new verifications at once, to 40 numbers, under one shared
		// limit of 10 and each its own fresh one: 10 stored, and the
		// refused left no count behind on their own keys.
		svc := mustSetup(t, s)
		shared := ratelimit.Limit{Key: "k:AC1:shared", Max: 10, Window: time.Hour}
		own := func(i int) ratelimit.Limit {
			return ratelimit.Limit{Key: fmt.Sprintf("k:AC1:own%02d", i), Max: 1, Window: time.Hour}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var stored []int
		refused := 0
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				num := fmt.Sprintf("+9627900100%02d", i)
				v := newVerification("AC1", svc.SID, fmt.Sprintf("VEC%02d", i), num, at(time.Second))
				m := newMessage("AC1", fmt.Sprintf("SMV%02d", i), at(time.Second))
				m.VerificationSID, m.To = v.SID, num
				err := s.InsertSend(ctx, m, newOutbound(m), &verification.Change{V: v, New: true}, shared, own(i))
				var le *ratelimit.Error
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					stored = append(stored, i)
				case errors.As(err, &le) && le.Limit.Key == shared.Key:
					refused++
				default:
					t.Errorf("InsertSend %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if len(stored) != 10 || refused != 30 {
			t.Fatalf("40 concurrent new verifications under a limit of 10: %d stored, %d refused", len(stored), refused)
		}
		done := map[int]bool{}
		for _, i := range stored {
			done[i] = true
		}
		for i := range 40 {
			_, err := latest(t, s, "AC1", svc.SID, fmt.Sprintf("+9627900100%02d", i))
			if done[i] {
				check(t, "a stored send's verification", err)
			} else {
				wantNotFound(t, "a refused send's verification", err)
			}
			// Each own key (a limit of 1) holds a count only if its send was stored.
			m := newMessage("AC1", fmt.Sprintf("SMW%02d", i), at(2*time.Second))
			err = s.InsertSend(ctx, m, newOutbound(m), nil, own(i))
			var le *ratelimit.Error
			if done[i] != errors.As(err, &le) {
				t.Errorf("send %d (stored %v): a second send on its own key: %v", i, done[i], err)
			}
		}
	}},
	{"Forget", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		short := ratelimit.Limit{Key: "k:short", Max: 5, Window: time.Minute}
		long := ratelimit.Limit{Key: "k:long", Max: 5, Window: 24 * time.Hour}
		m := newMessage("AC1", "SM1", at(0))
		check(t, "InsertSend", s.InsertSend(ctx, m, newOutbound(m), nil, short, long))
		n, err := s.ForgetLimits(ctx, at(2*time.Minute))
		check(t, "ForgetLimits", err)
		if n != 1 {
			t.Errorf("ForgetLimits two minutes later forgot %d keys, want 1 (the minute's)", n)
		}
		if n, _ := s.ForgetLimits(ctx, at(2*time.Minute)); n != 0 {
			t.Errorf("ForgetLimits again forgot %d", n)
		}
	}},
}
