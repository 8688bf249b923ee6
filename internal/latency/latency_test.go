package latency

import (
	"context"
	"testing"
	"time"
)

type record map[Stage][]time.Duration

func (r record) ObserveStage(s Stage, d time.Duration) { r[s] = append(r[s], d) }

func TestSpanObservesEachStageOnceInOrder(t *testing.T) {
	rec := record{}
	t0 := time.Unix(1000, 0)
	ctx := Start(context.Background(), rec, t0)
	s := From(ctx)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	s.At(Request, ms(1))
	s.At(Policies, ms(3))
	s.At(StoreWait, ms(4))
	s.At(StoreWrite, ms(6))
	s.At(Commit, ms(10))
	s.At(StoreWait, ms(11)) // composed again after a conflict: ignored
	s.At(Handoff, ms(12))
	s.At(Connector, ms(13))
	s.At(SubmitResp, ms(20))
	s.At(Connector, ms(21)) // a second part: ignored
	s.At(SubmitResp, ms(25))
	want := map[Stage]time.Duration{Request: 1, Policies: 2, StoreWait: 1, StoreWrite: 2, Commit: 4, Handoff: 2, Connector: 1, SubmitResp: 7, Total: 20}
	for st, d := range want {
		if got := rec[st]; len(got) != 1 || got[0] != d*time.Millisecond {
			t.Errorf("%s: observed %v, want [%v]", st, got, d*time.Millisecond)
		}
	}
	if len(rec) != len(want) {
		t.Errorf("observed %d stages, want %d: %v", len(rec), len(want), rec)
	}
}

func TestSkippedStagesCountInTheNext(t *testing.T) {
	rec := record{}
	t0 := time.Unix(1000, 0)
	s := From(Start(context.Background(), rec, t0))
	s.At(Request, t0.Add(time.Millisecond))
	s.At(Policies, t0.Add(2*time.Millisecond))
	s.At(Commit, t0.Add(5*time.Millisecond)) // a store that tells only its commit's end
	s.At(Handoff, t0.Add(6*time.Millisecond))
	s.At(SubmitResp, t0.Add(9*time.Millisecond)) // a connector that does not mark its own
	for st, d := range map[Stage]time.Duration{Commit: 3, SubmitResp: 3, Total: 9} {
		if got := rec[st]; len(got) != 1 || got[0] != d*time.Millisecond {
			t.Errorf("%s: %v, want [%v]", st, got, d*time.Millisecond)
		}
	}
	if len(rec[Connector]) != 0 {
		t.Errorf("connector observed %v", rec[Connector])
	}
}

func TestNoSpanCostsNothing(t *testing.T) {
	ctx := context.Background()
	if Start(ctx, nil, time.Now()) != ctx {
		t.Error("Start with no observer made a new context")
	}
	var s *Span = From(ctx)
	s.Mark(Request) // must not panic
	if n := testing.AllocsPerRun(100, func() { From(ctx).Mark(Policies) }); n != 0 {
		t.Errorf("marking without a span allocates %v times", n)
	}
}

func TestOnlyTheSendsOwnStoreWorkIsTimed(t *testing.T) {
	rec := record{}
	t0 := time.Unix(1000, 0)
	s := From(Start(context.Background(), rec, t0))
	s.At(StoreWait, t0.Add(time.Millisecond)) // a check's write: no send yet
	s.At(Commit, t0.Add(2*time.Millisecond))
	if len(rec) != 0 {
		t.Fatalf("a request that has not reached the pipeline observed %v", rec)
	}
	s.At(Request, t0.Add(3*time.Millisecond))
	s.At(StoreWait, t0.Add(4*time.Millisecond)) // composing the code reads and writes
	s.At(Commit, t0.Add(5*time.Millisecond))
	s.At(Policies, t0.Add(6*time.Millisecond))
	s.At(StoreWait, t0.Add(7*time.Millisecond))
	s.At(StoreWrite, t0.Add(8*time.Millisecond))
	s.At(Commit, t0.Add(10*time.Millisecond))
	want := map[Stage]time.Duration{Request: 3, Policies: 3, StoreWait: 1, StoreWrite: 1, Commit: 2}
	for st, d := range want {
		if got := rec[st]; len(got) != 1 || got[0] != d*time.Millisecond {
			t.Errorf("%s: observed %v, want [%v]", st, got, d*time.Millisecond)
		}
	}
}
