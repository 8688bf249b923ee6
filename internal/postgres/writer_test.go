package postgres_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/postgres"
)

// A group that keeps losing (an op whose statement deadlocks at every try)
// fails that op only: the others of its group are stored after its
// retries, op by op.
func TestGroupThatKeepsLosingFailsOnlyTheLoser(t *testing.T) {
	s := MustOpenFresh(t, postgres.Options{Writers: 1})
	ctx := context.Background()
	if err := s.ExecInGroup(ctx, `CREATE TABLE kept (n int)`); err != nil {
		t.Fatal(err)
	}
	// The one writer is busy while the two ops queue: they make one group.
	busy := make(chan error)
	go func() { busy <- s.ExecInGroup(ctx, `SELECT pg_sleep(0.3)`) }()
	time.Sleep(100 * time.Millisecond)
	var wg sync.WaitGroup
	var loser, other error
	wg.Go(func() {
		loser = s.ExecInGroup(ctx, `DO $$ BEGIN RAISE EXCEPTION 'lost again' USING ERRCODE = '40P01'; END $$`)
	})
	wg.Go(func() { other = s.ExecInGroup(ctx, `INSERT INTO kept VALUES (1)`) })
	wg.Wait()
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
	if loser == nil || !strings.Contains(loser.Error(), "40P01") {
		t.Errorf("the op that deadlocks at every try: %v, want its deadlock", loser)
	}
	if other != nil {
		t.Errorf("the other op of its group: %v, want it stored", other)
	}
	if err := s.ExecInGroup(ctx, `DO $$ BEGIN IF (SELECT count(*) FROM kept) <> 1 THEN RAISE 'not kept'; END IF; END $$`); err != nil {
		t.Errorf("the other op's row: %v", err)
	}
}

// A statement that waits to go to the server with the next one fails its
// own op only, whichever statement it went with (another op's, or the
// group's end before COMMIT): the group runs again with savepoints and
// keeps the other ops' rows. The failures happen as the statements run:
// one in its arguments' check, one in its execution.
func TestPendingStatementFailsOnlyItsOp(t *testing.T) {
	s := MustOpenFresh(t, postgres.Options{Writers: 1})
	ctx := context.Background()
	if err := s.ExecInGroup(ctx, `CREATE TABLE kept (n int)`); err != nil {
		t.Fatal(err)
	}
	bads := []string{
		`INSERT INTO kept VALUES ('not a number')`,
		`INSERT INTO kept SELECT 1 / count(*)::int FROM kept WHERE false`, // division by zero, when it runs
	}
	for round := range 4 {
		bad := bads[round%2]
		readFirst := round >= 2 // then the pending ones go at the group's end
		var badErr, first, read error
		readOp := func() { read = s.ExecInGroup(ctx, `INSERT INTO kept VALUES (2)`) }
		ops := []func(){
			func() { badErr = s.LaterInGroup(ctx, bad) },
			func() { first = s.LaterInGroup(ctx, `INSERT INTO kept VALUES (1)`) },
		}
		if readFirst {
			ops = append([]func(){readOp}, ops...)
		} else {
			ops = append(ops, readOp)
		}
		inOneGroup(t, s, ops...)
		if badErr == nil {
			t.Errorf("round %d: the op whose statement fails (%s): no error", round, bad)
		}
		if first != nil || read != nil {
			t.Errorf("round %d: the other ops: %v and %v, want both stored", round, first, read)
		}
		check := `DO $$ BEGIN IF (SELECT count(*) FROM kept WHERE n = 1) <> ` + strconv.Itoa(round+1) +
			` OR (SELECT count(*) FROM kept WHERE n = 2) <> ` + strconv.Itoa(round+1) + ` THEN RAISE 'not kept'; END IF; END $$`
		if err := s.ExecInGroup(ctx, check); err != nil {
			t.Errorf("round %d: the other ops' rows: %v", round, err)
		}
	}
}

// Ops that bet on a pending statement's result (an outcome's quiet update
// moving its message) are applied once each, whether the bets hold or one
// is lost, and whether another op's statement or the group's end brings
// the result back: a lost bet runs the group again without bets, its op
// taking its other path, with no op's statement applied twice or lost, and
// without the savepoint pass (a lost bet is no failure).
func TestBetsOnPendingResults(t *testing.T) {
	s := MustOpenFresh(t, postgres.Options{Writers: 1})
	ctx := context.Background()
	if err := s.ExecInGroup(ctx, `CREATE TABLE kept (n int)`); err != nil {
		t.Fatal(err)
	}
	if err := s.ExecInGroup(ctx, `INSERT INTO kept VALUES (1), (2)`); err != nil {
		t.Fatal(err)
	}
	for round, tc := range []struct{ lose, readFirst bool }{{false, false}, {true, false}, {true, true}, {false, true}} {
		s.ResumeBets()
		placed, lost, safe := s.Bets()
		// One group: a bet that holds, a bet lost in rounds 1 and 2 (its
		// update finds no row, so it inserts 5), and an op that reads its
		// result, after the bets or before them.
		var held, other, read error
		second := `UPDATE kept SET n = n + 10 WHERE n % 10 = 2`
		if tc.lose {
			second = `UPDATE kept SET n = n + 10 WHERE n = 999`
		}
		ops := []func(){
			func() { held = s.BetInGroup(ctx, `UPDATE kept SET n = n + 10 WHERE n % 10 = 1`, `SELECT 1`) },
			func() { other = s.BetInGroup(ctx, second, `INSERT INTO kept VALUES (5)`) },
		}
		readOp := func() { read = s.ExecInGroup(ctx, `INSERT INTO kept VALUES (7)`) }
		if tc.readFirst {
			ops = append([]func(){readOp}, ops...)
		} else {
			ops = append(ops, readOp)
		}
		inOneGroup(t, s, ops...)
		if held != nil || other != nil || read != nil {
			t.Fatalf("round %d: %v, %v, %v; want every op stored", round, held, other, read)
		}
		placed2, lost2, safe2 := s.Bets()
		wantLost := uint64(0)
		if tc.lose {
			wantLost = 1
		}
		if placed2-placed != 2 || lost2-lost != wantLost || safe2 != safe {
			t.Errorf("round %d: %d bets placed, %d lost, %d savepoint passes; want 2, %d, 0",
				round, placed2-placed, lost2-lost, safe2-safe, wantLost)
		}
	}
	// n = 1 moved in every round (41); n = 2 in rounds 0 and 3 (22); 5
	// inserted in rounds 1 and 2; 7 once a round.
	check := `DO $$ BEGIN IF (SELECT array_agg(n ORDER BY n) FROM kept) <> ARRAY[5, 5, 7, 7, 7, 7, 22, 41] THEN
		RAISE 'kept: %', (SELECT array_agg(n ORDER BY n) FROM kept); END IF; END $$`
	if err := s.ExecInGroup(ctx, check); err != nil {
		t.Error(err)
	}
}

// inOneGroup runs ops so that they make one group: they queue in order,
// 20 ms apart, while the one writer is busy.
func inOneGroup(t *testing.T, s *postgres.Store, ops ...func()) {
	t.Helper()
	busy := make(chan error)
	go func() { busy <- s.ExecInGroup(context.Background(), `SELECT pg_sleep(0.2)`) }()
	time.Sleep(50 * time.Millisecond)
	var wg sync.WaitGroup
	for _, op := range ops {
		wg.Go(op)
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
}
