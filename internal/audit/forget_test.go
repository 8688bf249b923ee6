package audit

import (
	"context"
	"testing"
	"time"
)

type forgetStore struct{ before time.Time }

func (s *forgetStore) ForgetAudit(_ context.Context, before time.Time) (int, error) {
	s.before = before
	return 0, nil
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// The forgetter runs every hour and forgets what is older than keep, 90
// days when keep is not set.
func TestForgetter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		keep time.Duration
		want time.Time
	}{
		{"keep set", 100 * 24 * time.Hour, now.Add(-100 * 24 * time.Hour)},
		{"keep unset", 0, now.Add(-MinKeep)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &forgetStore{}
			l := Forgetter(st, tc.keep, fixedClock(now), nil)
			if l.Every != time.Hour {
				t.Errorf("every %s, want an hour", l.Every)
			}
			if err := l.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !st.before.Equal(tc.want) {
				t.Errorf("forgot before %s, want %s", st.before, tc.want)
			}
		})
	}
}
