package sandbox

import (
	"context"
	"testing"
	"time"
)

type forgetStore struct{ before time.Time }

func (s *forgetStore) ForgetSandbox(_ context.Context, before time.Time) (int, error) {
	s.before = before
	return 0, nil
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// The forgetter runs every minute and forgets what is older than keep, a
// day when keep is not set.
func TestForgetter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		keep time.Duration
		want time.Time
	}{
		{"keep set", time.Hour, now.Add(-time.Hour)},
		{"keep unset", 0, now.Add(-24 * time.Hour)},
		{"keep negative", -time.Hour, now.Add(-24 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &forgetStore{}
			l := Forgetter(st, tc.keep, fixedClock(now), nil)
			if l.Every != time.Minute {
				t.Errorf("every %s, want a minute", l.Every)
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
