package dispatch

import (
	"context"
	"testing"
	"time"
)

type orphanStore struct{ before time.Time }

func (s *orphanStore) ForgetOrphanReceipts(_ context.Context, before time.Time) (int, error) {
	s.before = before
	return 0, nil
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

func TestOrphanForgetter(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	st := &orphanStore{}
	l := OrphanForgetter(st, fixedClock(now), nil)
	if l.Every != time.Minute {
		t.Errorf("every %s, want a minute", l.Every)
	}
	if err := l.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-time.Hour); !st.before.Equal(want) {
		t.Errorf("forgot receipts before %s, want %s (an hour ago)", st.before, want)
	}
}
